"""A hung database under the compose Postgres: `docker pause` of the postgres container (its
connections stay open, nothing answers: what a frozen database host looks like).

GIVEN docker-compose.yml with the Postgres override, up as the targets page says, and an app
instance with short TTLs (2 s) and CACHE_STALE_IF_ERROR_S=6 WHEN postgres is paused THEN a
portfolio cached before answers 200 with its body (HIT while fresh, then `X-Cache: STALE` with
Age and Cache-Control), a read never cached answers 503 with Retry-After, every answer within a
second, and past the bound the cached one answers 503 too; WHEN postgres is unpaused THEN fresh
answers are back within 5 s.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker.errors
import httpx
import pytest

from testkit.compose import BASE_FILE, POSTGRES_FILE, SERVICE_LABEL, Compose
from testkit.containers import exec_text, label_filter, wait_http
from testkit.servers import free_port
from tools.containers.engine import Engine
from tools.containers.images import Built

pytestmark = pytest.mark.containers
TTL_S = 2
STALE_S = 6
ANSWER_GOAL_S = 1.0
RECOVERY_GOAL_S = 5.0
CACHED = "/api/portfolio/1"
NEVER_CACHED = "/api/dashboard/1"
APP_PORT_IN_CONTAINER = 8000
PAUSE_ATTEMPTS = 3


@pytest.fixture
def pg_compose(
    docker_engine: Engine,
    container_images: dict[str, Built],
    postgres_container_image: Built,
    tmp_path: Path,
) -> Iterator[Compose]:
    password = uuid.uuid4().hex
    runner = Compose(
        docker_engine,
        {**container_images, "postgres": postgres_container_image},
        tmp_path,
        files=(BASE_FILE, POSTGRES_FILE),
        env_file={
            "POSTGRES_PASSWORD": password,
            "DATABASE_URL": "postgresql://fyntrix:${POSTGRES_PASSWORD}@postgres:5432/fyntrix",
        },
    )
    yield runner
    runner.remove()


def _container(compose: Compose, name: str) -> Any:
    selector = label_filter(f"{SERVICE_LABEL}={name}")
    found = [
        c
        for c in compose.engine.client.containers.list(filters=selector)
        if c.labels.get("com.docker.compose.project") == compose.project
    ]
    assert len(found) == 1, found
    return found[0]


def _timed_get(base: str, path: str, auth: dict[str, str]) -> tuple[httpx.Response, float]:
    start = time.perf_counter()
    response = httpx.get(f"{base}{path}", headers=auth, timeout=10)
    return response, time.perf_counter() - start


def _pause(container: Any) -> None:
    """`docker pause`, again when the engine could not freeze every process in time (the
    cgroup freezer gives up on a busy host and thaws: the container was never paused)."""
    for attempt in range(1, PAUSE_ATTEMPTS + 1):
        try:
            container.pause()
            return
        except docker.errors.APIError as exc:
            if "unable to freeze" not in str(exc) or attempt == PAUSE_ATTEMPTS:
                raise
            time.sleep(0.5)


def _log_tail(container: Any) -> str:
    """The instance's log without its metric records: what it said while a request hung."""
    lines = container.logs(timestamps=True).decode(errors="replace").splitlines()
    return "\n".join(line for line in lines if '"_aws"' not in line)[-4000:]


def _instance(compose: Compose) -> tuple[str, dict[str, str], Any]:
    """A second app instance with short TTLs and the bound: its base URL, a token and its
    container."""
    port = free_port()
    run = compose(
        *("run", "-d", "--no-deps", "-p", f"127.0.0.1:{port}:{APP_PORT_IN_CONTAINER}"),
        *("-e", f"CACHE_TTL_PORTFOLIO_S={TTL_S}", "-e", f"CACHE_TTL_DASHBOARD_S={TTL_S}"),
        *("-e", f"CACHE_STALE_IF_ERROR_S={STALE_S}", "-e", "CACHE_L1_TTL_MS=500", "app"),
    )
    assert run.returncode == 0, run.stdout + run.stderr
    container = compose.engine.client.containers.get(run.stdout.strip().splitlines()[-1])
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/health")
    code, token = exec_text(container, ["python", "-m", "service.ops", "token", "--user", "1"])
    assert code == 0, token
    return base, {"Authorization": f"Bearer {token.strip()}"}, container


def test_a_paused_postgres_answers_stale_then_503_then_fresh(pg_compose: Compose) -> None:
    compose = pg_compose
    up = compose("up", "-d")
    assert up.returncode == 0, up.stdout + up.stderr
    compose.wait_all_healthy()
    base, auth, instance = _instance(compose)
    deadline = time.monotonic() + 30
    while (first := httpx.get(f"{base}{CACHED}", headers=auth, timeout=10)).status_code != 200:
        assert time.monotonic() < deadline, first.text  # the listener's first sync
        time.sleep(0.2)
    before = first.content

    postgres = _container(compose, "postgres")
    _pause(postgres)
    paused = time.monotonic()
    seen: list[str] = []
    slowest_s = 0.0
    try:
        while time.monotonic() - paused < TTL_S + STALE_S - 1:
            cached, took = _timed_get(base, CACHED, auth)
            slowest_s = max(slowest_s, took)
            assert (cached.status_code, cached.content) == (200, before), cached.text
            seen.append(cached.headers["x-cache"])
            if cached.headers["x-cache"] == "STALE":
                assert cached.headers["cache-control"] == f"max-age=0, stale-if-error={STALE_S}"
                assert int(cached.headers["age"]) <= TTL_S + STALE_S + 1
            never, took = _timed_get(base, NEVER_CACHED, auth)
            slowest_s = max(slowest_s, took)
            assert never.status_code == 503, never.text
            assert int(never.headers["retry-after"]) >= 1
            time.sleep(0.2)
        time.sleep(max(0.0, paused + TTL_S + STALE_S + 1 - time.monotonic()))
        late, took = _timed_get(base, CACHED, auth)
        slowest_s = max(slowest_s, took)
        assert late.status_code == 503, late.text  # past the bound
    except httpx.TimeoutException as exc:
        said = _log_tail(instance)
        raise AssertionError(f"an answer hung ({exc!r}); the instance said:\n{said}") from exc
    finally:
        postgres.unpause()
    back = time.monotonic()
    assert "STALE" in seen, seen
    assert slowest_s < ANSWER_GOAL_S
    while True:
        fresh, _ = _timed_get(base, CACHED, auth)
        if fresh.status_code == 200 and fresh.headers["x-cache"] != "STALE":
            break
        assert time.monotonic() - back < RECOVERY_GOAL_S, fresh.text
        time.sleep(0.1)
    assert fresh.content == before
