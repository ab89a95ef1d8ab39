"""HTTP API (service/api.py) in-process against real Redis and a real source of truth."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from service.source.seed import PICKS, USERS, demo_holdings
from testkit.servers import RedisServer
from tests.service.conftest import AppFactory, execute_sql

GOOD_BODY = {"quantity": 1, "cost_basis": 1}
READ_PATHS = ["/api/portfolio/1", "/api/dashboard/1", "/api/top-picks?limit=5"]


@pytest.mark.parametrize("path", READ_PATHS)
async def test_miss_then_hit(redis_server: RedisServer, make_app: AppFactory, path: str) -> None:
    app = await make_app(redis_server)
    first = await app.client.get(path)
    second = await app.client.get(path)
    assert (first.status_code, first.headers["x-cache"]) == (200, "MISS")
    assert (second.status_code, second.headers["x-cache"]) == (200, "HIT")
    assert first.content == second.content
    assert first.headers["content-type"] == "application/json"


async def test_cache_keys_follow_the_documented_names(
    redis_server: RedisServer, make_app: AppFactory
) -> None:
    app = await make_app(redis_server)
    for path in READ_PATHS:
        await app.client.get(path)
    keys = {k.decode() for k in redis_server.client().scan_iter("*")}
    assert keys == {"portfolio:1", "dashboard:1", "top_picks:5"}


async def test_portfolio_content(redis_server: RedisServer, make_app: AppFactory) -> None:
    app = await make_app(redis_server)
    body = (await app.client.get("/api/portfolio/1")).json()
    expected = sorted((s, q, c) for u, s, q, c in demo_holdings() if u == 1)
    assert [(h["symbol"], h["quantity"], h["cost_basis"]) for h in body["holdings"]] == expected
    for h in body["holdings"]:
        assert h["market_value"] == round(h["quantity"] * h["price"], 2)
    assert body["total_market_value"] == pytest.approx(
        sum(h["market_value"] for h in body["holdings"]), abs=0.01
    )
    assert body["name"] == dict(USERS)[1]


async def test_empty_portfolio(redis_server: RedisServer, make_app: AppFactory) -> None:
    app = await make_app(redis_server)
    body = (await app.client.get("/api/portfolio/5")).json()
    assert body["holdings"] == []
    assert body["total_market_value"] == 0
    dash = (await app.client.get("/api/dashboard/5")).json()
    assert dash["totals"]["positions"] == 0
    assert dash["allocation"] == dash["top_movers"] == []


@pytest.mark.parametrize(("limit", "count"), [(1, 1), (5, 5), (50, len(PICKS))])
async def test_top_picks_limit(
    redis_server: RedisServer, make_app: AppFactory, limit: int, count: int
) -> None:
    app = await make_app(redis_server)
    body = (await app.client.get(f"/api/top-picks?limit={limit}")).json()
    assert [p["rank"] for p in body["picks"]] == list(range(1, count + 1))
    assert body["limit"] == limit


async def test_top_picks_default_limit_is_10(
    redis_server: RedisServer, make_app: AppFactory
) -> None:
    app = await make_app(redis_server)
    assert len((await app.client.get("/api/top-picks")).json()["picks"]) == 10


# ------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("GET", "/api/portfolio/0", None, "user_id"),
        ("GET", "/api/portfolio/-3", None, "user_id"),
        ("GET", "/api/portfolio/abc", None, "user_id"),
        ("GET", "/api/portfolio/99999999999999999999", None, "user_id"),
        ("GET", "/api/dashboard/2147483648", None, "user_id"),
        ("GET", "/api/top-picks?limit=0", None, "limit"),
        ("GET", "/api/top-picks?limit=51", None, "limit"),
        ("GET", "/api/top-picks?limit=ten", None, "limit"),
        ("PUT", "/api/portfolio/1/holdings/AAPL", {"quantity": 0, "cost_basis": 1}, "quantity"),
        ("PUT", "/api/portfolio/1/holdings/AAPL", {"quantity": -1, "cost_basis": 1}, "quantity"),
        ("PUT", "/api/portfolio/1/holdings/AAPL", {"quantity": 1, "cost_basis": -1}, "cost_basis"),
        ("PUT", "/api/portfolio/1/holdings/AAPL", {"quantity": "x", "cost_basis": 1}, "quantity"),
        ("PUT", "/api/portfolio/1/holdings/AAPL", {"cost_basis": 1}, "quantity"),
        ("PUT", "/api/portfolio/1/holdings/AAPL", {"quantity": 1, "cost_basis": 1, "x": 1}, "x"),
        ("PUT", "/api/portfolio/1/holdings/aapl", GOOD_BODY, "symbol"),
        ("PUT", "/api/portfolio/1/holdings/ABCDEFGHIJK", GOOD_BODY, "symbol"),
        ("DELETE", "/api/portfolio/0/holdings/AAPL", None, "user_id"),
    ],
)
async def test_invalid_input_is_422_naming_the_field(
    redis_server: RedisServer,
    make_app: AppFactory,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    field: str,
) -> None:
    app = await make_app(redis_server)
    response = await app.client.request(method, path, json=body)
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert any(e["loc"][-1] == field and e["msg"] for e in errors), errors


@pytest.mark.parametrize(
    "raw", [b'{"quantity": NaN, "cost_basis": 1}', b"not json", b"[]", b"\xff\xfe{"]
)
async def test_malformed_body_is_422(
    redis_server: RedisServer, make_app: AppFactory, raw: bytes
) -> None:
    app = await make_app(redis_server)
    response = await app.client.put(
        "/api/portfolio/1/holdings/AAPL", content=raw, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/portfolio/999", None),
        ("GET", "/api/dashboard/999", None),
        ("PUT", "/api/portfolio/999/holdings/AAPL", {"quantity": 1, "cost_basis": 1}),
        ("PUT", "/api/portfolio/1/holdings/ZZZZ", {"quantity": 1, "cost_basis": 1}),
        ("DELETE", "/api/portfolio/999/holdings/AAPL", None),
        ("DELETE", "/api/portfolio/5/holdings/AAPL", None),  # user exists, holds nothing
    ],
)
async def test_unknown_things_are_404(
    redis_server: RedisServer,
    make_app: AppFactory,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    app = await make_app(redis_server)
    response = await app.client.request(method, path, json=body)
    assert response.status_code == 404
    assert "not found" in response.json()["detail"] or "holds no" in response.json()["detail"]


# ------------------------------------------------------------------------------ TTL, writes


async def test_ttl_expiry_picks_up_changes_made_behind_the_cache(
    redis_server: RedisServer, make_app: AppFactory
) -> None:
    app = await make_app(redis_server, cache_ttl_portfolio_s=1, cache_l1_ttl_ms=200)
    old = (await app.client.get("/api/portfolio/1")).json()
    execute_sql(app, "UPDATE prices SET price = price * 2")
    cached = await app.client.get("/api/portfolio/1")
    assert cached.headers["x-cache"] == "HIT"
    assert cached.json() == old  # within the TTL the cache may be stale for outside changes
    await asyncio.sleep(1.2)
    fresh = await app.client.get("/api/portfolio/1")
    assert fresh.headers["x-cache"] == "MISS"
    assert fresh.json()["total_market_value"] == pytest.approx(
        2 * old["total_market_value"], abs=0.05
    )


async def test_writes_invalidate_portfolio_and_dashboard(
    redis_server: RedisServer, make_app: AppFactory, source_kind: str
) -> None:
    app = await make_app(redis_server, source_kind)
    for path in ("/api/portfolio/2", "/api/dashboard/2", "/api/portfolio/2", "/api/dashboard/2"):
        await app.client.get(path)  # cached in L1 and Redis
    put = await app.client.put(
        "/api/portfolio/2/holdings/NFLX", json={"quantity": 3, "cost_basis": 600.5}
    )
    assert put.status_code == 200
    assert put.json() == {"user_id": 2, "symbol": "NFLX", "quantity": 3.0, "cost_basis": 600.5}
    portfolio = (await app.client.get("/api/portfolio/2")).json()
    assert {"symbol": "NFLX", "quantity": 3.0} in [
        {"symbol": h["symbol"], "quantity": h["quantity"]} for h in portfolio["holdings"]
    ]
    dashboard = (await app.client.get("/api/dashboard/2")).json()
    assert "NFLX" in {a["symbol"] for a in dashboard["allocation"]}

    assert (await app.client.delete("/api/portfolio/2/holdings/NFLX")).status_code == 204
    portfolio = (await app.client.get("/api/portfolio/2")).json()
    assert "NFLX" not in {h["symbol"] for h in portfolio["holdings"]}
    dashboard = (await app.client.get("/api/dashboard/2")).json()
    assert "NFLX" not in {a["symbol"] for a in dashboard["allocation"]}


async def test_no_stale_read_after_a_write_under_concurrent_readers(
    redis_server: RedisServer, make_app: AppFactory, source_kind: str
) -> None:
    """GIVEN readers hammering one user's portfolio and dashboard (misses racing fills)
    WHEN quantities 1..N are written one after another
    THEN every read that started after write i was acknowledged shows a quantity >= i."""
    # L1 off: more reads reach Redis and miss, so more fills race the writes.
    app = await make_app(redis_server, source_kind, cache_l1_max_entries=0)
    acked = {"q": 0}
    violations: list[str] = []
    stop = asyncio.Event()
    reads = {"n": 0}

    async def reader(path: str) -> None:
        while not stop.is_set():
            floor = acked["q"]
            response = await app.client.get(path)
            assert response.status_code == 200
            body = response.json()
            rows = body["holdings"] if "holdings" in body else body["allocation"]
            row = next((r for r in rows if r["symbol"] == "KO"), None)
            if floor:
                seen = 0 if row is None else row.get("quantity", row["market_value"] / 60.35)
                if seen + 1e-6 < floor:
                    violations.append(f"{path}: saw {seen} after {floor} was acknowledged")
            reads["n"] += 1
            # In-process, an L1 hit never suspends: yield so the writer and the others run.
            await asyncio.sleep(0)

    readers = [asyncio.create_task(reader(p)) for p in ["/api/portfolio/3", "/api/dashboard/3"] * 4]
    for q in range(1, 41):
        response = await app.client.put(
            "/api/portfolio/3/holdings/KO", json={"quantity": q, "cost_basis": 50}
        )
        assert response.status_code == 200
        acked["q"] = q
    stop.set()
    await asyncio.gather(*readers)
    assert not violations, violations[:5]
    assert reads["n"] > 60  # the readers really ran alongside the writes


# ------------------------------------------------------------------------------ ops endpoints


async def test_health_and_ready(redis_server: RedisServer, make_app: AppFactory) -> None:
    app = await make_app(redis_server)
    health = await app.client.get("/health")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    ready = await app.client.get("/ready")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "source": "sqlite",
        "database": "ok",
        "database_breaker": "closed",
        "stale_if_error_s": 0,
        "invalidation": "local",
        "cache": "ok",
        "auth_keys": "loaded",
    }


async def test_ready_is_degraded_not_failed_without_redis(
    redis_server: RedisServer, make_app: AppFactory
) -> None:
    app = await make_app(redis_server)
    redis_server.kill()
    ready = await app.client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["cache"] == "degraded"
    assert (await app.client.get("/health")).status_code == 200


async def test_cache_stats(redis_server: RedisServer, make_app: AppFactory) -> None:
    app = await make_app(redis_server)
    for _ in range(3):
        await app.client.get("/api/portfolio/1")
    stats = (await app.client.get("/cache/stats")).json()
    assert (stats["hits"], stats["misses"], stats["bypasses"]) == (2, 1, 0)
    assert stats["hit_ratio"] == pytest.approx(2 / 3, abs=1e-3)
    redis = stats["redis"]
    assert redis["available"] is True
    assert redis["used_memory_bytes"] > 0
    assert {"maxmemory_bytes", "evicted_keys", "maxmemory_policy"} <= set(redis)


async def test_cache_stats_without_redis_is_200(
    redis_server: RedisServer, make_app: AppFactory
) -> None:
    app = await make_app(redis_server)
    redis_server.kill()
    response = await app.client.get("/cache/stats")
    assert response.status_code == 200
    assert response.json()["redis"]["available"] is False


async def test_metrics(redis_server: RedisServer, make_app: AppFactory) -> None:
    app = await make_app(redis_server)
    await app.client.get("/api/portfolio/1")
    await app.client.get("/api/portfolio/1")
    await app.client.get("/api/portfolio/0")
    text = (await app.client.get("/metrics")).text
    assert 'fyntrix_cache_hits_total{namespace="portfolio"} 1.0' in text
    assert 'fyntrix_cache_misses_total{namespace="portfolio"} 1.0' in text
    assert (
        'fyntrix_http_request_duration_seconds_count{method="GET",'
        'route="/api/portfolio/{user_id}",status="200"} 2.0'
    ) in text
    assert 'route="/api/portfolio/{user_id}",status="422"' in text
    assert "fyntrix_redis_errors_total" in text


async def test_two_apps_in_one_process_keep_separate_metrics(
    redis_server: RedisServer, make_app: AppFactory
) -> None:
    first = await make_app(redis_server)
    second = await make_app(redis_server)
    await first.client.get("/api/top-picks")
    assert 'namespace="top_picks"} 1.0' in (await first.client.get("/metrics")).text
    assert (
        'fyntrix_cache_misses_total{namespace="top_picks"} 1.0'
        not in (await second.client.get("/metrics")).text
    )


async def test_the_product_has_no_benchmark_routes(
    redis_server: RedisServer, make_app: AppFactory
) -> None:
    # The benchmark serves its baseline itself (bench/routes.py): nothing here answers for it.
    app = await make_app(redis_server)
    for path in ("/bench/baseline/1", "/bench/cached/1"):
        assert (await app.client.get(path)).status_code == 404
    assert "bench" not in (await app.client.get("/openapi.json")).text


async def test_405_lists_every_method_of_the_resource(
    redis_server: RedisServer, make_app: AppFactory
) -> None:
    app = await make_app(redis_server)
    response = await app.client.post("/api/portfolio/1/holdings/AAPL", json=GOOD_BODY)
    assert response.status_code == 405
    assert set(response.headers["allow"].split(", ")) == {"PUT", "DELETE"}


async def test_cache_stats_under_memory_pressure(
    redis_server_factory: Callable[..., RedisServer], make_app: AppFactory
) -> None:
    """GIVEN the app's Redis limited to 2 MB (allkeys-lru)
    WHEN 3 MB of cache entries are written, then every endpoint is read
    THEN no write fails, /cache/stats reports evictions and memory near the limit, no 5xx."""
    # 2 MB, not 1: an empty Redis 7 with a few clients already uses about 1 MB, which left no
    # key to evict (every SET refused with OOM) once one more connection was open.
    redis = redis_server_factory(maxmemory="2mb", maxmemory_policy="allkeys-lru")
    app = await make_app(redis)
    cache = app.services.cache
    blob = {"pad": "x" * 10_000}
    results = [await cache.set_json(f"portfolio:{1000 + i}", blob, ex=60) for i in range(300)]
    assert all(results)
    for path in READ_PATHS * 2:
        assert (await app.client.get(path)).status_code == 200
    stats = (await app.client.get("/cache/stats")).json()
    assert stats["redis"]["evicted_keys"] > 0
    assert stats["redis"]["maxmemory_bytes"] == 2 * 1024 * 1024
    assert stats["redis"]["used_memory_ratio"] < 1.5
    assert stats["redis_errors"] == 0
