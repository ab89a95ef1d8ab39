"""`python -m MODULE ARGS` as a real process, forked from one that has already imported it.

`python -m service.ops` spends about 0.3-0.5 s of CPU importing redis.asyncio and pydantic
before it reads its arguments, and the ops tests start it about 70 times. A preloader process
imports those modules once; each run is a fork of it with its own argv, environment, working
directory, stdin (/dev/null), stdout, stderr and exit status, and the interpreter's usual exit
(atexit, flushing), so no state passes from one run to the next: each run is still its own
process, started from an interpreter that has already done the imports.

Run as `python -m testkit.forked MODULE...`: preload MODULEs, then serve one request per line
on stdin (JSON: module, args, env, cwd, stdout and stderr paths); for each, print the child's
pid, then its exit status (negative: killed by that signal), as `subprocess` reports it.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import runpy
import select
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

ROOT = Path(__file__).resolve().parents[1]


class Request(TypedDict):
    module: str
    args: list[str]
    env: dict[str, str]
    cwd: str
    stdout: str
    stderr: str


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()


class Preloader:
    """A preloader process for `preload` (started on first use, stopped by `close`)."""

    def __init__(self, preload: Sequence[str]) -> None:
        self.preload = tuple(preload)
        self._proc: subprocess.Popen[bytes] | None = None

    def _started(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "testkit.forked", *self.preload],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
            )
        return self._proc

    def run(
        self,
        module: str,
        args: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path = ROOT,
        timeout_s: float = 30.0,
    ) -> Run:
        """Like `subprocess.run([python, "-m", module, *args], env=env, cwd=cwd, text=True,
        capture_output=True, timeout=timeout_s)`; raises `subprocess.TimeoutExpired` after
        killing the run's process group."""
        proc = self._started()
        assert proc.stdin is not None
        assert proc.stdout is not None
        with tempfile.TemporaryDirectory(prefix="forked.") as tmp:
            out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
            request: Request = {
                "module": module,
                "args": list(args),
                "env": dict(env),
                "cwd": str(cwd),
                "stdout": str(out),
                "stderr": str(err),
            }
            proc.stdin.write(json.dumps(request).encode() + b"\n")
            proc.stdin.flush()
            pid = _number(proc.stdout.readline())
            ready, _, _ = select.select([proc.stdout], [], [], timeout_s)
            if not ready:
                os.killpg(pid, signal.SIGKILL)
                proc.stdout.readline()  # its status, now that it is gone
                raise subprocess.TimeoutExpired([module, *args], timeout_s)
            returncode = _number(proc.stdout.readline())
            return Run(returncode, _text(out), _text(err))

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()  # the preloader exits at the end of its input
            self._proc.wait(timeout=10)
        self._proc = None


def _number(line: bytes) -> int:
    if not line:  # its stderr, the test's, says why
        raise RuntimeError("the preloader (testkit/forked.py) exited")
    return int(line)


def _text(path: Path) -> str:
    """As `subprocess.run(text=True)` decodes: the locale's encoding, universal newlines."""
    return path.read_text(errors="replace") if path.exists() else ""


def _child(request: Request) -> None:
    """In the forked child: become `python -m MODULE ARGS` and run; never returns."""
    os.setpgid(0, 0)  # its own group, so a timeout kills whatever it started too
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(target, fd)
        os.close(target)
    os.close(null)
    sys.path[0] = request["cwd"]  # as `python -m` puts its working directory first
    sys.argv = ["-m", *request["args"]]
    # SystemExit and uncaught exceptions leave through the interpreter's usual exit: the
    # status, the traceback on stderr, atexit handlers and flushed streams as in a new process.
    runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
    sys.exit(0)


def serve(preload: Sequence[str]) -> None:
    for name in preload:
        importlib.import_module(name)
    for line in sys.stdin.buffer:
        request: Request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        # Also here, so a kill right after the pid is printed finds the group; the child may
        # have made it already.
        with contextlib.suppress(OSError):
            os.setpgid(pid, pid)
        os.write(1, f"{pid}\n".encode())
        _, status = os.waitpid(pid, 0)
        os.write(1, f"{os.waitstatus_to_exitcode(status)}\n".encode())


if __name__ == "__main__":
    serve(sys.argv[1:])
