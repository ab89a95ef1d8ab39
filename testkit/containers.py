"""Real containers for tests: a Docker engine (found, or started for the session and stopped
after) and the two images, built once per session (stand-in bases cached across runs).

Fixtures (registered from tests/conftest.py):
    docker_engine -> Engine                    session scope
    container_images -> dict[str, Built]       session scope: {"app": ..., "redis": ...}
    containers -> Containers                   function scope: run/network, removed after

No engine and none can be started: the tests skip, or fail under CI=true.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from docker.errors import NotFound
from docker.models.containers import Container
from docker.models.networks import Network

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


# Every container and network a test makes carries this label; the factory removes them.
TEST_LABEL = "dev.fyntrix.test"


class Containers:
    """Run containers and networks for one test; everything is removed afterwards."""

    def __init__(self, engine: Engine) -> None:
        self.client = engine.client
        self.made: list[Any] = []

    def run(self, image: str, **kwargs: Any) -> Container:
        kwargs.setdefault("detach", True)
        kwargs["labels"] = {**kwargs.get("labels", {}), TEST_LABEL: "1"}
        container: Container = self.client.containers.run(image, **kwargs)
        self.made.append(container)
        return container

    def network(self, name: str) -> Network:
        network: Network = self.client.networks.create(name, labels={TEST_LABEL: "1"})
        self.made.append(network)
        return network

    def cleanup(self) -> None:
        for thing in reversed(self.made):
            with contextlib.suppress(NotFound):
                if isinstance(thing, Container):
                    thing.remove(force=True, v=True)
                else:
                    thing.remove()


@pytest.fixture
def containers(docker_engine: Engine) -> Iterator[Containers]:
    made = Containers(docker_engine)
    yield made
    made.cleanup()


def wait_healthy(container: Container, timeout_s: float = 120.0) -> float:
    """Seconds until the container's health check passes; fails with its logs otherwise."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        container.reload()
        state = container.attrs["State"]
        if state.get("Health", {}).get("Status") == "healthy":
            return time.monotonic() - started
        if state["Status"] == "exited":
            break
        time.sleep(0.2)
    logs = container.logs(tail=20).decode(errors="replace")
    raise AssertionError(f"{container.name} not healthy ({container.status}):\n{logs}")


def wait_http(url: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code < 500:
                return
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout_s:.0f} s")
