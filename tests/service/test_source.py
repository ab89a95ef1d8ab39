"""Sources of truth (service/source/): Postgres and SQLite behave identically."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import psycopg
import pytest

from service.auth.devkeys import dev_sub
from service.source.base import MAX_SUBS_PER_READ
from service.source.postgres import PostgresSource
from service.source.seed import PICKS, PRICES, USERS, demo_holdings, demo_identities
from testkit.servers import RedisServer
from testkit.service import RunningApp
from tests.service.conftest import AppFactory, execute_sql

READS = (
    [f"/api/portfolio/{u}" for u in range(1, len(USERS) + 2)]
    + [f"/api/dashboard/{u}" for u in range(1, len(USERS) + 2)]
    + [f"/api/top-picks?limit={n}" for n in (1, 10, 50)]
)
WRITES = [
    ("PUT", "/api/portfolio/1/holdings/AAPL", {"quantity": 12.5, "cost_basis": 101.25}),
    ("PUT", "/api/portfolio/5/holdings/NVDA", {"quantity": 0.333, "cost_basis": 0}),
    ("PUT", "/api/portfolio/2/holdings/MA", {"quantity": 1, "cost_basis": 9999.99}),
    ("DELETE", "/api/portfolio/3/holdings/MSFT", None),
    ("DELETE", "/api/portfolio/3/holdings/MSFT", None),
    ("PUT", "/api/portfolio/9/holdings/AAPL", {"quantity": 1, "cost_basis": 1}),
]


async def snapshot(app: RunningApp) -> dict[str, tuple[int, bytes]]:
    out = {}
    for path in READS:
        response = await app.client.get(path)
        out[path] = (response.status_code, response.content)
    return out


async def test_postgres_and_sqlite_give_identical_results(
    redis_server_factory: Callable[..., RedisServer], make_app: AppFactory
) -> None:
    pg = await make_app(redis_server_factory(), "postgres")
    lite = await make_app(redis_server_factory(), "sqlite")
    assert (pg.services.source.kind, lite.services.source.kind) == ("postgres", "sqlite")
    before = await snapshot(pg)
    assert before == await snapshot(lite)
    assert before["/api/portfolio/6"][0] == 404
    for method, path, body in WRITES:
        pg_response = await pg.client.request(method, path, json=body)
        lite_response = await lite.client.request(method, path, json=body)
        assert (pg_response.status_code, pg_response.content) == (
            lite_response.status_code,
            lite_response.content,
        ), path
    after = await snapshot(pg)
    assert after == await snapshot(lite)
    assert after != before


async def test_seeded_once_and_writes_survive_a_restart(
    redis_server: RedisServer, make_app: AppFactory, source_kind: str
) -> None:
    first = await make_app(redis_server, source_kind)
    put = await first.client.put(
        "/api/portfolio/1/holdings/KO", json={"quantity": 4, "cost_basis": 55}
    )
    assert put.status_code == 200
    second = await make_app(redis_server, source_kind)  # same database, started again
    body = (await second.client.get("/api/portfolio/1")).json()
    symbols = [h["symbol"] for h in body["holdings"]]
    assert "KO" in symbols
    assert len(symbols) == 1 + sum(1 for u, *_ in demo_holdings() if u == 1)


async def test_demo_data_can_be_turned_off(
    redis_server: RedisServer, make_app: AppFactory, source_kind: str
) -> None:
    app = await make_app(redis_server, source_kind, seed_demo_data=False)
    assert (await app.client.get("/api/portfolio/1")).status_code == 404
    assert (await app.client.get("/api/top-picks")).json()["picks"] == []


async def test_concurrent_first_starts_seed_exactly_once(postgres_dsn: str) -> None:
    sources = [PostgresSource(postgres_dsn, instance_id=f"i{n}") for n in range(4)]
    try:
        await asyncio.gather(*(s.open() for s in sources))
    finally:
        await asyncio.gather(*(s.close() for s in sources))
    with psycopg.connect(postgres_dsn) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM prices),"
            " (SELECT count(*) FROM holdings), (SELECT count(*) FROM picks)"
        ).fetchone()
    assert row == (len(USERS), len(PRICES), len(demo_holdings()), len(PICKS))


async def test_demo_identities_are_seeded_and_read(
    redis_server: RedisServer, make_app: AppFactory, source_kind: str
) -> None:
    app = await make_app(redis_server, source_kind)
    source = app.services.source
    assert [await source.user_for_sub(sub) for sub, _ in demo_identities()] == [
        user for _, user in demo_identities()
    ]
    assert await source.user_for_sub("no-such-sub") is None


async def test_many_links_are_read_in_one_query_like_one_by_one(
    redis_server: RedisServer, make_app: AppFactory, source_kind: str
) -> None:
    app = await make_app(redis_server, source_kind)
    source = app.services.source
    subs = [sub for sub, _ in demo_identities()] + ["no-such-sub", "x' OR '1'='1"]
    one_by_one = {sub: await source.user_for_sub(sub) for sub in subs}
    assert await source.users_for_subs(subs) == one_by_one
    assert one_by_one["no-such-sub"] is None and one_by_one["x' OR '1'='1"] is None
    most = [f"sub-{n}" for n in range(MAX_SUBS_PER_READ - 1)] + [dev_sub(2)]
    assert (await source.users_for_subs(most))[dev_sub(2)] == 2  # the most one query takes
    with pytest.raises(ValueError, match="subs per read"):
        await source.users_for_subs([*most, "one-too-many"])


async def test_identities_are_seeded_into_a_database_seeded_before_they_existed(
    redis_server: RedisServer, make_app: AppFactory, source_kind: str
) -> None:
    first = await make_app(redis_server, source_kind)
    execute_sql(first, "DELETE FROM user_identities")
    second = await make_app(redis_server, source_kind)  # users exist, identities do not
    assert await second.services.source.user_for_sub(dev_sub(3)) == 3
