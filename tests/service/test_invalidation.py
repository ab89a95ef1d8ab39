"""Cross-instance invalidation (service/invalidation.py): two service instances, each with its
own Redis (like two ECS tasks), sharing one Postgres."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
import pytest

from service.invalidation import CHANNEL, decode_notice, encode_notice
from testkit.servers import RedisServer
from testkit.service import RunningApp
from tests.service.conftest import AppFactory

PATH = "/api/portfolio/4"
SYMBOL = "JPM"  # user 4 holds 17 JPM in the demo data
WINDOW_GOAL_S = 1.0


@dataclass
class Read:
    start: float
    end: float
    quantity: float | None
    cache: str


async def quantity(app: RunningApp) -> tuple[float | None, str]:
    response = await app.client.get(PATH)
    assert response.status_code == 200
    rows = {h["symbol"]: h["quantity"] for h in response.json()["holdings"]}
    return rows.get(SYMBOL), response.headers["x-cache"]


# How long B is still read after the window closes, to see it serve the new value.
AFTER_WINDOW_S = 0.5


@dataclass
class Horizon:
    """When polling stops: set once the write is acknowledged, so a write that is slow under
    load (520 ms in one CI run) still leaves reads after the window."""

    until: float = math.inf

    def after(self, ack: float) -> None:
        self.until = ack + WINDOW_GOAL_S + AFTER_WINDOW_S


async def poll(app: RunningApp, horizon: Horizon, reads: list[Read]) -> None:
    while time.monotonic() < horizon.until:
        start = time.monotonic()
        q, cache = await quantity(app)
        reads.append(Read(start, time.monotonic(), q, cache))
        await asyncio.sleep(0.001)


async def two_instances(
    redis_server_factory: Callable[..., RedisServer], make_app: AppFactory
) -> tuple[RunningApp, RunningApp, RedisServer]:
    redis_a, redis_b = redis_server_factory(), redis_server_factory()
    a = await make_app(redis_a, "postgres")
    b = await make_app(redis_b, "postgres")
    assert a.services.listener is not None and b.services.listener is not None
    assert a.services.listener.synced.is_set() and b.services.listener.synced.is_set()
    return a, b, redis_b


async def warm(app: RunningApp) -> float | None:
    await quantity(app)
    q, cache = await quantity(app)
    assert cache == "HIT"
    return q


def stale_window(reads: list[Read], old: float | None, since: float) -> float:
    """Seconds from `since` (the write) to the end of the last stale read on B (0 if none)."""
    stale_ends = [r.end for r in reads if r.quantity == old]
    return max(0.0, max(stale_ends, default=since) - since)


async def test_a_write_on_one_instance_reaches_the_other_within_the_window(
    redis_server_factory: Callable[..., RedisServer], make_app: AppFactory
) -> None:
    """GIVEN instance B serving user 4 from its own cache
    WHEN instance A writes user 4's holding
    THEN B stops serving the old value within 1 s (measured) and serves the new one after."""
    a, b, redis_b = await two_instances(redis_server_factory, make_app)
    old = await warm(b)
    reads: list[Read] = []
    horizon = Horizon()
    poller = asyncio.create_task(poll(b, horizon, reads))
    await asyncio.sleep(0.05)
    sent = time.monotonic()
    response = await a.client.put(
        f"/api/portfolio/4/holdings/{SYMBOL}", json={"quantity": 999, "cost_basis": 190}
    )
    ack = time.monotonic()
    horizon.after(ack)
    assert response.status_code == 200
    await poller

    # Measured from when the write was sent (an upper bound: it commits before the ack).
    window_s = stale_window(reads, old, sent)
    print(
        f"\ncross-instance stale window: last stale read on B ended {window_s * 1000:.1f} ms "
        f"after the write was sent ({stale_window(reads, old, ack) * 1000:.1f} ms after it was "
        f"acknowledged; the write took {(ack - sent) * 1000:.1f} ms); {len(reads)} reads on B"
    )
    assert window_s < WINDOW_GOAL_S
    after = [r for r in reads if r.start > ack + WINDOW_GOAL_S]
    assert after, "no reads after the window"
    assert all(r.quantity == 999 for r in after)
    assert any(r.cache == "HIT" for r in after)  # B caches again, with the new value
    assert b.services.listener is not None and b.services.listener.notices >= 1
    assert redis_b.client().get("portfolio:4") is None or b"999" in (
        redis_b.client().get("portfolio:4") or b""
    )


async def test_after_the_listener_connection_is_cut(
    redis_server_factory: Callable[..., RedisServer], make_app: AppFactory
) -> None:
    """GIVEN B's LISTEN connection is terminated on the server (pg_terminate_backend)
    WHEN A writes right away, possibly before B is listening again
    THEN B is not stale after the window, and B's listener is back on a new backend."""
    a, b, _ = await two_instances(redis_server_factory, make_app)
    old = await warm(b)
    listener = b.services.listener
    assert listener is not None and listener.backend_pid is not None
    old_pid = listener.backend_pid
    dsn = a.services.settings.database_url
    assert dsn is not None
    reads: list[Read] = []
    horizon = Horizon()
    poller = asyncio.create_task(poll(b, horizon, reads))
    async with await psycopg.AsyncConnection.connect(
        dsn.get_secret_value(), autocommit=True
    ) as admin:
        await admin.execute("SELECT pg_terminate_backend(%s)", (old_pid,))
    sent = time.monotonic()
    response = await a.client.put(
        f"/api/portfolio/4/holdings/{SYMBOL}", json={"quantity": 555, "cost_basis": 190}
    )
    ack = time.monotonic()
    horizon.after(ack)
    assert response.status_code == 200
    await poller

    window_s = stale_window(reads, old, sent)
    print(
        f"\nstale window with the listener cut: last stale read on B ended "
        f"{window_s * 1000:.1f} ms after the write was sent"
    )
    assert window_s < WINDOW_GOAL_S
    after = [r for r in reads if r.start > ack + WINDOW_GOAL_S]
    assert after, "no reads after the window"
    assert all(r.quantity == 555 for r in after)
    assert listener.synced.is_set()
    assert listener.backend_pid not in (None, old_pid)
    assert listener.connects >= 2


async def test_notices_missed_while_disconnected_are_covered_by_the_resync(
    redis_server_factory: Callable[..., RedisServer],
    make_app: AppFactory,
    postgres_cluster: object,
) -> None:
    """GIVEN B's listener is cut and cannot reconnect (new connections to the database refused)
    WHEN A writes (the NOTIFY reaches nobody on B's side)
    THEN B serves the new value from the source meanwhile (BYPASS), and once it reconnects it
    flushes what it may have missed: no stale HIT from its Redis, then HITs again."""
    a, b, redis_b = await two_instances(redis_server_factory, make_app)
    old = await warm(b)
    assert redis_b.client().exists("portfolio:4") == 1
    listener = b.services.listener
    assert listener is not None
    settings = a.services.settings
    assert settings.database_url is not None
    dsn = settings.database_url.get_secret_value()
    dbname = dsn.rsplit("/", 1)[1]
    admin_dsn = dsn.rsplit("/", 1)[0] + "/postgres"
    async with await psycopg.AsyncConnection.connect(admin_dsn, autocommit=True) as admin:
        await admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS false'.encode())
        try:
            await admin.execute("SELECT pg_terminate_backend(%s)", (listener.backend_pid,))
            deadline = time.monotonic() + 2
            while listener.synced.is_set():
                assert time.monotonic() < deadline
                await asyncio.sleep(0.01)
            response = await a.client.put(  # on A's already-open pooled connection
                f"/api/portfolio/4/holdings/{SYMBOL}", json={"quantity": 321, "cost_basis": 190}
            )
            assert response.status_code == 200
            q, cache = await quantity(b)
            assert (q, cache) == (321, "BYPASS")  # not the stale copy B's Redis still holds
            assert redis_b.client().exists("portfolio:4") == 1
        finally:
            await admin.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS true'.encode())
    deadline = time.monotonic() + 5
    while not listener.synced.is_set():
        assert time.monotonic() < deadline, "listener did not reconnect"
        await asyncio.sleep(0.01)
    seen = [await quantity(b) for _ in range(3)]
    assert seen[0] == (321, "MISS")  # the resync flushed B's Redis
    assert seen[-1] == (321, "HIT")
    assert old != 321


async def test_a_malformed_notice_flushes_the_namespaces(
    redis_server_factory: Callable[..., RedisServer], make_app: AppFactory
) -> None:
    _, b, redis_b = await two_instances(redis_server_factory, make_app)
    await warm(b)
    await b.client.get("/api/top-picks")
    settings = b.services.settings
    assert settings.database_url is not None
    async with await psycopg.AsyncConnection.connect(
        settings.database_url.get_secret_value(), autocommit=True
    ) as conn:
        await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, "{not json"))
    deadline = time.monotonic() + 2
    while redis_b.client().exists("portfolio:4"):
        assert time.monotonic() < deadline, "portfolio:4 not flushed"
        await asyncio.sleep(0.01)
    assert redis_b.client().exists("top_picks:10") == 1  # not write-invalidated


def test_notice_round_trip() -> None:
    payload = encode_notice("abc123", ["portfolio:1", "dashboard:1"])
    assert decode_notice(payload) == ("abc123", ["portfolio:1", "dashboard:1"])
    assert len(payload.encode()) < 8000  # Postgres' NOTIFY payload limit


@pytest.mark.parametrize(
    "payload",
    ["", "[]", '{"origin": 1, "keys": []}', '{"origin": "a"}', '{"origin": "a", "keys": [1]}'],
)
def test_malformed_notices_are_rejected(payload: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        decode_notice(payload)
