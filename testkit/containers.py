"""Real containers for tests: a Docker engine (found, or started for the session and stopped
after) and the two images, built once per session (stand-in bases cached across runs).

Fixtures (registered from tests/conftest.py):
    docker_engine -> Engine                    session scope
    container_images -> dict[str, Built]       session scope: {"app": ..., "redis": ...}
    postgres_container_image -> Built          session scope: POSTGRES_IMAGE (or its stand-in)
    containers -> Containers                   function scope: run/network, removed after

No engine and none can be started: the tests skip, or fail under CI=true.

Under pytest-xdist every worker has its own session: the engine is started under a file lock by
the first worker that needs it (the others find it), images are built under a lock (the first
worker builds, the others then find Docker's cache), and the engine the tests started is stopped
by the process that owns the run (xdist's controller, or the only process) when it finishes.
The container tier's wall time is printed at the end, apart from the rest of the suite.
"""

from __future__ import annotations

import contextlib
import fcntl
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
from tools.containers.images import (
    APP,
    REDIS,
    Built,
    build_images,
    postgres_image,
    write_report,
)

ROOT = Path(__file__).resolve().parents[1]
# The same run folder as `make up`: a daemon it started is reused, and so are its images.
RUN_DIR = Path(os.environ.get("RUN_DIR") or ROOT / ".run").resolve()


# Written when the tests started the engine: the pid of the process that owns the run.
STARTED_MARK = RUN_DIR / "docker-started-by-tests"
_TIER: dict[str, float] = {}


@contextlib.contextmanager
def _file_lock(name: str) -> Iterator[None]:
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    with (RUN_DIR / name).open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _run_owner_pid() -> int:
    # An xdist worker is a child of the controller; without xdist this process owns the run.
    return os.getppid() if os.environ.get("PYTEST_XDIST_WORKER") else os.getpid()


@pytest.fixture(scope="session")
def docker_engine() -> Engine:
    try:
        with _file_lock("docker-engine.lock"):
            engine = ensure_engine(RUN_DIR)
            if engine.started_now:
                STARTED_MARK.write_text(str(_run_owner_pid()))
    except EngineError as exc:
        missing_binary(f"a Docker engine ({exc})")
    return engine


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop the engine the tests started, once, in the process that owns the run."""
    if os.environ.get("PYTEST_XDIST_WORKER") or not STARTED_MARK.exists():
        return
    if STARTED_MARK.read_text().strip() == str(os.getpid()):
        stop_own_engine(RUN_DIR)
        STARTED_MARK.unlink(missing_ok=True)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.nodeid.startswith("tests/containers/"):
        _TIER["start"] = min(_TIER.get("start", report.start), report.start)
        _TIER["stop"] = max(_TIER.get("stop", report.stop), report.stop)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if "start" in _TIER:
        terminalreporter.write_line(
            f"container tier: {_TIER['stop'] - _TIER['start']:.1f} s wall time, from the first "
            "container test's setup (image builds included) to the last one's teardown"
        )


@pytest.fixture(scope="session")
def container_images(docker_engine: Engine) -> dict[str, Built]:
    def say(message: str) -> None:
        print(f"[images] {message}", file=sys.stderr, flush=True)

    with _file_lock("docker-build.lock"):
        built = build_images(docker_engine.client, environ=dict(os.environ), say=say)
        write_report(RUN_DIR / "images.json", built)
    by_tag = {b.tag: b for b in built}
    return {"app": by_tag[APP.tag], "redis": by_tag[REDIS.tag]}


@pytest.fixture(scope="session")
def postgres_container_image(docker_engine: Engine) -> Built:
    """docker-compose.postgres.yml's image; a lock of its own: it is made while another
    worker builds the app's."""

    def say(message: str) -> None:
        print(f"[images] {message}", file=sys.stderr, flush=True)

    with _file_lock("docker-postgres.lock"):
        return postgres_image(docker_engine.client, environ=dict(os.environ), say=say)


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


# The Docker SDK's filter mapping type (its stubs want exactly this value type).
Filters = dict[str, str | list[str] | bool]


def label_filter(label: str) -> Filters:
    return {"label": label}


def exec_text(container: Container, argv: list[str], user: str = "") -> tuple[int, str]:
    """Run `argv` in the container (exec form, no shell): (exit code, output as text)."""
    code, out = container.exec_run(argv, user=user, stream=False)
    text = out.decode(errors="replace") if isinstance(out, bytes) else ""
    return int(code or 0), text
