"""Real containers for tests: a Docker engine (found, or started for the session and stopped
after) and the two images, built once per session (stand-in bases cached across runs).

Fixtures (registered from tests/conftest.py):
    docker_engine -> Engine                    session scope
    container_images -> dict[str, Built]       session scope: {"app": ..., "redis": ...}

No engine and none can be started: the tests skip, or fail under CI=true.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from testkit.servers import missing_binary
from tools.containers.engine import Engine, EngineError, ensure_engine, stop_own_engine
from tools.containers.images import APP, REDIS, Built, build_images, write_report

ROOT = Path(__file__).resolve().parents[1]
# The same run folder as `make up`: a daemon it started is reused, and so are its images.
RUN_DIR = Path(os.environ.get("RUN_DIR") or ROOT / ".run").resolve()


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[Engine]:
    try:
        engine = ensure_engine(RUN_DIR)
    except EngineError as exc:
        missing_binary(f"a Docker engine ({exc})")
    yield engine
    if engine.started_now:
        stop_own_engine(RUN_DIR)


@pytest.fixture(scope="session")
def container_images(docker_engine: Engine) -> dict[str, Built]:
    def say(message: str) -> None:
        print(f"[images] {message}", file=sys.stderr, flush=True)

    built = build_images(docker_engine.client, environ=dict(os.environ), say=say)
    write_report(RUN_DIR / "images.json", built)
    by_tag = {b.tag: b for b in built}
    return {"app": by_tag[APP.tag], "redis": by_tag[REDIS.tag]}
