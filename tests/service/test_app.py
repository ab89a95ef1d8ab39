"""The assembled app (service/app.py): lifespan, and surviving Redis and Postgres outages."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable

import httpx
import pytest

from testkit.servers import PostgresCluster, RedisServer
from testkit.service import RunningApp, service_settings
from tests.service.conftest import AppFactory

PATHS = (
    [f"/api/portfolio/{u}" for u in range(1, 6)]
    + [f"/api/dashboard/{u}" for u in range(1, 6)]
    + ["/api/top-picks?limit=3", "/api/top-picks?limit=10"]
)


async def wait_for_hit(client: httpx.AsyncClient, path: str, timeout_s: float = 5.0) -> float:
    """Seconds until `path` is served from the cache again (fails after `timeout_s`)."""
    start = time.monotonic()
    while True:
        response = await client.get(path)
        assert response.status_code == 200
        if response.headers["x-cache"] == "HIT":
            return time.monotonic() - start
        assert time.monotonic() - start < timeout_s, f"no HIT within {timeout_s} s"
        await asyncio.sleep(0.02)


async def hammer(
    app: RunningApp, expected: dict[str, bytes], duration_s: float, workers: int = 12
) -> tuple[Counter[int], Counter[str], list[str]]:
    """Read every path in a loop from `workers` tasks; count statuses and X-Cache values."""
    statuses: Counter[int] = Counter()
    cache: Counter[str] = Counter()
    wrong: list[str] = []
    deadline = time.monotonic() + duration_s

    async def worker(offset: int) -> None:
        i = offset
        while time.monotonic() < deadline:
            path = PATHS[i % len(PATHS)]
            i += 1
            response = await app.client.get(path)
            statuses[response.status_code] += 1
            cache[response.headers.get("x-cache", "-")] += 1
            if response.status_code == 200 and response.content != expected[path]:
                wrong.append(path)
            await asyncio.sleep(0)  # in-process, a cache hit never suspends by itself

    await asyncio.gather(*(worker(n) for n in range(workers)))
    return statuses, cache, wrong


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_redis_killed_mid_traffic_then_restarted(
    redis_server: RedisServer, make_app: AppFactory, kind: str
) -> None:
    """GIVEN steady read traffic served from the cache
    WHEN Redis is SIGKILLed with requests in flight
    THEN no request fails (no 5xx), data stays correct, and responses say BYPASS;
    AND WHEN Redis is started again, HITs resume within 5 s."""
    app = await make_app(redis_server, kind, cache_l1_ttl_ms=100)
    expected = {path: (await app.client.get(path)).content for path in PATHS}

    traffic = asyncio.create_task(hammer(app, expected, duration_s=1.2))
    await asyncio.sleep(0.3)
    redis_server.kill()
    statuses, cache, wrong = await traffic
    assert set(statuses) == {200}, statuses
    assert not wrong
    assert cache["BYPASS"] > 0, cache
    assert (await app.client.get(PATHS[0])).headers["x-cache"] == "BYPASS"

    redis_server.start()  # empty, like a restarted sidecar
    recovery_s = await wait_for_hit(app.client, PATHS[0])
    print(f"\n[{kind}] HITs resumed {recovery_s * 1000:.0f} ms after Redis restarted")
    for path in PATHS:
        assert (await app.client.get(path)).content == expected[path]


async def test_starts_and_serves_with_redis_down(
    redis_server: RedisServer, make_app: AppFactory
) -> None:
    redis_server.kill()
    app = await make_app(redis_server)
    response = await app.client.get("/api/portfolio/1")
    assert (response.status_code, response.headers["x-cache"]) == (200, "BYPASS")
    ready = await app.client.get("/ready")
    assert (ready.status_code, ready.json()["cache"]) == (200, "degraded")
    redis_server.start()
    await wait_for_hit(app.client, "/api/portfolio/1")
    assert (await app.client.get("/ready")).json()["cache"] == "ok"


async def test_postgres_outage_makes_ready_503_then_recovers(
    redis_server: RedisServer,
    postgres_cluster_factory: Callable[[], PostgresCluster],
    app_factory: Callable[..., object],
) -> None:
    cluster = postgres_cluster_factory()
    dsn = cluster.create_database("fyntrix")
    app = await app_factory(service_settings(redis_server, database_url=dsn))  # type: ignore[misc]
    assert isinstance(app, RunningApp)
    before = await app.client.get("/api/portfolio/1")
    assert (await app.client.get("/ready")).status_code == 200

    # "fast": clean stop; the test clusters run with synchronous_commit=off, so a crash
    # ("immediate") could lose the last fraction of a second of commits, schema included.
    cluster.stop("fast")
    start = time.monotonic()
    ready = await app.client.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["database"] == "down"
    assert time.monotonic() - start < 3.0  # readiness answers quickly, it does not hang
    assert (await app.client.get("/health")).status_code == 200  # liveness untouched

    cluster.start()
    deadline = time.monotonic() + 10
    while (await app.client.get("/ready")).json().get("invalidation") != "listening":
        assert time.monotonic() < deadline, "listener did not come back"
        await asyncio.sleep(0.05)
    after = await app.client.get("/api/portfolio/1")
    assert after.status_code == 200
    assert after.content == before.content
