"""The rehearsal's AWS emulator (`python -m tools.rehearsal.emulator`, what `make up` starts) as
a test fixture's context manager: a fresh one on a free port, stopped afterwards."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from tools.rehearsal.processes import free_port, http_ok

ROOT = Path(__file__).resolve().parents[1]
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# How long the emulator may take to answer after it was started, in seconds.
EMULATOR_START_TIMEOUT_S = 30.0


@contextlib.contextmanager
def running_emulator(folder: Path, env: Mapping[str, str] | None = None) -> Iterator[str]:
    """Its endpoint URL; its log in `folder`, `env` added to this process's environment."""
    port = free_port()
    with (folder / "emulator.log").open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tools.rehearsal.emulator", "-H", "127.0.0.1", "-p", str(port)],
            cwd=ROOT,
            env={**os.environ, **DUMMY_CREDENTIALS, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        # `localhost`, not 127.0.0.1, as the rehearsal addresses it.
        endpoint = f"http://localhost:{port}"
        try:
            deadline = time.monotonic() + EMULATOR_START_TIMEOUT_S
            while not http_ok(f"{endpoint}/moto-api/"):
                assert proc.poll() is None, "the emulator exited at start"
                assert time.monotonic() < deadline, "the emulator did not answer"
                time.sleep(0.05)
            yield endpoint
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
