"""Fail fast while the database is down: any Source behind a circuit breaker and a deadline.

Without it a stopped Postgres cost every request the pool's whole wait, and a hung one (a
paused container: connections open, nothing answers) held requests for as long as the client
waited; recovery waited for the pool's next reconnect, whose backoff doubles up to a minute.

* Every call has a deadline (DATABASE_QUERY_TIMEOUT_MS; writes DATABASE_WRITE_TIMEOUT_MS, as
  they may wait on other transactions' row locks). A call past it is answered 503 and left to
  finish in the background: psycopg answers a cancelled query by asking the server to cancel
  it, which against a hung server waits up to ten seconds.
* DATABASE_BREAKER_FAILURE_THRESHOLD consecutive failures (refused, reset) open the breaker,
  and so does a single read that timed out (no answer, no pooled connection in time): a
  request that needs two database calls (an identity link, then the data) must not wait for
  both. A write that timed out counts as one failure (it may have waited on a lock). Calls
  then fail at once with SourceOpenError (nothing sent)
  until a half-open probe, every DATABASE_BREAKER_RESET_TIMEOUT_MS, finds the database back
  over a new connection (Source.probe, which also renews the pool).
* A write that failed after it was sent may still have committed (or may commit when a hung
  server resumes): its keys are invalidated now and again when the abandoned call ends
  (`on_unsure_write`), so no copy older than the write can be served, stale or fresh.

Answers that prove the database is up (an unknown user, a missing symbol) count as successes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from service.breaker import CircuitBreaker
from service.source.base import (
    PickRow,
    PortfolioRows,
    Source,
    SourceError,
    SourceNotConfiguredError,
    SourceOpenError,
    SourceTimeoutError,
    SourceUnavailableError,
)

if TYPE_CHECKING:
    from service.metrics import Metrics
    from service.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")
# Called with a write's keys when the write may have committed without its answer arriving.
UnsureWrite = Callable[[Sequence[str]], Awaitable[None]]


class GuardedSource:
    """A Source whose calls fail within a deadline, and at once while its breaker is open."""

    def __init__(
        self,
        inner: Source,
        breaker: CircuitBreaker,
        *,
        call_timeout_s: float,
        write_timeout_s: float,
        probe_timeout_s: float,
        metrics: Metrics | None = None,
    ) -> None:
        self.inner = inner
        self.kind: Literal["postgres", "sqlite", "none"] = inner.kind
        self.breaker = breaker
        self._call_timeout_s = call_timeout_s
        self._write_timeout_s = write_timeout_s
        self._probe_timeout_s = probe_timeout_s
        self._metrics = metrics
        self.on_unsure_write: UnsureWrite | None = None
        # Calls past their deadline, still finishing in the background (kept referenced).
        self._abandoned: set[asyncio.Task[Any]] = set()
        self._probe_task: asyncio.Task[None] | None = None
        self._probe_wake = asyncio.Event()
        # Why the database was last seen down, for /ready and the log; None while it is up.
        self.problem: str | None = None

    @classmethod
    def from_settings(
        cls, inner: Source, settings: Settings, metrics: Metrics | None = None
    ) -> GuardedSource:
        breaker = CircuitBreaker(
            settings.database_breaker_failure_threshold,
            settings.database_breaker_reset_timeout_ms / 1000,
        )
        return cls(
            inner,
            breaker,
            call_timeout_s=settings.database_query_timeout_ms / 1000,
            write_timeout_s=settings.database_write_timeout_ms / 1000,
            probe_timeout_s=settings.database_socket_connect_timeout_ms / 1000,
            metrics=metrics,
        )

    # ----------------------------------------------------------------------------- lifecycle

    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        if self._probe_task is not None:
            self._probe_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe_task
            self._probe_task = None
        if self._abandoned:
            await asyncio.wait(list(self._abandoned), timeout=self._write_timeout_s)
        await self.inner.close()

    def probe_soon(self) -> None:
        """The database was seen answering (the invalidation listener reconnected): probe now
        rather than at the next reset timeout. Until the breaker closes, reads answer stale
        copies only if no write can have gone unheard, and the listener's reconnect ends that."""
        self.breaker.probe_due_now()
        self._probe_wake.set()

    @property
    def retry_after_s(self) -> int:
        """Whole seconds a client should wait before trying again (Retry-After), at least 1."""
        return max(1, math.ceil(self.breaker.seconds_until_probe()))

    # ----------------------------------------------------------------------------- the Source

    async def ping(self) -> None:
        await self._call(self.inner.ping)

    async def probe(self) -> None:
        await self._bounded(self.inner.probe, self._probe_timeout_s)

    async def portfolio(self, user_id: int) -> PortfolioRows | None:
        return await self._call(lambda: self.inner.portfolio(user_id))

    async def top_picks(self, limit: int) -> list[PickRow]:
        return await self._call(lambda: self.inner.top_picks(limit))

    async def user_for_sub(self, sub: str) -> int | None:
        return await self._call(lambda: self.inner.user_for_sub(sub))

    async def users_for_subs(self, subs: Sequence[str]) -> dict[str, int | None]:
        return await self._call(lambda: self.inner.users_for_subs(subs))

    async def upsert_holding(
        self,
        user_id: int,
        symbol: str,
        quantity: float,
        cost_basis: float,
        *,
        announce: Sequence[str] = (),
    ) -> None:
        await self._write(
            lambda: self.inner.upsert_holding(
                user_id, symbol, quantity, cost_basis, announce=announce
            ),
            announce,
        )

    async def delete_holding(
        self, user_id: int, symbol: str, *, announce: Sequence[str] = ()
    ) -> bool:
        return await self._write(
            lambda: self.inner.delete_holding(user_id, symbol, announce=announce), announce
        )

    # ----------------------------------------------------------------------------- the guard

    async def _write(self, make: Callable[[], Coroutine[Any, Any, T]], keys: Sequence[str]) -> T:
        try:
            return await self._call(make, keys=keys, timeout_s=self._write_timeout_s)
        except SourceOpenError:
            raise  # nothing was sent: nothing can have committed
        except SourceUnavailableError:
            await self._unsure(keys)
            raise

    async def _call(
        self,
        make: Callable[[], Coroutine[Any, Any, T]],
        *,
        keys: Sequence[str] = (),
        timeout_s: float | None = None,
    ) -> T:
        if not self.breaker.closed:
            raise SourceOpenError(self.breaker.seconds_until_probe())
        try:
            result = await self._bounded(make, timeout_s or self._call_timeout_s, keys=keys)
        except SourceNotConfiguredError:
            raise  # a setting to fix, not an outage
        except SourceUnavailableError as exc:
            self._failed(exc, write=bool(keys))
            raise
        except SourceError:
            self.breaker.record_success()  # it answered (unknown user, missing symbol): up
            raise
        self.breaker.record_success()
        return result

    async def _bounded(
        self,
        make: Callable[[], Coroutine[Any, Any, T]],
        timeout_s: float,
        *,
        keys: Sequence[str] = (),
    ) -> T:
        """make() within timeout_s, else SourceUnavailableError; the call is then left to end
        in the background (its keys invalidated again when it does)."""
        task = asyncio.ensure_future(make())
        done, _ = await asyncio.wait({task}, timeout=timeout_s)
        if done:
            return task.result()
        task.cancel()
        self._abandoned.add(task)
        task.add_done_callback(lambda t: self._settled(t, keys))
        raise SourceTimeoutError(f"database did not answer within {timeout_s:g} s")

    def _settled(self, task: asyncio.Task[Any], keys: Sequence[str]) -> None:
        self._abandoned.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: an abandoned call's error is not "never retrieved"
        if keys:
            # Whatever happened to it, the write may have committed after its 503.
            pending = asyncio.ensure_future(self._unsure(keys))
            self._abandoned.add(pending)
            pending.add_done_callback(self._abandoned.discard)

    async def _unsure(self, keys: Sequence[str]) -> None:
        if keys and self.on_unsure_write is not None:
            await self.on_unsure_write(keys)

    def _failed(self, exc: SourceUnavailableError, *, write: bool) -> None:
        if isinstance(exc, SourceTimeoutError) and not write and self.breaker.closed:
            self.breaker.trip()  # every call would wait as long: one is enough to know
            opened = True
        else:
            opened = self.breaker.record_failure()
        if opened:
            self.problem = str(exc)
            log.warning("database circuit breaker open (%s): failing fast", exc)
            if self._metrics is not None:
                self._metrics.source_breaker_open.set(1)
            if self._probe_task is None or self._probe_task.done():
                self._probe_task = asyncio.create_task(self._probe_loop(), name="source-probe")

    async def _probe_loop(self) -> None:
        """Half-open probes until the database answers a new connection."""
        while not self.breaker.closed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._probe_wake.wait(), self.breaker.seconds_until_probe())
            self._probe_wake.clear()
            if not self.breaker.begin_probe():
                continue
            try:
                await self.probe()
            except SourceUnavailableError as exc:
                self.problem = str(exc)
                self.breaker.probe_failed()
                continue
            self.breaker.probe_succeeded()
            self.problem = None
            log.info("database reachable again: circuit breaker closed")
            if self._metrics is not None:
                self._metrics.source_breaker_open.set(0)
