"""A Redis crash under load, in the synthesized task run as ECS runs it (tools/containers).

GIVEN the dev stage's task definition, its containers running, watched as the ECS agent watches
them (restart policies, essential containers: tools/containers/supervisor.py)
WHEN the redis container is killed while the app serves reads
THEN with the task definition's restart policy redis is restarted inside the same task: no read
fails, the app answers BYPASS (from the source) while redis is down, MISS then HIT once it is
back, and the app container is never replaced; without a restart policy, or when redis dies
before it ran its restartAttemptPeriod, the whole task stops, as Fargate stops it.

The synthesized period is ECS's minimum, 60 s. The runner honours whatever the definition says,
so the restart test gives redis a 2 s period (a copy of the definition) instead of waiting a
minute before the kill; tests/containers/test_restart_rules.py and the third test below check
that a period not yet run is honoured too. The restart test also turns the app's in-process L1
off (CACHE_L1_TTL_MS=1): every read then goes to Redis, so the outage is seen by the reads it
is about, however quickly the restart comes.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from testkit.servers import free_port
from tests.containers.conftest import spec_for, with_container
from tools.containers.engine import Engine
from tools.containers.images import Built
from tools.containers.supervisor import ESSENTIAL_EXITED, TaskSupervisor, ran_seconds
from tools.containers.task import RunningTask, mint_token, remove_task, run_task

pytestmark = pytest.mark.containers
# The restart period the restart test gives redis, in seconds (ECS's minimum is 60).
SHORT_PERIOD_S = 2


@dataclass
class Reads:
    """GET /api/portfolio/1 in a loop: (seconds since start, status or error, X-Cache)."""

    url: str
    token: str
    seen: list[tuple[float, str, str]] = field(default_factory=list)
    _halt: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        started = time.monotonic()
        with httpx.Client(timeout=10) as client:
            while not self._halt.is_set():
                try:
                    answer = client.get(self.url, headers={"Authorization": f"Bearer {self.token}"})
                    outcome = (str(answer.status_code), answer.headers.get("x-cache", "-"))
                except httpx.HTTPError as exc:
                    outcome = (exc.__class__.__name__, "-")
                self.seen.append((time.monotonic() - started, *outcome))
                time.sleep(0.02)

    def until(self, status: str, after_s: float, timeout_s: float) -> float:
        """Seconds (reader clock) of the first read answering `status` after `after_s`."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = [t for t, _, cache in list(self.seen) if t > after_s and cache == status]
            if found:
                return found[0]
            time.sleep(0.05)
        raise AssertionError(f"no {status} after {after_s:.1f} s: {self.seen[-20:]}")

    def stop(self) -> None:
        self._halt.set()

    def now(self) -> float:
        return self.seen[-1][0] if self.seen else 0.0


@dataclass
class Running:
    task: RunningTask
    supervisor: TaskSupervisor
    url: str


@pytest.fixture
def start_task(
    docker_engine: Engine,
    container_images: dict[str, Built],
) -> Iterator[Any]:
    made: list[Running] = []

    def start(definition: dict[str, Any], app_env: dict[str, str] | None = None) -> Running:
        port = free_port()
        spec = spec_for(definition, container_images, port)
        if app_env:
            app = {**spec.environment_overrides["app"], **app_env}
            spec = dataclasses.replace(spec, environment_overrides={"app": app})
        task = run_task(docker_engine.client, spec, say=lambda m: print(m, file=sys.stderr))
        watcher = TaskSupervisor(
            docker_engine.client, task, say=lambda m: print(f"[agent] {m}", file=sys.stderr)
        ).start()
        made.append(Running(task, watcher, f"http://127.0.0.1:{port}/api/portfolio/1"))
        return made[-1]

    yield start
    for running in made:
        running.supervisor.halt()
        remove_task(docker_engine.client, running.task.spec.task_id)


def attrs(running: Running, name: str) -> dict[str, Any]:
    container = running.task.containers[name]
    container.reload()
    return dict(container.attrs)


def wait_until_ran(running: Running, name: str, seconds: float) -> None:
    """Until `name` has run `seconds` since it started (engine clock)."""
    while True:
        state = attrs(running, name)["State"]
        now = {**state, "FinishedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        if ran_seconds(now) >= seconds + 1:
            return
        time.sleep(0.2)


def test_a_redis_crash_restarts_redis_in_the_task_while_the_app_serves(
    start_task: Any, task_definition: dict[str, Any]
) -> None:
    policy = {"enabled": True, "restartAttemptPeriod": SHORT_PERIOD_S}
    running = start_task(
        with_container(task_definition, "redis", restartPolicy=policy),
        app_env={"CACHE_L1_TTL_MS": "1"},
    )
    app_before, redis_before = attrs(running, "app"), attrs(running, "redis")
    reads = Reads(running.url, mint_token(running.task.containers["app"]))
    reader = threading.Thread(target=reads.run, daemon=True)
    reader.start()
    try:
        reads.until("HIT", after_s=0.0, timeout_s=30)
        wait_until_ran(running, "redis", SHORT_PERIOD_S)
        killed_at = reads.now()
        running.task.containers["redis"].kill()  # SIGKILL, as `docker kill`: exit 137
        bypass_at = reads.until("BYPASS", after_s=killed_at, timeout_s=30)
        status = running.supervisor.wait_for(
            lambda s: s.containers["redis"].restart_count == 1, timeout_s=30
        )
        miss_at = reads.until("MISS", after_s=bypass_at, timeout_s=60)
        hit_at = reads.until("HIT", after_s=miss_at, timeout_s=30)
    finally:
        reads.stop()
        reader.join(timeout=30)
    print(f"kill {killed_at:.2f} s, BYPASS {bypass_at:.2f}, MISS {miss_at:.2f}, HIT {hit_at:.2f}")
    failed = [r for r in reads.seen if r[1] != "200"]
    assert failed == [], failed[:10]  # no 5xx, no refused connection: the app kept serving
    assert (status.last_status, status.containers["redis"].last_exit_code) == ("RUNNING", 137)
    assert status.containers["app"].restart_count == 0
    app_after, redis_after = attrs(running, "app"), attrs(running, "redis")
    # The same task: the app was never stopped, redis restarted in place (same container,
    # same network namespace), healthy again.
    assert app_after["Id"] == app_before["Id"]
    assert app_after["State"]["StartedAt"] == app_before["State"]["StartedAt"]
    assert app_after["State"]["Running"] is True
    assert redis_after["Id"] == redis_before["Id"]
    assert redis_after["State"]["StartedAt"] != redis_before["State"]["StartedAt"]
    assert redis_after["HostConfig"]["NetworkMode"] == redis_before["HostConfig"]["NetworkMode"]


@pytest.mark.parametrize(
    "restart_policy",
    [
        pytest.param(None, id="no-restart-policy"),
        pytest.param({"enabled": True, "restartAttemptPeriod": 3600}, id="within-the-period"),
    ],
)
def test_an_essential_container_that_is_not_restarted_stops_the_whole_task(
    start_task: Any, task_definition: dict[str, Any], restart_policy: dict[str, Any] | None
) -> None:
    running = start_task(with_container(task_definition, "redis", restartPolicy=restart_policy))
    running.task.containers["redis"].kill()
    status = running.supervisor.wait_for(lambda s: s.last_status == "STOPPED", timeout_s=60)
    assert status.stopped_reason == ESSENTIAL_EXITED
    assert status.containers["redis"].restart_count == 0
    # Every other container was stopped within its stopTimeout (SIGTERM: the app exits 0).
    stopped = {s.name: s for s in running.supervisor.stopped}
    assert stopped["app"].exit_code == 0 and stopped["app"].took_s < stopped["app"].stop_timeout_s
    for name in ("app", "redis", "pause"):
        assert attrs(running, name)["State"]["Running"] is False, name
    with pytest.raises(httpx.HTTPError):
        httpx.get(running.url, timeout=2)
