"""A hung database (issue: reads that survive a database outage, through a frozen host).

Real Postgres whose processes are all SIGSTOPped (what `docker pause` does to the compose
Postgres): open connections stay open and the kernel still accepts new ones, but nothing
answers, so only deadlines end a call. GIVEN an app with a key cached WHEN the database hangs
THEN a key never cached answers 503 with Retry-After within a second, again and again, the
cached one 200 (fresh, then STALE); WHEN it resumes THEN fresh answers are back within 5 s.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx

from testkit.auth import default_issuer
from testkit.servers import PostgresCluster, RedisServer
from testkit.service import RunningApp, service_settings

ANSWER_GOAL_S = 1.0
RECOVERY_GOAL_S = 5.0
CACHED = "/api/portfolio/1"
NEVER_CACHED = "/api/dashboard/1"


async def _timed(
    client: httpx.AsyncClient, path: str, headers: dict[str, str]
) -> tuple[httpx.Response, float]:
    start = time.perf_counter()
    # The client's own deadline: a hung answer fails here, not at the end of the test run.
    response = await asyncio.wait_for(client.get(path, headers=headers), 15)
    return response, time.perf_counter() - start


async def test_a_hung_database_answers_within_a_second(
    postgres_cluster_factory: Callable[[], PostgresCluster],
    redis_server_factory: Callable[..., RedisServer],
    app_factory: Callable[..., Awaitable[RunningApp]],
) -> None:
    cluster = postgres_cluster_factory()
    settings = service_settings(
        redis_server_factory(),
        database_url=cluster.create_database("fyntrix"),
        cache_stale_if_error_s=4,
        cache_ttl_portfolio_s=1,
        cache_l1_ttl_ms=300,
        database_breaker_reset_timeout_ms=300,
    )
    app = await app_factory(settings)
    issuer = default_issuer()
    user = issuer.bearer(issuer.user_token(1))  # its identity link is read, then cached
    before = await app.client.get(CACHED, headers=user)
    assert before.status_code == 200

    cluster.freeze()
    try:
        slowest_s, seen = 0.0, set()
        for _ in range(8):  # past the breaker's half-open probes into the hung server
            never, took = await _timed(app.client, NEVER_CACHED, user)
            slowest_s = max(slowest_s, took)
            assert never.status_code == 503, never.text
            assert int(never.headers["retry-after"]) >= 1
            cached, took = await _timed(app.client, CACHED, user)
            slowest_s = max(slowest_s, took)
            assert (cached.status_code, cached.content) == (200, before.content), cached.text
            seen.add(cached.headers["x-cache"])
            await asyncio.sleep(0.25)
        assert slowest_s < ANSWER_GOAL_S
        assert "STALE" in seen, seen
    finally:
        cluster.thaw()
    back = time.monotonic()
    while (fresh := await app.client.get(CACHED, headers=user)).headers.get("x-cache") in (
        "STALE",
        None,
    ):
        assert time.monotonic() - back < RECOVERY_GOAL_S, fresh.text
        await asyncio.sleep(0.1)
    assert fresh.status_code == 200
