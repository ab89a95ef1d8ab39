"""Cross-instance cache invalidation over Postgres LISTEN/NOTIFY.

Every ECS task has its own Redis, so a write served by one task leaves stale copies in the
others. The writer NOTIFYs the stale keys inside its transaction (source/postgres.py); every
instance LISTENs on a dedicated connection and drops those keys from its own Redis and L1.

Notices sent while the listener is disconnected are lost, so:
* while disconnected, the cache is marked incoherent and bypassed (reads go to Postgres);
* after every (re)connect, the write-invalidated namespaces are flushed before the cache is
  trusted again (also on the first connect: the Redis sidecar may outlive this process);
* stale-if-error copies (cache.py) stay safe to hand out while disconnected only as long as
  the database has been unreachable since the loss: a connect that succeeds before the resync
  is done proves it was up, so a write may have gone unheard (`Cache.stale_safe` goes false
  until the next resync). A network partition that cuts off this task alone from a database
  others still write to cannot be told from an outage: stale answers then stay within the
  stale-if-error bound (docs/operations.md).
* notices are applied whatever their origin: a write this instance gave up on (its database
  call timed out) may commit later, and only its notice says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, Final

import orjson
import psycopg
from psycopg import sql

from service.keys import WRITE_INVALIDATED

if TYPE_CHECKING:
    from service.cache import Cache
    from service.metrics import Metrics

log = logging.getLogger(__name__)

CHANNEL: Final = "fyntrix_cache_invalidation"


def encode_notice(origin: str, keys: Sequence[str]) -> str:
    """NOTIFY payload (Postgres limits it to 8000 bytes; a write names two keys)."""
    return orjson.dumps({"origin": origin, "keys": list(keys)}).decode()


def decode_notice(payload: str) -> tuple[str, list[str]]:
    """(origin instance id, keys). Raises ValueError on anything malformed."""
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError("not an object")
    origin, keys = data.get("origin"), data.get("keys")
    if not isinstance(origin, str) or not isinstance(keys, list):
        raise ValueError("missing origin or keys")
    if not all(isinstance(k, str) for k in keys):
        raise ValueError("keys must be strings")
    return origin, keys


class InvalidationListener:
    def __init__(
        self,
        conninfo: str,
        cache: Cache,
        instance_id: str,
        *,
        channel: str = CHANNEL,
        metrics: Metrics | None = None,
        idle_check_s: float = 5.0,
        max_backoff_s: float = 2.0,
    ) -> None:
        self._conninfo = conninfo
        self._cache = cache
        self._instance_id = instance_id
        self._channel = channel
        self._metrics = metrics
        self._idle_check_s = idle_check_s
        self._max_backoff_s = max_backoff_s
        self._task: asyncio.Task[None] | None = None
        # Called when a connect succeeds: the database answers (app.py: the source's breaker
        # probes at once, so reads are not left without stale copies and without a database).
        self.on_connect: Callable[[], None] | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self.synced = asyncio.Event()  # set while listening and the cache has been resynced
        self.backend_pid: int | None = None  # of the LISTEN connection, for operators and tests
        self.connects = 0
        self.notices = 0

    async def start(self, wait_s: float = 5.0) -> bool:
        """Start listening; wait up to `wait_s` for the first sync. True when synced."""
        self._cache.set_coherent(False)
        self._task = asyncio.create_task(self._run(), name="invalidation-listener")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait_s):
                await self.synced.wait()
        if not self.synced.is_set():
            log.warning("invalidation listener not connected yet: cache bypassed until it is")
        return self.synced.is_set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for task in list(self._handlers):
            task.cancel()

    async def _run(self) -> None:
        backoff_s = 0.0
        while True:
            try:
                await self._listen_once()
            except (psycopg.Error, OSError, TimeoutError) as exc:
                log.warning("invalidation listener disconnected: %s", exc)
            except Exception:
                # A bug must not end cross-instance invalidation for the life of the process.
                log.exception("invalidation listener failed; reconnecting")
            finally:
                # Whatever happened, notices can be missed from now on.
                self._cache.set_coherent(False)
                self.synced.clear()
                self.backend_pid = None
            await asyncio.sleep(backoff_s)
            # First retry at once (a terminated backend is usually back instantly), then back off.
            backoff_s = min(max(backoff_s * 2, 0.05), self._max_backoff_s)

    async def _listen_once(self) -> None:
        conn = await psycopg.AsyncConnection.connect(
            self._conninfo,
            autocommit=True,
            connect_timeout=2,
            # Notice a silently dead peer (no FIN) within about 10 s, not the kernel's 2 hours.
            keepalives=1,
            keepalives_idle=5,
            keepalives_interval=2,
            keepalives_count=2,
        )
        # The database answers: writes may have committed since the loss, unheard until the
        # resync below has flushed their namespaces.
        self._cache.stale_safe = False
        if self.on_connect is not None:
            self.on_connect()
        async with conn:
            await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
            self.backend_pid = conn.info.backend_pid
            self.connects += 1
            if self._metrics is not None and self.connects > 1:
                self._metrics.listener_reconnects.inc()
            # Anything written before LISTEN took effect may have been missed: drop it all.
            await self._cache.flush_namespaces(WRITE_INVALIDATED, reason="resync")
            self._cache.set_coherent(True)
            self.synced.set()
            log.info("listening for cache invalidations (backend pid %s)", self.backend_pid)
            while True:
                async for notice in conn.notifies(timeout=self._idle_check_s):
                    self._handle(notice.payload)
                # Quiet for a while: make sure the connection is still alive.
                async with asyncio.timeout(2.0):
                    await conn.execute("SELECT 1")

    def _handle(self, payload: str) -> None:
        self.notices += 1
        try:
            _origin, keys = decode_notice(payload)
        except ValueError as exc:
            log.warning("malformed invalidation notice (%s): flushing", exc)
            self._spawn(self._cache.flush_namespaces(WRITE_INVALIDATED, reason="resync"))
            return
        # Our own writes too: one whose call timed out may have committed after its 503.
        # In a task: invalidate() may wait for a concurrent fill, the next notice must not.
        self._spawn(self._cache.invalidate(keys, reason="notify"))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)
