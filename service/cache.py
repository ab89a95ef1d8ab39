"""Cache-aside over the task's private Redis, with a small in-process L1 in front of it.

Guarantees (the cache is never the source of truth; every one of these errs towards a miss):

* Read-your-writes on one instance: `invalidate()` returns only once no stale copy can be served
  by this instance. Every fill (Redis -> L1, source -> Redis/L1) records the invalidation tick at
  which it started and is dropped if its key or namespace was invalidated since; a fill that was
  already writing to Redis when the invalidation came is awaited, and it deletes its own write
  when it finds itself stale afterwards.
* A dead or hung Redis costs milliseconds: short socket timeouts, no client retries, and a
  circuit breaker that skips Redis entirely while OPEN. Requests then read the source of truth
  and are reported as BYPASS.
* No stale value after an outage: an invalidation that could not reach Redis (or was skipped
  because the breaker was open) trips the breaker and is remembered; the background half-open
  probe replays those deletes (and any pending namespace flushes) before the breaker closes.
* While the cross-instance invalidation feed is down (`set_coherent(False)`), the cache is
  bypassed too: another task's writes could not be heard.
* Single flight per key: a burst of misses for one key runs the loader once. A miss that arrives
  after an invalidation never joins a load that started before it.
* The L1 never extends staleness: a copy read from Redis lives at most as long as it is fresh
  (the deadline stored with it), capped at CACHE_L1_TTL_MS. Hot entries are re-read from Redis
  in the background during the last fifth of their life, so no request of a hot key waits on
  Redis; those re-reads obey the same invalidation ticks.
* Stale if error (CACHE_STALE_IF_ERROR_S = N > 0): Redis keeps each copy N seconds past its
  TTL, evictable like any key, and the L1 keeps an expired copy until then. Only `stale_copy`
  hands such a copy out, and only when the source of truth failed: a HIT is always fresh, and
  a stale copy is never written back as fresh. Invalidations delete stale copies like fresh
  ones; while the invalidation feed is down, stale copies are handed out only if the database
  has been unreachable ever since (`stale_safe`, kept by invalidation.py), since otherwise a
  write may have gone unheard.

Values are stored as serialized JSON bytes behind a 17-byte envelope (a tag, when the value was
read from the source, and until when it is fresh: `wrap`/`unwrap`), so a hit is returned as is
(no parse, no re-encode). Key listing for operators uses SCAN (never KEYS).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import math
import os
import random
import re
import struct
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import orjson
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError, RedisError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from service.breaker import CircuitBreaker

if TYPE_CHECKING:
    from service.metrics import Metrics
    from service.settings import Settings

log = logging.getLogger(__name__)

Loader = Callable[[], Awaitable[bytes | None]]

# Errors that mean "Redis did not do it"; OSError covers refused/reset sockets that redis-py
# does not wrap, TimeoutError the socket timeouts.
REDIS_ERRORS = (RedisError, OSError, TimeoutError)

# Remembered individual keys whose delete is owed to Redis; past this, owe whole namespaces.
_MAX_DIRTY_KEYS = 10_000
# Background L1 refreshes: gathered for this long (seconds), at most this many per round trip.
_REFRESH_BATCH_WINDOW_S = 0.02
_REFRESH_BATCH_MAX = 500
# Longest a writer waits for a concurrent fill's in-progress Redis SET to settle, in seconds.
_SETTLE_TIMEOUT_S = 5.0

# The envelope of a cached value: a tag, then when it was read from the source and until when
# it is fresh, both Unix milliseconds. Anything without the tag (a value an older release
# wrote, or a hand-made one) is not ours and reads as a miss. JSON never starts with 0x01.
_ENVELOPE = struct.Struct(">BQQ")
_ENVELOPE_TAG = 1


def wrap(body: bytes, fetched_at_s: float, ttl_s: float) -> bytes:
    """`body` as stored in Redis: read from the source at `fetched_at_s`, fresh for `ttl_s`."""
    fetched_ms = int(fetched_at_s * 1000)
    return _ENVELOPE.pack(_ENVELOPE_TAG, fetched_ms, fetched_ms + int(ttl_s * 1000)) + body


def unwrap(raw: bytes | None) -> tuple[bytes, float, float] | None:
    """(body, read from the source at, fresh until), Unix seconds; None for a value not ours."""
    if raw is None or len(raw) < _ENVELOPE.size or raw[0] != _ENVELOPE_TAG:
        return None
    _, fetched_ms, fresh_until_ms = _ENVELOPE.unpack_from(raw)
    return raw[_ENVELOPE.size :], fetched_ms / 1000, fresh_until_ms / 1000


class CacheStatus(enum.StrEnum):
    HIT = "HIT"
    MISS = "MISS"
    BYPASS = "BYPASS"
    STALE = "STALE"  # only ever answered by the routes, from stale_copy, when the source failed


_ERRNO = re.compile(r"\bError (\d+)\b")

# Replies of a Redis that is up but refuses this client by configuration. Retrying cannot help,
# so they open the breaker at once, and they are logged at WARNING (once per change) and named
# by /ready and /cache/stats: a misconfigured cache must never look like a healthy one.
_REFUSALS: dict[str, str] = {
    "DENIED": "Redis refuses non-loopback clients (protected mode on, no password): run it "
    "with `protected-mode no` on a private network, or give it a password",
    "NOAUTH": "Redis requires a password and REDIS_PASSWORD is not set",
    "WRONGPASS": "Redis rejected REDIS_PASSWORD (wrong password or user)",
    "NOPASS": "REDIS_PASSWORD is set but Redis has no password: give Redis the password "
    "(requirepass), or unset REDIS_PASSWORD",
}


def describe(exc: BaseException) -> str:
    """What went wrong talking to Redis, without its address: /ready and /cache/stats show it
    to anyone who can reach them (the log keeps the whole message)."""
    kind = type(exc).__name__
    if isinstance(exc, TimeoutError | RedisTimeoutError):
        return f"{kind}: timed out"
    errno = getattr(exc, "errno", None)
    if not isinstance(errno, int):
        # redis-py puts the socket's errno into its message ("Error 111 connecting to ...").
        found = _ERRNO.search(str(exc))
        errno = int(found[1]) if found else None
    return f"{kind}: {os.strerror(errno)}" if errno else kind


def refusal(exc: BaseException) -> str | None:
    """DENIED, NOAUTH, WRONGPASS or NOPASS when `exc` is such a refusal, else None."""
    message = str(exc)
    if message.startswith("DENIED") or "protected mode" in message:
        return "DENIED"
    if "without any password configured" in message:
        return "NOPASS"
    if isinstance(exc, AuthenticationError) or message.startswith(("NOAUTH", "WRONGPASS")):
        # redis-py strips the code: NOAUTH reads "Authentication required." (or, for its HELLO
        # handshake, "... must be called with the client already authenticated ...").
        lowered = message.lower()
        required = message.startswith("NOAUTH") or any(
            hint in lowered for hint in ("authentication required", "already authenticated")
        )
        return "NOAUTH" if required else "WRONGPASS"
    return None


class CacheUnavailableError(RuntimeError):
    """Redis could not be reached for an operator request (stats, key listing)."""


def namespace_of(key: str) -> str:
    return key.partition(":")[0]


@dataclass(eq=False)
class _Flight:
    started: int  # invalidation tick when the load started
    fill: bool  # whether the result may be written to the cache
    setting: bool = False  # True while its Redis SET is in progress
    task: asyncio.Task[bytes | None] = field(init=False)


class Cache:
    def __init__(
        self,
        client: aioredis.Redis,
        breaker: CircuitBreaker,
        *,
        l1_ttl_s: float = 1.0,
        l1_max_entries: int = 10_000,
        metrics: Metrics | None = None,
        coherent: bool = True,
        stale_if_error_s: float = 0.0,
    ) -> None:
        self.redis = client
        self.breaker = breaker
        self.stale_if_error_s = stale_if_error_s
        # Whether stale copies may be handed out while the cache is not coherent: only while
        # every write since it last was is known to have been heard or impossible.
        self.stale_safe = coherent
        self._l1_ttl_s = l1_ttl_s
        self._l1_max = l1_max_entries
        self._metrics = metrics
        self._coherent = coherent
        # key -> (expires at, monotonic seconds; serialized value; its namespace's hit counter;
        # kept until, monotonic seconds: its stale-if-error deadline; read from the source at,
        # Unix seconds)
        self._l1: dict[str, tuple[float, bytes, list[int], float, float]] = {}
        self._hit_cells: dict[str, list[int]] = {}
        self._inflight: dict[str, _Flight] = {}
        # Invalidation clock: bumped by every invalidation/flush; fills compare against it.
        self._tick = 0
        self._key_tick: dict[str, int] = {}
        self._ns_tick: dict[str, int] = {}
        # Fills in progress that hold a start tick (Redis GET then L1 put, or a flight).
        self._active_fills = 0
        # Deletes owed to Redis (it was unreachable when they were due).
        self._dirty: set[str] = set()
        self._flush_owed: set[str] = set()
        self._probe_needed = asyncio.Event()
        self._probe_task: asyncio.Task[None] | None = None
        self._refreshing: set[str] = set()
        self._refresh_queue: list[str] = []
        self._refresh_task: asyncio.Task[None] | None = None
        # Refresh a hot L1 entry from Redis during the last fifth of its life.
        self._refresh_ahead_s = l1_ttl_s / 5
        self.hits = 0
        self.misses = 0
        self.bypasses = 0
        self.stale_answers = 0
        self.redis_errors = 0
        # Why the cache is not used right now ("DENIED: ..."), None while it is healthy.
        self.problem: str | None = None
        # A configuration to fix that does not stop the cache (NOPASS: a password Redis
        # does not ask for), found at start by check_config.
        self.warning: str | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, metrics: Metrics | None = None, *, coherent: bool = True
    ) -> Cache:
        timeout_s = settings.redis_socket_timeout_ms / 1000
        pool = aioredis.BlockingConnectionPool(
            host=settings.redis_host,
            port=settings.redis_port,
            db=settings.redis_db,
            password=(
                settings.redis_password.get_secret_value() if settings.redis_password else None
            ),
            socket_connect_timeout=settings.redis_socket_connect_timeout_ms / 1000,
            socket_timeout=timeout_s,
            max_connections=settings.redis_max_connections,
            # Waiting for a pooled connection is bounded like any other Redis call.
            timeout=timeout_s,
            # No client-side retries: the breaker decides, and a retry doubles a dead Redis's cost.
            retry=Retry(NoBackoff(), 0),
        )
        breaker = CircuitBreaker(
            settings.circuit_breaker_failure_threshold,
            settings.circuit_breaker_reset_timeout_ms / 1000,
        )
        return cls(
            aioredis.Redis(connection_pool=pool),
            breaker,
            l1_ttl_s=settings.cache_l1_ttl_ms / 1000,
            l1_max_entries=settings.cache_l1_max_entries,
            metrics=metrics,
            coherent=coherent,
            stale_if_error_s=settings.cache_stale_if_error_s,
        )

    # ----------------------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        if self._probe_task is None:
            self._probe_task = asyncio.create_task(self._probe_loop(), name="cache-probe")

    async def check_config(self, timeout_s: float = 1.0) -> None:
        """Find a misconfigured Redis at start, not at first use. A refused or missing password
        (NOAUTH, WRONGPASS) or protected mode (DENIED) is logged now, opens the breaker and
        shows in /ready; REDIS_PASSWORD set for a Redis without one (NOPASS) is a warning (the
        cache works, but anyone who reaches Redis can read it); unreachable is logged."""
        password = self.redis.connection_pool.connection_kwargs.get("password")
        try:
            async with asyncio.timeout(timeout_s):
                await self.redis.ping()
        except REDIS_ERRORS as exc:
            if self._note_refusal(exc):
                self._trip()
            else:
                log.warning("redis not reachable at start (%s): %s", describe(exc), exc)
            return
        if password is None:
            return
        try:
            # Redis 6+ accepts any password at connect when it has none (HELLO ... AUTH);
            # a plain AUTH says so.
            async with asyncio.timeout(timeout_s):
                await self.redis.auth(password)
        except REDIS_ERRORS as exc:
            if refusal(exc) == "NOPASS":
                self.warning = f"NOPASS: {_REFUSALS['NOPASS']}"
                log.warning("redis cache: %s", self.warning)

    async def close(self) -> None:
        if self._probe_task is not None:
            self._probe_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe_task
            self._probe_task = None
        for flight in list(self._inflight.values()):
            flight.task.cancel()
        if self._refresh_task is not None:
            self._refresh_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresh_task
        await self.redis.aclose(close_connection_pool=True)

    # ----------------------------------------------------------------------------- state

    @property
    def available(self) -> bool:
        """True when reads may be served from (and filled into) the cache."""
        return self._coherent and self.breaker.closed

    @property
    def coherent(self) -> bool:
        return self._coherent

    def set_coherent(self, coherent: bool) -> None:
        """Whether cross-instance invalidations are being heard (see invalidation.py). Being
        heard again makes stale copies safe again; losing them leaves stale_safe as it was
        (the listener clears it once it learns a write may have gone unheard)."""
        self._coherent = coherent
        if coherent:
            self.stale_safe = True

    @property
    def l1_size(self) -> int:
        return len(self._l1)

    # ----------------------------------------------------------------------------- reads

    async def fetch(self, key: str, ttl_s: int, loader: Loader) -> tuple[bytes | None, CacheStatus]:
        """The value for `key`, from L1, Redis or `loader` (which returns None for "no such").

        `None` results are never cached. Loader exceptions propagate to every caller sharing it.
        """
        if not (self._coherent and self.breaker.closed):
            data = await self._load(key, ttl_s, loader, fill=False)
            self._count(key, CacheStatus.BYPASS)
            return data, CacheStatus.BYPASS
        hit = self.peek(key)
        if hit is not None:
            return hit, CacheStatus.HIT
        raw, failed = await self._from_redis(key)
        if failed:
            data = await self._load(key, ttl_s, loader, fill=False)
            self._count(key, CacheStatus.BYPASS)
            return data, CacheStatus.BYPASS
        if raw is not None:
            self._count(key, CacheStatus.HIT)
            return raw, CacheStatus.HIT
        data = await self._load(key, ttl_s, loader, fill=True)
        self._count(key, CacheStatus.MISS)
        return data, CacheStatus.MISS

    async def get_cached(self, key: str) -> bytes | None:
        """L1, then Redis; never the loader. None on a miss or while the cache is unavailable
        (a Redis failure is recorded). A hit is counted; a None is not (the caller goes on to
        fetch(), which counts the outcome)."""
        hit = self.peek(key)
        if hit is not None or not self.available:
            return hit
        raw, _ = await self._from_redis(key)
        if raw is not None:
            self._count(key, CacheStatus.HIT)
        return raw

    async def stale_copy(self, key: str) -> tuple[bytes, float] | None:
        """(body, age in seconds) of the copy of `key` that expired less than
        CACHE_STALE_IF_ERROR_S ago (or is still fresh), from L1 or else Redis; None when there
        is none, the bound is 0, or a write may have been missed. For a read whose source
        failed: counted as a stale answer."""
        if self.stale_if_error_s <= 0 or not (self._coherent or self.stale_safe):
            return None
        entry = self._l1.get(key)
        if entry is not None and time.monotonic() < entry[3]:
            return self._stale_answer(key, entry[1], entry[4])
        if not self.breaker.closed or key in self._dirty or namespace_of(key) in self._flush_owed:
            return None  # Redis may still hold a copy a write made stale: owed deletes first
        started = self._tick
        self._active_fills += 1
        try:
            raw = await self.redis.get(key)
        except REDIS_ERRORS as exc:
            self._redis_failed("get", exc)
            return None
        finally:
            self._active_fills -= 1
        self.breaker.record_success()
        found = unwrap(cast("bytes | None", raw))
        if found is None or self._stale(key, started):
            return None  # none, or invalidated while it was read
        body, fetched_at_s, fresh_until_s = found
        if time.time() >= fresh_until_s + self.stale_if_error_s:
            return None
        return self._stale_answer(key, body, fetched_at_s)

    def _stale_answer(self, key: str, body: bytes, fetched_at_s: float) -> tuple[bytes, float]:
        self.stale_answers += 1
        if self._metrics is not None:
            self._metrics.cache_lookup(namespace_of(key), CacheStatus.STALE)
        return body, max(0.0, time.time() - fetched_at_s)

    async def _from_redis(self, key: str) -> tuple[bytes | None, bool]:
        """(value or None, failed). A value read is copied into L1 unless invalidated since."""
        started = self._tick
        self._active_fills += 1
        try:
            raw = await self.redis.get(key)
        except REDIS_ERRORS as exc:
            self._redis_failed("get", exc)
            return None, True
        finally:
            self._active_fills -= 1
        self.breaker.record_success()
        return self._admit(key, cast("bytes | None", raw), started), False

    def _admit(self, key: str, raw: bytes | None, started: int) -> bytes | None:
        """The body of a value read from Redis when it is fresh, copied into L1 unless
        invalidated since the read started; None for a miss or a stale copy."""
        found = unwrap(raw)
        if found is None:
            return None
        body, fetched_at_s, fresh_until_s = found
        fresh_left_s = fresh_until_s - time.time()
        if fresh_left_s <= 0:
            return None  # a stale copy: only stale_copy() may hand it out
        if self.available and not self._stale(key, started):
            self._l1_put(key, body, fresh_left_s, fetched_at_s)
        return body

    def peek(self, key: str) -> bytes | None:
        """The L1 copy of `key` when the cache may serve it (counted as a HIT), else None.

        Synchronous and cheap: the hit layer (front.py) calls it before any routing.
        """
        if not (self._coherent and self.breaker.closed):
            return None
        entry = self._l1.get(key)
        if entry is None:
            return None
        now_s = time.monotonic()
        left_s = entry[0] - now_s
        if left_s <= 0:
            if now_s >= entry[3]:  # past its stale-if-error deadline too
                del self._l1[key]
            return None
        if left_s < self._refresh_ahead_s and key not in self._refreshing:
            # Hot key about to expire: re-read it from Redis in the background, so no request
            # of a hot key ever waits for Redis. The copy being served is still within its life.
            self._refreshing.add(key)
            self._refresh_queue.append(key)
            if self._refresh_task is None:
                self._refresh_task = asyncio.create_task(self._refresh_batch())
        # What _count(key, HIT) does, through the entry's own counter: a hit pays no key
        # parsing and no call into the metrics.
        self.hits += 1
        entry[2][0] += 1
        return entry[1]

    async def _refresh_batch(self) -> None:
        """Re-read the queued keys from Redis in one pipeline per batch."""
        try:
            # Keys come due a few at a time: gather them, one round trip serves them all.
            await asyncio.sleep(_REFRESH_BATCH_WINDOW_S)
            while self._refresh_queue:
                keys = self._refresh_queue[:_REFRESH_BATCH_MAX]
                del self._refresh_queue[: len(keys)]
                try:
                    await self._refresh_keys(keys)
                finally:
                    self._refreshing.difference_update(keys)
        finally:
            self._refresh_task = None

    async def _refresh_keys(self, keys: list[str]) -> None:
        if not self.available:
            return
        started = self._tick
        self._active_fills += 1
        try:
            replies = await self.redis.mget(keys)
        except REDIS_ERRORS as exc:
            self._redis_failed("get", exc)
            return
        finally:
            self._active_fills -= 1
        self.breaker.record_success()
        for key, raw in zip(keys, replies, strict=True):
            # Same rule as any fill: nothing invalidated since the read started goes back in.
            self._admit(key, cast("bytes | None", raw), started)

    async def _load(self, key: str, ttl_s: int, loader: Loader, *, fill: bool) -> bytes | None:
        flight = self._inflight.get(key)
        if flight is None:
            flight = _Flight(started=self._tick, fill=fill)
            flight.task = asyncio.create_task(self._run_flight(flight, key, ttl_s, loader))
            self._inflight[key] = flight
            flight.task.add_done_callback(lambda _t: self._flight_done(key, flight))
        # shield: a caller that goes away (client disconnect) must not cancel the others' load.
        return await asyncio.shield(flight.task)

    def _flight_done(self, key: str, flight: _Flight) -> None:
        if self._inflight.get(key) is flight:
            del self._inflight[key]
        if not flight.task.cancelled():
            # Retrieve it so an exception nobody awaited any more is not reported as lost.
            flight.task.exception()

    async def _run_flight(
        self, flight: _Flight, key: str, ttl_s: int, loader: Loader
    ) -> bytes | None:
        self._active_fills += 1
        try:
            data = await loader()
            if data is None or not flight.fill or not self.available:
                return data
            if self._stale(key, flight.started):
                return data  # invalidated while loading: the value may predate the write
            flight.setting = True
            fetched_at_s = time.time()
            try:
                # Kept N seconds past its TTL: the stale-if-error copy (evictable like any key).
                stored = wrap(data, fetched_at_s, ttl_s)
                await self.redis.set(key, stored, ex=ttl_s + math.ceil(self.stale_if_error_s))
            except REDIS_ERRORS as exc:
                self._redis_failed("set", exc)
                return data
            if self._stale(key, flight.started):
                # Invalidated while the SET was on the wire: take our own write back.
                await self._delete_or_owe([key])
            else:
                self.breaker.record_success()
                self._l1_put(key, data, ttl_s, fetched_at_s)
            return data
        finally:
            self._active_fills -= 1

    def _stale(self, key: str, started: int) -> bool:
        return (
            self._key_tick.get(key, 0) > started
            or self._ns_tick.get(namespace_of(key), 0) > started
        )

    def _l1_put(self, key: str, value: bytes, fresh_s: float, fetched_at_s: float) -> None:
        """Serve `value` for at most min(L1 TTL, `fresh_s` = how long it stays fresh) seconds,
        and keep it as a stale-if-error copy until `fresh_s` + N seconds from now."""
        if self._l1_max <= 0:
            return
        if key not in self._l1 and len(self._l1) >= self._l1_max:
            # Oldest insertion first: with second-scale TTLs that is close enough to LRU.
            self._l1.pop(next(iter(self._l1)))
        # Up to 25 % shorter at random: entries filled together (a warm-up, a resync) must not
        # all expire together and send a burst of Redis reads at once.
        life_s = min(self._l1_ttl_s, fresh_s) * (1.0 - 0.25 * random.random())
        now_s = time.monotonic()
        kept_until_s = now_s + (
            fresh_s + self.stale_if_error_s if self.stale_if_error_s else life_s
        )
        cell = self._hit_cell(namespace_of(key))
        self._l1[key] = (now_s + life_s, value, cell, kept_until_s, fetched_at_s)

    def _hit_cell(self, namespace: str) -> list[int]:
        """The metrics' counter of this namespace's hits (a private one without metrics)."""
        cell = self._hit_cells.get(namespace)
        if cell is None:
            metrics = self._metrics
            cell = metrics.lookup_cell(namespace, CacheStatus.HIT) if metrics is not None else [0]
            self._hit_cells[namespace] = cell
        return cell

    # ----------------------------------------------------------------------------- invalidation

    async def invalidate(self, keys: Iterable[str], *, reason: str = "local") -> None:
        """Drop `keys` everywhere this instance caches them. Returns once none can be served."""
        unique = list(dict.fromkeys(keys))
        if not unique:
            return
        if not self._active_fills:
            # Nobody holds an older start tick: the per-key history can go (bounds its size).
            self._key_tick.clear()
        self._tick += 1
        settling: dict[str, asyncio.Task[bytes | None]] = {}
        for key in unique:
            self._key_tick[key] = self._tick
            self._l1.pop(key, None)
            flight = self._inflight.pop(key, None)
            if flight is not None and flight.setting:
                settling[key] = flight.task
        if self._metrics is not None:
            self._metrics.invalidations.labels(reason).inc(len(unique))
        await self._delete_or_owe(unique)
        await self._settle(settling)

    async def flush_namespaces(self, namespaces: Iterable[str], *, reason: str = "resync") -> None:
        """Drop every key of `namespaces` (after missed notifications). SCAN + UNLINK."""
        names = set(namespaces)
        if not names:
            return
        self._tick += 1
        for ns in names:
            self._ns_tick[ns] = self._tick
        for key in [k for k in self._l1 if namespace_of(k) in names]:
            del self._l1[key]
        settling: dict[str, asyncio.Task[bytes | None]] = {}
        for key in [k for k in self._inflight if namespace_of(k) in names]:
            flight = self._inflight.pop(key)
            if flight.setting:
                settling[key] = flight.task
        if self._metrics is not None:
            self._metrics.invalidations.labels(reason).inc()
        if self.breaker.closed:
            try:
                for ns in sorted(names):
                    await self._unlink_matching(f"{ns}:*")
            except REDIS_ERRORS as exc:
                self._owe_flush(names, exc)
        else:
            self._owe_flush(names, None)
        await self._settle(settling)

    async def _settle(self, settling: dict[str, asyncio.Task[bytes | None]]) -> None:
        """Wait for fills whose Redis SET was in progress when their key was invalidated."""
        if not settling:
            return
        _, pending = await asyncio.wait(settling.values(), timeout=_SETTLE_TIMEOUT_S)
        if pending:
            # Could not confirm those SETs were taken back: stop trusting Redis until the probe
            # has deleted the keys again.
            log.warning("cache fills did not settle in %.1f s; tripping", _SETTLE_TIMEOUT_S)
            self._dirty.update(k for k, t in settling.items() if t in pending)
            self._trip()

    async def _delete_or_owe(self, keys: list[str]) -> None:
        if self.breaker.closed:
            try:
                await self.redis.delete(*keys)
                return
            except REDIS_ERRORS as exc:
                self._count_error("delete", exc)
        # Redis may still hold the keys: skip it until the probe has deleted them.
        self._dirty.update(keys)
        if len(self._dirty) > _MAX_DIRTY_KEYS:
            self._flush_owed.update(namespace_of(k) for k in self._dirty)
            self._dirty.clear()
        self._trip()

    def _owe_flush(self, names: set[str], exc: BaseException | None) -> None:
        if exc is not None:
            self._count_error("flush", exc)
        self._flush_owed.update(names)
        self._trip()

    async def _unlink_matching(self, pattern: str) -> int:
        removed = 0
        batch: list[bytes] = []
        async for key in self.redis.scan_iter(match=pattern, count=500):
            batch.append(key)
            if len(batch) >= 500:
                removed += await self.redis.unlink(*batch)
                batch.clear()
        if batch:
            removed += await self.redis.unlink(*batch)
        return removed

    # ----------------------------------------------------------------------------- breaker

    def _redis_failed(self, op: str, exc: BaseException) -> None:
        self._count_error(op, exc)
        if self._note_refusal(exc):
            self._trip()
            return
        # Only "Redis is not answering" counts towards opening; a command error (e.g. OOM on a
        # SET under `noeviction`) comes from a Redis that is up.
        unreachable = not isinstance(exc, RedisError) or isinstance(
            exc, RedisConnectionError | RedisTimeoutError
        )
        if unreachable and self.breaker.record_failure():
            # Not logged here: _on_open says it, with this reason.
            self.problem = f"UNREACHABLE: {describe(exc)}"
            self._on_open()

    def _note_refusal(self, exc: BaseException) -> bool:
        """Record a configuration refusal (DENIED, NOAUTH, ...); True if `exc` was one."""
        code = refusal(exc)
        if code is None:
            return False
        self._set_problem(f"{code}: {_REFUSALS[code]}")
        return True

    def _set_problem(self, problem: str | None) -> None:
        """Logged once per change of kind (DENIED -> NOAUTH ...), not once per request; the
        way back is logged when the breaker closes."""
        before = None if self.problem is None else self.problem.partition(":")[0]
        after = None if problem is None else problem.partition(":")[0]
        self.problem = problem
        if problem is not None and after != before:
            log.warning("redis cache not used: %s", problem)

    def _trip(self) -> None:
        # OPEN or HALF_OPEN already skip Redis, and the probe pays what is owed before closing.
        if self.breaker.closed:
            self.breaker.trip()
            self._on_open()

    def _on_open(self) -> None:
        log.warning(
            "redis circuit breaker open (%s): serving from the source of truth",
            self.problem or "tripped",
        )
        self._probe_needed.set()
        if self._metrics is not None:
            self._metrics.breaker_open.set(1)

    async def _probe_loop(self) -> None:
        while True:
            await self._probe_needed.wait()
            await asyncio.sleep(self.breaker.seconds_until_probe())
            if not self.breaker.begin_probe():
                if self.breaker.closed:
                    self._probe_needed.clear()
                continue
            if await self._probe():
                self.breaker.probe_succeeded()
                self._probe_needed.clear()
                self._set_problem(None)
                log.info("redis reachable again: circuit breaker closed")
                if self._metrics is not None:
                    self._metrics.breaker_open.set(0)
            else:
                self.breaker.probe_failed()

    async def _probe(self) -> bool:
        """PING, then pay every delete owed, so the breaker closes only on a clean Redis."""
        try:
            await self.redis.ping()
            # Loop: invalidations may add owed deletes while we await.
            while self._dirty or self._flush_owed:
                names = set(self._flush_owed)
                for ns in sorted(names):
                    await self._unlink_matching(f"{ns}:*")
                self._flush_owed -= names
                keys = list(self._dirty)[:1000]
                if keys:
                    await self.redis.delete(*keys)
                    self._dirty.difference_update(keys)
        except REDIS_ERRORS as exc:
            self._count_error("probe", exc)
            self._note_refusal(exc)
            return False
        return True

    # ----------------------------------------------------------------------------- metrics

    def _count(self, key: str, status: CacheStatus) -> None:
        if status is CacheStatus.HIT:
            self.hits += 1
        elif status is CacheStatus.MISS:
            self.misses += 1
        else:
            self.bypasses += 1
        if self._metrics is not None:
            self._metrics.cache_lookup(namespace_of(key), status)

    def _count_error(self, op: str, exc: BaseException) -> None:
        self.redis_errors += 1
        log.debug("redis %s failed: %r", op, exc)
        if self._metrics is not None:
            self._metrics.redis_errors.labels(op).inc()

    # ----------------------------------------------------------------------------- plain API

    async def get_json(self, key: str) -> Any:
        """The decoded value at `key`, or None (absent, or Redis unavailable). Redis only."""
        if not self.breaker.closed:
            return None
        try:
            raw = await self.redis.get(key)
        except REDIS_ERRORS as exc:
            self._redis_failed("get", exc)
            return None
        self.breaker.record_success()
        return None if raw is None else orjson.loads(raw)

    async def set_json(self, key: str, value: Any, ex: int | None = None) -> bool:
        """Store `value` as JSON with a TTL of `ex` seconds. False when Redis did not store it."""
        if not self.breaker.closed:
            return False
        try:
            await self.redis.set(key, orjson.dumps(value), ex=ex)
        except REDIS_ERRORS as exc:
            self._redis_failed("set", exc)
            return False
        self.breaker.record_success()
        return True

    async def scan_keys(self, pattern: str, limit: int = 1000) -> list[str]:
        """Up to `limit` keys matching `pattern`, via SCAN (KEYS would block Redis)."""
        if limit < 1:
            raise ValueError("limit must be >= 1")
        keys: list[str] = []
        try:
            async for key in self.redis.scan_iter(match=pattern, count=min(1000, max(limit, 10))):
                keys.append(key.decode() if isinstance(key, bytes) else str(key))
                if len(keys) >= limit:
                    break
        except REDIS_ERRORS as exc:
            self._count_error("scan", exc)
            raise CacheUnavailableError(f"redis unavailable: {describe(exc)}") from exc
        return keys

    async def ping(self, timeout_s: float = 1.0) -> bool:
        try:
            async with asyncio.timeout(timeout_s):
                return bool(await self.redis.ping())
        except REDIS_ERRORS as exc:
            if self._note_refusal(exc):
                self._trip()
            return False

    def local_stats(self) -> dict[str, Any]:
        """This instance's counters: hit ratio is hits / (hits + misses); bypasses excluded."""
        lookups = self.hits + self.misses
        return {
            "hits": self.hits,
            "misses": self.misses,
            "bypasses": self.bypasses,
            "stale_answers": self.stale_answers,
            "stale_if_error_s": self.stale_if_error_s,
            "hit_ratio": round(self.hits / lookups, 4) if lookups else None,
            "redis_errors": self.redis_errors,
            "breaker": self.breaker.state.value,
            "reason": self.problem,
            "warning": self.warning,
            "coherent": self._coherent,
            "l1_entries": len(self._l1),
        }

    async def stats(self) -> dict[str, Any]:
        """local_stats() plus Redis INFO memory/stats (raises CacheUnavailableError)."""
        out = self.local_stats()
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.info("memory")
                pipe.info("stats")
                memory, stats = await pipe.execute()
        except REDIS_ERRORS as exc:
            self._count_error("info", exc)
            raise CacheUnavailableError(f"redis unavailable: {describe(exc)}") from exc
        used = int(memory.get("used_memory", 0))
        maxmemory = int(memory.get("maxmemory", 0))
        out["redis"] = {
            "available": True,
            "used_memory_bytes": used,
            "maxmemory_bytes": maxmemory,
            "used_memory_ratio": round(used / maxmemory, 4) if maxmemory else None,
            "maxmemory_policy": memory.get("maxmemory_policy"),
            "evicted_keys": int(stats.get("evicted_keys", 0)),
            "expired_keys": int(stats.get("expired_keys", 0)),
            "keyspace_hits": int(stats.get("keyspace_hits", 0)),
            "keyspace_misses": int(stats.get("keyspace_misses", 0)),
        }
        return out
