"""A database outage under reads (issue: reads that survive a database outage).

Real Postgres (a private cluster, stopped like a crash: `pg_ctl stop -m immediate`) and real
Redis. Two instances with their own Redis share the database, like two ECS tasks:
(a) a key cached before the stop is answered STALE with the same body until
    CACHE_STALE_IF_ERROR_S runs out, then 503 with Retry-After;
(b) a key never cached is answered 503 at once;
(c) a key written just before the stop is never answered with its old value, on the writer
    nor on the other instance;
(d) every answer during the outage takes less than a second;
(e) fresh answers are back within 5 s of the database's return;
and writes during the outage fail fast with 503, leaving nothing written. With the bound 0,
cached keys too are answered 503 within a second.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from testkit.auth import default_issuer
from testkit.servers import PostgresCluster, RedisServer
from testkit.service import RunningApp, service_settings

StartApp = Callable[..., Awaitable[RunningApp]]

STALE_S = 4  # CACHE_STALE_IF_ERROR_S of these tests
TTL_S = 1  # every namespace's TTL: copies go stale within a second of the stop
ANSWER_GOAL_S = 1.0
RECOVERY_GOAL_S = 5.0
CACHED = ("/api/portfolio/1", "/api/dashboard/1", "/api/top-picks")
NEVER_CACHED = "/api/portfolio/4"
WRITTEN = "/api/portfolio/2"  # written just before the stop
HOLDING = "/api/portfolio/2/holdings/KO"


@dataclass
class Answers:
    """Every answer seen during the outage: (path, status, X-Cache, seconds, body)."""

    seen: list[tuple[str, int, str | None, float, bytes]] = field(default_factory=list)

    async def get(self, client: httpx.AsyncClient, path: str, **kw: Any) -> httpx.Response:
        start = time.perf_counter()
        response = await client.get(path, **kw)
        took = time.perf_counter() - start
        self.seen.append(
            (path, response.status_code, response.headers.get("x-cache"), took, response.content)
        )
        return response

    @property
    def slowest_s(self) -> float:
        return max(s[3] for s in self.seen)


@pytest.fixture
def cluster(postgres_cluster_factory: Callable[[], PostgresCluster]) -> PostgresCluster:
    return postgres_cluster_factory()  # private: stopped and started by the tests


@pytest.fixture
def start_app(
    cluster: PostgresCluster,
    redis_server_factory: Callable[..., RedisServer],
    app_factory: Callable[..., Awaitable[RunningApp]],
) -> StartApp:
    dsn = cluster.create_database("fyntrix")

    async def start(**overrides: Any) -> RunningApp:
        values: dict[str, Any] = {
            "database_url": dsn,
            "cache_stale_if_error_s": STALE_S,
            "cache_ttl_portfolio_s": TTL_S,
            "cache_ttl_dashboard_s": TTL_S,
            "cache_ttl_top_picks_s": TTL_S,
            "cache_l1_ttl_ms": 300,
            "auth_identity_cache_ttl_s": TTL_S,
            "database_breaker_reset_timeout_ms": 500,
            **overrides,
        }
        return await app_factory(service_settings(redis_server_factory(), **values))

    return start


def user_headers(user_id: int) -> dict[str, str]:
    issuer = default_issuer()
    return issuer.bearer(issuer.user_token(user_id))


async def wait_heard(app: RunningApp, notices: int) -> None:
    """Until `app`'s listener has heard `notices` notices (the write's reached it)."""
    listener = app.services.listener
    assert listener is not None
    deadline = time.monotonic() + 5
    while listener.notices < notices:
        assert time.monotonic() < deadline, "the write's notice never arrived"
        await asyncio.sleep(0.01)


async def read_through_the_outage(
    a: RunningApp, b: RunningApp, before: dict[str, bytes], old_written: bytes, stopped: float
) -> Answers:
    """(a)-(c), read again and again until the bound runs out."""
    user = user_headers(1)
    answers = Answers()
    while time.monotonic() - stopped < TTL_S + STALE_S - 1:
        for path in CACHED:  # (a) the same body, marked stale, until the bound runs out
            response = await answers.get(a.client, path)
            assert response.status_code == 200, response.text
            assert response.content == before[path]
            if response.headers["x-cache"] == "HIT":
                continue  # a copy still fresh (and its invalidations still heard)
            assert response.headers["x-cache"] == "STALE"
            assert response.headers["cache-control"] == f"max-age=0, stale-if-error={STALE_S}"
            assert 0 <= int(response.headers["age"]) <= TTL_S + STALE_S
        mine = await answers.get(a.client, CACHED[0], headers=user)
        assert (mine.status_code, mine.content) == (200, before[CACHED[0]])
        never = await answers.get(a.client, NEVER_CACHED)  # (b) nothing to serve: 503 at once
        assert never.status_code == 503
        assert int(never.headers["retry-after"]) >= 1
        for app in (a, b):  # (c) never the old value of a written key, on either instance
            written = await answers.get(app.client, WRITTEN)
            assert written.status_code == 503 or written.content != old_written
        await asyncio.sleep(0.1)
    return answers


async def test_reads_survive_a_database_stop(cluster: PostgresCluster, start_app: StartApp) -> None:
    a, b = await start_app(), await start_app()
    user = user_headers(1)  # a user's own token: its identity link expires during the outage
    before = {p: (await a.client.get(p)).content for p in CACHED}
    assert (await a.client.get(CACHED[0], headers=user)).status_code == 200
    old_written = (await b.client.get(WRITTEN)).content  # B caches user 2 ...
    assert (await a.client.get(WRITTEN)).content == old_written
    put = await a.client.put(HOLDING, json={"quantity": 999, "cost_basis": 1.0})
    assert put.status_code == 200  # ... A writes it ...
    await wait_heard(b, 1)  # ... and B has heard (the write committed before the stop)
    # The test cluster commits asynchronously (synchronous_commit=off) and an immediate stop
    # loses what its WAL writer had not written yet: a checkpoint writes it all first.
    cluster.execute("CHECKPOINT")

    cluster.stop("immediate")
    stopped = time.monotonic()
    answers = await read_through_the_outage(a, b, before, old_written, stopped)
    assert any(s[2] == "STALE" for s in answers.seen)
    blocked = time.perf_counter()
    refused = await a.client.put(HOLDING, json={"quantity": 5, "cost_basis": 1.0})
    assert refused.status_code == 503  # a write fails fast, and writes nothing
    assert time.perf_counter() - blocked < ANSWER_GOAL_S

    await asyncio.sleep(max(0.0, stopped + TTL_S + STALE_S + 0.5 - time.monotonic()))
    for path in CACHED:  # past the bound: 503 with Retry-After
        late = await answers.get(a.client, path)
        assert late.status_code == 503, late.text
        assert "retry-after" in late.headers
    assert answers.slowest_s < ANSWER_GOAL_S  # (d)
    ready = (await a.client.get("/ready")).json()
    assert ready["database"] == "down"
    assert ready["database_breaker"] in ("open", "half_open")
    assert ready["stale_if_error_s"] == STALE_S

    cluster.start()  # (e) fresh answers within 5 s
    back = time.monotonic()
    for app in (a, b):
        while True:
            response = await app.client.get(CACHED[0])
            if response.status_code == 200 and response.headers["x-cache"] != "STALE":
                break
            assert time.monotonic() - back < RECOVERY_GOAL_S, response.text
            await asyncio.sleep(0.05)
    holdings = (await a.client.get(WRITTEN)).json()["holdings"]
    assert {h["symbol"]: h["quantity"] for h in holdings}["KO"] == 999  # the 503 wrote nothing
    counted = (await a.client.get("/metrics")).text
    assert 'fyntrix_http_requests_total{cache="STALE",method="GET",route="/api/top-picks"' in (
        counted
    )
    assert 'fyntrix_source_unavailable_total{breaker="open",route="/api/portfolio/{user_id}"}' in (
        counted
    )


async def test_without_the_bound_every_read_fails_fast(
    cluster: PostgresCluster, start_app: StartApp
) -> None:
    app = await start_app(cache_stale_if_error_s=0)
    for path in CACHED:
        assert (await app.client.get(path)).status_code == 200
    cluster.stop("immediate")
    answers = Answers()
    for _ in range(3):
        for path in (*CACHED, NEVER_CACHED):
            response = await answers.get(app.client, path)
            assert response.status_code in (200, 503)
            if response.status_code == 200:  # a copy still fresh: a hit, never a stale one
                assert response.headers["x-cache"] == "HIT"
        await asyncio.sleep(TTL_S / 2)
    assert {s[1] for s in answers.seen[-len(CACHED) - 1 :]} == {503}
    assert answers.slowest_s < ANSWER_GOAL_S
    assert (await app.client.get("/ready")).json()["reads"].startswith("503")
