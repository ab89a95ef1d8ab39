"""Cache layer (service/cache.py) against a real, private redis-server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest

from service.breaker import BreakerState
from service.cache import Cache, CacheStatus, CacheUnavailableError, unwrap, wrap
from testkit.servers import RedisServer, TcpProxy, free_port
from testkit.service import service_settings

CacheFactory = Callable[..., Cache]


@pytest.fixture
async def cache_factory() -> AsyncIterator[CacheFactory]:
    caches: list[Cache] = []

    def make(redis: RedisServer | None, **overrides: Any) -> Cache:
        cache = Cache.from_settings(service_settings(redis, **overrides))
        caches.append(cache)
        return cache

    yield make
    for cache in caches:
        await cache.close()


class Loader:
    """A real loader standing in for the database: returns its current value, counts calls."""

    def __init__(self, value: object = "v1", delay_s: float = 0.0) -> None:
        self.value = value
        self.delay_s = delay_s
        self.calls = 0

    async def __call__(self) -> bytes | None:
        self.calls += 1
        value = self.value  # read "the database" first, like a real query
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return None if value is None else orjson.dumps(value)


def body_in(redis: RedisServer, key: str) -> bytes | None:
    """The body of the cache entry `key` as stored in Redis (None: no entry)."""
    raw = redis.client().get(key)
    assert raw is None or isinstance(raw, bytes)
    found = unwrap(raw)
    return None if found is None else found[0]


async def wait_until(predicate: Callable[[], bool], timeout_s: float) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout_s:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(0.01)
    return time.monotonic() - start


# ------------------------------------------------------------------------------ read path


async def test_miss_then_hit_from_l1_and_from_redis(
    redis_server: RedisServer, cache_factory: CacheFactory
) -> None:
    cache = cache_factory(redis_server, cache_l1_ttl_ms=100)
    load = Loader({"a": 1})
    assert await cache.fetch("portfolio:1", 30, load) == (b'{"a":1}', CacheStatus.MISS)
    assert await cache.fetch("portfolio:1", 30, load) == (b'{"a":1}', CacheStatus.HIT)
    assert cache.l1_size == 1
    await asyncio.sleep(0.15)  # L1 entry expired: the next hit comes from Redis
    assert await cache.fetch("portfolio:1", 30, load) == (b'{"a":1}', CacheStatus.HIT)
    assert load.calls == 1
    assert body_in(redis_server, "portfolio:1") == b'{"a":1}'


async def test_redis_ttl_is_the_namespace_ttl(
    redis_server: RedisServer, cache_factory: CacheFactory
) -> None:
    cache = cache_factory(redis_server, cache_l1_ttl_ms=50)
    load = Loader()
    await cache.fetch("dashboard:1", 1, load)
    pttl_ms = redis_server.client().pttl("dashboard:1")
    assert 0 < pttl_ms <= 1000
    await asyncio.sleep(1.1)
    assert redis_server.client().exists("dashboard:1") == 0
    _, status = await cache.fetch("dashboard:1", 1, load)
    assert status is CacheStatus.MISS
    assert load.calls == 2


async def test_none_is_not_cached(redis_server: RedisServer, cache_factory: CacheFactory) -> None:
    cache = cache_factory(redis_server)
    load = Loader(None)
    assert await cache.fetch("portfolio:404", 30, load) == (None, CacheStatus.MISS)
    assert await cache.fetch("portfolio:404", 30, load) == (None, CacheStatus.MISS)
    assert load.calls == 2


async def test_burst_of_misses_loads_once(
    redis_server: RedisServer, cache_factory: CacheFactory
) -> None:
    # Generous socket timeouts: 50 connections opening at once on a busy machine (parallel
    # test workers) must not trip the breaker, which is not what this test is about.
    cache = cache_factory(
        redis_server, redis_socket_connect_timeout_ms=5000, redis_socket_timeout_ms=5000
    )
    load = Loader("v", delay_s=0.05)
    results = await asyncio.gather(*(cache.fetch("top_picks:10", 30, load) for _ in range(50)))
    assert load.calls == 1
    assert {data for data, _ in results} == {b'"v"'}


async def test_a_caller_going_away_does_not_cancel_the_shared_load(
    redis_server: RedisServer, cache_factory: CacheFactory
) -> None:
    cache = cache_factory(redis_server)
    load = Loader("v", delay_s=0.1)
    first = asyncio.create_task(cache.fetch("top_picks:5", 30, load))
    second = asyncio.create_task(cache.fetch("top_picks:5", 30, load))
    await asyncio.sleep(0.02)
    first.cancel()
    assert await second == (b'"v"', CacheStatus.MISS)
    assert load.calls == 1


async def test_loader_errors_reach_every_waiter_and_are_not_cached(
    redis_server: RedisServer, cache_factory: CacheFactory
) -> None:
    cache = cache_factory(redis_server)

    async def broken() -> bytes:
        await asyncio.sleep(0.02)
        raise LookupError("database said no")

    results = await asyncio.gather(
        *(cache.fetch("portfolio:7", 30, broken) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, LookupError) for r in results)
    assert redis_server.client().exists("portfolio:7") == 0


# ------------------------------------------------------------------------------ invalidation


async def test_invalidate_drops_l1_and_redis(
    redis_server: RedisServer, cache_factory: CacheFactory
) -> None:
    cache = cache_factory(redis_server)
    load = Loader("old")
    await cache.fetch("portfolio:1", 30, load)
    await cache.fetch("dashboard:1", 30, load)
    load.value = "new"
    await cache.invalidate(["portfolio:1", "dashboard:1"])
    assert redis_server.client().exists("portfolio:1", "dashboard:1") == 0
    assert await cache.fetch("portfolio:1", 30, load) == (b'"new"', CacheStatus.MISS)
    assert await cache.fetch("dashboard:1", 30, load) == (b'"new"', CacheStatus.MISS)


async def test_a_load_that_read_before_the_write_does_not_repopulate_after_invalidation(
    redis_server: RedisServer, cache_factory: CacheFactory
) -> None:
    """GIVEN a miss whose loader read the old value and is still running
    WHEN the key is invalidated (the write committed) before the loader finishes
    THEN the old value is not cached, and a read started after the invalidation sees the new one
    (it must not join the old load)."""
    cache = cache_factory(redis_server)
    load = Loader("old", delay_s=0.2)
    slow_old = asyncio.create_task(cache.fetch("portfolio:1", 30, load))
    await asyncio.sleep(0.05)  # the loader has read "old"
    load.value = "new"
    load.delay_s = 0.0
    await cache.invalidate(["portfolio:1"])
    after_write = await cache.fetch("portfolio:1", 30, load)
    assert after_write == (b'"new"', CacheStatus.MISS)
    assert await slow_old == (b'"old"', CacheStatus.MISS)  # concurrent with the write: allowed
    assert body_in(redis_server, "portfolio:1") == b'"new"'
    assert await cache.fetch("portfolio:1", 30, load) == (b'"new"', CacheStatus.HIT)


async def test_invalidate_waits_for_a_fill_whose_set_is_on_the_wire(
    redis_server: RedisServer, cache_factory: CacheFactory
) -> None:
    """GIVEN a fill whose Redis SET is in progress (Redis holds writes for 150 ms)
    WHEN its key is invalidated meanwhile
    THEN invalidate() returns only after that fill settled, and Redis holds no stale copy."""
    cache = cache_factory(redis_server, redis_socket_timeout_ms=1000)
    load = Loader("old", delay_s=0.05)
    fill = asyncio.create_task(cache.fetch("portfolio:2", 30, load))
    await asyncio.sleep(0.02)  # loader running
    admin = redis_server.client()
    admin.execute_command("CLIENT", "PAUSE", "150", "WRITE")  # type: ignore[no-untyped-call]
    await asyncio.sleep(0.06)  # loader done; SET now held by Redis
    load.value = "new"
    await cache.invalidate(["portfolio:2"])
    assert fill.done()
    assert admin.get("portfolio:2") is None
    assert await cache.fetch("portfolio:2", 30, load) == (b'"new"', CacheStatus.MISS)


async def test_a_redis_hit_read_before_invalidation_does_not_fill_l1(
    redis_server: RedisServer, cache_factory: CacheFactory
) -> None:
    """GIVEN a Redis GET that returned the old value, its reply still on the wire
    WHEN the key is invalidated before the reply is read
    THEN the old value is returned to that (concurrent) read but never put into L1."""
    proxy = await TcpProxy(redis_server.host, redis_server.port).start()
    try:
        cache = cache_factory(None, redis_port=proxy.port, cache_l1_ttl_ms=10_000)
        # Cache keys have a TTL, and their values the envelope.
        redis_server.client().set("portfolio:3", wrap(b'"old"', time.time(), 30), ex=30)
        await cache.ping()  # open a pooled connection first
        proxy.hold_replies()
        read = asyncio.create_task(cache.fetch("portfolio:3", 30, Loader("unused")))
        await asyncio.sleep(0.05)  # Redis has answered GET; the proxy holds the reply
        invalidation = asyncio.create_task(cache.invalidate(["portfolio:3"]))
        await asyncio.sleep(0.05)  # invalidation bumped its tick; DEL reply held too
        proxy.release_replies()
        await invalidation
        assert await read == (b'"old"', CacheStatus.HIT)  # concurrent with the write: allowed
        assert cache.l1_size == 0
        assert await cache.fetch("portfolio:3", 30, Loader("new")) == (
            b'"new"',
            CacheStatus.MISS,
        )
    finally:
        await proxy.close()


async def test_flush_namespaces_uses_scan_and_spares_other_namespaces(
    redis_server_factory: Callable[..., RedisServer], cache_factory: CacheFactory
) -> None:
    # KEYS and FLUSHALL are renamed away: the cache must never need them.
    redis = redis_server_factory('rename-command KEYS ""', 'rename-command FLUSHALL ""')
    cache = cache_factory(redis)
    admin = redis.client()
    for i in range(1200):
        admin.set(f"portfolio:{i}", b"x")
    admin.set("top_picks:10", b"y")
    await cache.fetch("portfolio:1", 30, Loader())  # also in L1
    await cache.flush_namespaces(["portfolio"])
    assert admin.exists("portfolio:1", "portfolio:1199") == 0
    assert admin.get("top_picks:10") == b"y"
    assert cache.l1_size == 0


async def test_scan_keys_lists_without_keys_command(
    redis_server_factory: Callable[..., RedisServer], cache_factory: CacheFactory
) -> None:
    redis = redis_server_factory('rename-command KEYS ""')
    cache = cache_factory(redis)
    admin = redis.client()
    for i in range(30):
        admin.set(f"dashboard:{i}", b"x")
    admin.set("portfolio:1", b"x")
    keys = await cache.scan_keys("dashboard:*", limit=1000)
    assert sorted(keys) == sorted(f"dashboard:{i}" for i in range(30))
    assert len(await cache.scan_keys("dashboard:*", limit=7)) == 7
    with pytest.raises(ValueError, match="limit"):
        await cache.scan_keys("*", limit=0)


async def test_scan_keys_reports_an_unreachable_redis(cache_factory: CacheFactory) -> None:
    cache = cache_factory(None)
    with pytest.raises(CacheUnavailableError):
        await cache.scan_keys("*", limit=10)


async def test_get_json_set_json_round_trip(
    redis_server: RedisServer, cache_factory: CacheFactory
) -> None:
    cache = cache_factory(redis_server)
    value = {"user": 1, "weights": [0.5, 0.25], "name": "Ada"}
    assert await cache.set_json("portfolio:json", value, ex=5)
    assert await cache.get_json("portfolio:json") == value
    assert 0 < redis_server.client().ttl("portfolio:json") <= 5
    assert await cache.get_json("portfolio:absent") is None


# ------------------------------------------------------------------------------ Redis failures


async def test_dead_redis_costs_milliseconds_and_bypasses(cache_factory: CacheFactory) -> None:
    cache = cache_factory(None)  # nothing listens on that port
    load = Loader("v")
    start = time.perf_counter()
    for _ in range(50):
        assert await cache.fetch("portfolio:1", 30, load) == (b'"v"', CacheStatus.BYPASS)
    elapsed_s = time.perf_counter() - start
    assert load.calls == 50  # never served from a cache that is not there
    assert cache.breaker.state is not BreakerState.CLOSED
    assert elapsed_s < 0.5, f"50 reads with Redis down took {elapsed_s:.3f} s"


async def test_hung_redis_opens_the_breaker_after_threshold_timeouts(
    redis_server: RedisServer, cache_factory: CacheFactory
) -> None:
    """A Redis that accepts connections but never answers (SIGSTOP): at most `threshold`
    requests pay the socket timeout, the rest skip Redis."""
    cache = cache_factory(
        redis_server,
        redis_socket_timeout_ms=100,
        circuit_breaker_failure_threshold=3,
        circuit_breaker_reset_timeout_ms=60_000,
    )
    await cache.fetch("portfolio:9", 30, Loader())  # warm a pooled connection
    cache._l1.clear()
    redis_server.pause()
    try:
        durations = []
        for _ in range(10):
            start = time.perf_counter()
            _, status = await cache.fetch("portfolio:9", 30, Loader())
            durations.append(time.perf_counter() - start)
            assert status is CacheStatus.BYPASS
        assert cache.breaker.state is BreakerState.OPEN
        assert max(durations) < 0.5, durations
        assert max(durations[3:]) < 0.01, durations  # breaker open: Redis not touched
    finally:
        redis_server.resume()


async def test_recovers_when_redis_comes_back(
    redis_server: RedisServer, cache_factory: CacheFactory
) -> None:
    cache = cache_factory(redis_server, circuit_breaker_reset_timeout_ms=200)
    await cache.start()
    load = Loader("v")
    redis_server.kill()
    for _ in range(5):
        assert (await cache.fetch("portfolio:1", 30, load))[1] is CacheStatus.BYPASS
    assert not cache.breaker.closed
    redis_server.start()

    async def hits() -> bool:
        return (await cache.fetch("portfolio:1", 30, load))[1] is CacheStatus.HIT

    start = time.monotonic()
    while not await hits():
        assert time.monotonic() - start < 5.0, "no HIT within 5 s of Redis coming back"
        await asyncio.sleep(0.05)


async def test_a_delete_lost_in_a_partition_is_replayed_before_redis_is_trusted(
    redis_server: RedisServer, cache_factory: CacheFactory
) -> None:
    """GIVEN a cached value, and a network partition (Redis alive, keeping the old value)
    WHEN the key is invalidated and the DEL never reaches Redis
    THEN once Redis is reachable again the old value is never served."""
    proxy = await TcpProxy(redis_server.host, redis_server.port).start()
    try:
        cache = cache_factory(
            None,
            redis_port=proxy.port,
            redis_socket_timeout_ms=100,
            circuit_breaker_reset_timeout_ms=200,
        )
        await cache.start()
        load = Loader("old")
        await cache.fetch("portfolio:4", 30, load)
        proxy.drop_requests()
        load.value = "new"
        await cache.invalidate(["portfolio:4"])
        assert not cache.breaker.closed  # a delete that could not be made trips the breaker
        assert body_in(redis_server, "portfolio:4") == b'"old"'  # Redis never saw it
        assert await cache.fetch("portfolio:4", 30, load) == (b'"new"', CacheStatus.BYPASS)
        proxy.restore()
        await assert_only_new_then_hit(cache, load, "portfolio:4")
    finally:
        await proxy.close()


async def test_an_invalidation_while_the_breaker_is_open_is_replayed(
    redis_server: RedisServer, cache_factory: CacheFactory
) -> None:
    """GIVEN Redis hung (SIGSTOP, data kept) and the breaker open
    WHEN a key is invalidated (Redis is skipped entirely)
    THEN after Redis resumes, the probe deletes it before any HIT."""
    cache = cache_factory(
        redis_server, redis_socket_timeout_ms=50, circuit_breaker_reset_timeout_ms=200
    )
    await cache.start()
    load = Loader("old")
    await cache.fetch("portfolio:5", 30, load)
    redis_server.pause()
    try:
        for _ in range(3):
            await cache.fetch("dashboard:5", 30, load)  # timeouts open the breaker
        assert not cache.breaker.closed
        load.value = "new"
        start = time.perf_counter()
        await cache.invalidate(["portfolio:5"])
        assert time.perf_counter() - start < 0.02  # Redis not even tried
    finally:
        redis_server.resume()
    assert body_in(redis_server, "portfolio:5") == b'"old"'
    await assert_only_new_then_hit(cache, load, "portfolio:5")


async def assert_only_new_then_hit(cache: Cache, load: Loader, key: str) -> None:
    seen = set()
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        data, status = await cache.fetch(key, 30, load)
        seen.add((data, status))
        if status is CacheStatus.HIT:
            break
        await asyncio.sleep(0.02)
    assert all(data == b'"new"' for data, _ in seen), seen
    assert (b'"new"', CacheStatus.HIT) in seen


async def test_incoherent_cache_is_bypassed(
    redis_server: RedisServer, cache_factory: CacheFactory
) -> None:
    cache = cache_factory(redis_server)
    load = Loader("v")
    await cache.fetch("portfolio:1", 30, load)
    cache.set_coherent(False)
    assert await cache.fetch("portfolio:1", 30, load) == (b'"v"', CacheStatus.BYPASS)
    assert load.calls == 2


async def test_wrong_password_is_a_bypass_not_an_error(
    redis_server_factory: Callable[..., RedisServer], cache_factory: CacheFactory
) -> None:
    redis = redis_server_factory(requirepass="right")
    cache = cache_factory(redis, redis_password="wrong")
    assert await cache.fetch("portfolio:1", 30, Loader("v")) == (b'"v"', CacheStatus.BYPASS)
    assert cache.redis_errors >= 1


# ------------------------------------------------------------------------------ memory


async def test_memory_pressure_evicts_without_write_errors(
    redis_server_factory: Callable[..., RedisServer], cache_factory: CacheFactory
) -> None:
    """GIVEN maxmemory 2 MB with allkeys-lru
    WHEN 3x that (6 MB) is written through the cache
    THEN every write succeeds and Redis evicted keys to stay under its limit."""
    redis = redis_server_factory(maxmemory="2mb", maxmemory_policy="allkeys-lru")
    cache = cache_factory(redis)
    payload = {"blob": "x" * 10_000}  # ~10 KB serialized
    written = 0
    failures = 0
    i = 0
    while written < 3 * 2 * 1024 * 1024:
        failures += not await cache.set_json(f"portfolio:{i}", payload, ex=300)
        written += 10_000
        i += 1
    assert failures == 0
    assert cache.redis_errors == 0
    stats = await cache.stats()
    assert stats["redis"]["evicted_keys"] > 0
    assert stats["redis"]["maxmemory_bytes"] == 2 * 1024 * 1024
    assert stats["redis"]["maxmemory_policy"] == "allkeys-lru"
    # Eviction keeps the dataset near the limit (Redis allows some slack for overhead).
    assert stats["redis"]["used_memory_bytes"] < 3 * 1024 * 1024


async def test_noeviction_oom_fails_the_write_quietly_and_keeps_redis_in_use(
    redis_server_factory: Callable[..., RedisServer], cache_factory: CacheFactory
) -> None:
    redis = redis_server_factory(maxmemory="2mb", maxmemory_policy="noeviction")
    cache = cache_factory(redis)
    results = [
        await cache.set_json(f"portfolio:{i}", {"blob": "x" * 10_000}, ex=300) for i in range(400)
    ]
    assert results[0] is True
    assert results[-1] is False  # OOM: not stored, no exception
    assert cache.redis_errors > 0
    # A command error comes from a Redis that is up: reads must keep using it.
    assert cache.breaker.closed
    assert await cache.get_json("portfolio:0") == {"blob": "x" * 10_000}


def test_free_port_helper_gives_a_closed_port() -> None:
    import socket

    port = free_port()
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0


# ------------------------------------------------------------------------------ refresh-ahead


async def test_a_hot_l1_entry_is_refreshed_before_it_expires(
    redis_server: RedisServer, cache_factory: CacheFactory
) -> None:
    # A 2 s L1 life (1.5-2 s with jitter) is refreshed in its last 400 ms: room for a refresh
    # round trip even on a loaded CI machine, where 100 ms windows flaked.
    cache = cache_factory(redis_server, cache_l1_ttl_ms=2000)
    load = Loader("v")
    await cache.fetch("portfolio:1", 30, load)
    first_expiry = cache._l1["portfolio:1"][0]
    await asyncio.sleep(1.0)  # before the earliest possible refresh window (1.1 s)
    deadline = time.monotonic() + 1.2  # past the latest possible expiry (2.0 s)
    while time.monotonic() < deadline:  # keep reading across the first copy's expiry
        assert cache.peek("portfolio:1") == b'"v"'
        await asyncio.sleep(0.01)
    assert time.monotonic() > first_expiry
    assert cache._l1["portfolio:1"][0] > time.monotonic()  # a later copy, never a gap
    assert load.calls == 1


async def test_a_refresh_racing_an_invalidation_does_not_bring_the_old_value_back(
    redis_server: RedisServer, cache_factory: CacheFactory
) -> None:
    proxy = await TcpProxy(redis_server.host, redis_server.port).start()
    try:
        cache = cache_factory(None, redis_port=proxy.port, cache_l1_ttl_ms=500)
        await cache.fetch("portfolio:2", 30, Loader("old"))
        await asyncio.sleep(0.5 * 0.75 - 0.02)
        proxy.hold_replies()
        assert cache.peek("portfolio:2") == b'"old"'  # starts the refresh; GET reply held
        await asyncio.sleep(0.05)
        invalidation = asyncio.create_task(cache.invalidate(["portfolio:2"]))
        await asyncio.sleep(0.05)
        proxy.release_replies()
        await invalidation
        await asyncio.sleep(0.05)  # the refresh has finished
        assert "portfolio:2" not in cache._l1
    finally:
        await proxy.close()


async def test_an_l1_copy_never_outlives_its_freshness(
    redis_server: RedisServer, cache_factory: CacheFactory
) -> None:
    cache = cache_factory(redis_server, cache_l1_ttl_ms=60_000)
    redis_server.client().set("dashboard:8", wrap(b'"v"', time.time(), 0.3), px=300)
    assert await cache.fetch("dashboard:8", 30, Loader("loaded")) == (b'"v"', CacheStatus.HIT)
    expires_at = cache._l1["dashboard:8"][0]
    assert expires_at - time.monotonic() <= 0.3
    await asyncio.sleep(0.35)
    assert await cache.fetch("dashboard:8", 30, Loader("loaded")) == (
        b'"loaded"',
        CacheStatus.MISS,
    )


async def test_replies_are_parsed_by_hiredis(
    redis_server: RedisServer, cache_factory: CacheFactory
) -> None:
    cache = cache_factory(redis_server)
    assert await cache.ping()
    conn = await cache.redis.connection_pool.get_connection()  # type: ignore[no-untyped-call]
    try:
        assert "Hiredis" in type(conn._parser).__name__
    finally:
        await cache.redis.connection_pool.release(conn)
