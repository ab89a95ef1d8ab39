"""The hit layer: the outermost ASGI layer. It times and counts every request, and answers
cache hits before anything else runs, for callers decided on without verifying a token.

A hit here is a GET without a body of a canonical cached-read target (service/reads.py), whose
caller the Authorizer allows without verifying a token (decide_now from memory, else
decide_verified, which may read the caller's link), and whose body is in the in-process L1
(Cache.peek) or else in Redis (Cache.get_cached). It gets the status, headers and bytes the
route would send, without entering Starlette, the body limit, the auth gate, routing or
validation: each of those costs an await and a closure per request, together several times the
hit itself (and when Redis hits took the framework's way, a busy process got so slow that its
L1 copies expired before their next use). Everything else goes to the framework unchanged,
timed here: first-seen tokens, misses, stale answers and 503s while the database is down, and
every 401, 403, 413 and 422, which the framework decides (from the same Authorizer).

    Front -> [Starlette: errors -> BodyLimit -> auth gate -> FastAPI routes and dependencies]

No decision is restated: which targets are cached reads and under which keys is reads.py's,
whether the caller may read it is the Authorizer's (decide, which the gate and the routes'
dependencies call, and its parts), and a request with a body is never answered here.
tests/service/test_fastpath.py checks the answers equal the framework's, byte for byte.

Memory: nothing keyed by a request is stored before the Authorizer has allowed its caller. Then
the target's plan (its Target, metrics series and last messages) is remembered for the next one.
Canonical targets are short (at most MAX_TARGET_CHARS of path and query) and at most MAX_PLANS
are kept, so the plans take a bounded number of bytes whatever the requests carry.
A hit's latency waits in its plan and reaches the metrics and EMF in batches (settle), before
any read of them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from service.auth.tokens import Principal
from service.reads import Target, target_of
from service.source.base import SourceUnavailableError

if TYPE_CHECKING:
    from starlette.datastructures import State
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from service.api import Services
    from service.emf import EmfRecorder
    from service.metrics import Metrics, Series

_BODY_HEADERS = (b"content-length", b"transfer-encoding")
_HIT = b"HIT"
_JSON = b"application/json"

# Plans remembered (one per user and route in use); past this the memo starts over. With
# canonical targets only, a full memo holds about 4 MiB (tests/service/test_fastpath.py).
MAX_PLANS = 8192
# Hits whose latencies wait in their plans before Front.settle adds them to the metrics; a read
# of the metrics (a scrape, an EMF interval's end) settles first, whatever the count. A settle
# holds the event loop for about 0.3 µs per hit, so the batch stays small: 256 hits, ~70 µs,
# where 1024 held every request in flight ~0.3 ms, a p99 step the ceiling does not have.
SETTLE_AFTER_HITS = 256


def hit_messages(body: bytes) -> tuple[Message, Message]:
    """The response to a hit: the status, headers and body the route sends for it."""
    headers = [(b"content-length", b"%d" % len(body)), (b"content-type", _JSON)]
    headers.append((b"x-cache", _HIT))
    start: Message = {"type": "http.response.start", "status": 200, "headers": headers}
    return start, {"type": "http.response.body", "body": body}


class SharedStarts:
    """hit_messages' start message, built once per body length and then shared.

    Only for a sender that hands messages straight to the server (this layer): servers read a
    message and never change it, while middleware may edit headers in place. Bounded: body
    lengths are few, but nothing guarantees it.
    """

    MAX_ENTRIES = 4096

    def __init__(self) -> None:
        self._starts: dict[int, Message] = {}

    def for_body(self, body: bytes) -> Message:
        start = self._starts.get(len(body))
        if start is None:
            if len(self._starts) >= self.MAX_ENTRIES:
                self._starts.clear()
            start = self._starts[len(body)] = hit_messages(body)[0]
        return start


@dataclass(slots=True)
class _Plan:
    """A canonical target an allowed caller was answered for: what it reads, its metrics series
    (GET, the route, 200, X-Cache HIT), and the two messages that last answered it."""

    target: Target
    series: Series
    # (body, start, body message): rebuilt when the cached body object changes. Replaced as
    # one tuple, so a request holding it while it awaits never mixes two bodies' messages.
    sent: tuple[bytes, Message, Message] | None = None
    # Latencies of hits answered since the last settle (Front.settle), not yet in the metrics.
    pending: list[float] = field(default_factory=list)

    def messages(self, body: bytes, starts: SharedStarts) -> tuple[Message, Message]:
        """(start, body message) answering with `body`."""
        sent = self.sent
        if sent is None or sent[0] is not body:
            start = starts.for_body(body)
            sent = self.sent = (body, start, {"type": "http.response.body", "body": body})
        return sent[1], sent[2]


class Front:
    def __init__(
        self, app: ASGIApp, state: State, metrics: Metrics, emf: EmfRecorder | None = None
    ) -> None:
        self.app = app  # the framework: everything this layer does not answer goes there
        # The app's state: `services` appears there once the lifespan ran. Read through its
        # dict: State's __getattr__ is a Python call, on every request.
        self._state: dict[str, Any] = state._state
        self.metrics = metrics
        self.emf = emf  # CloudWatch EMF (service/emf.py): every request counted there too
        self._plans: dict[tuple[str, bytes], _Plan] = {}
        self._starts = SharedStarts()
        # Plans holding hit latencies not yet settled, and how many latencies that is.
        self._unsettled: list[_Plan] = []
        self._pending_hits = 0
        metrics.before_read.append(self.settle)
        if emf is not None:
            emf.before_take.append(self.settle)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        if scope["method"] == "GET":
            read = self._read_of(scope)
            if read is not None:
                services, path_and_query, target, plan = read
                authorizer, headers = services.authorizer, scope["headers"]
                decision = authorizer.decide_now(headers, target.user_id)
                if decision is None:  # a link to read first (a token to verify: the gate's)
                    try:
                        decision = await authorizer.decide_verified(headers, target.user_id)
                    except SourceUnavailableError:
                        decision = None  # the database is down: the framework answers it
                if isinstance(decision, Principal):
                    if plan is None:
                        plan = self._remember(path_and_query, target)
                    body = services.cache.peek(target.key)
                    if body is None:  # not in L1: Redis, as the route would ask it next
                        body = await services.cache.get_cached(target.key)
                    if body is not None:
                        start_message, body_message = plan.messages(body, self._starts)
                        try:
                            await send(start_message)
                            await send(body_message)
                        finally:
                            self._pend(plan, time.perf_counter() - start)
                        return
        await self._through(scope, receive, send, start)

    def _pend(self, plan: _Plan, seconds: float) -> None:
        """Keep a hit's latency in its plan; the metrics get it in batches (settle): two calls
        per hit into the histograms cost more than the list append."""
        pending = plan.pending
        if not pending:
            self._unsettled.append(plan)
        pending.append(seconds)
        self._pending_hits += 1
        if self._pending_hits >= SETTLE_AFTER_HITS:
            self.settle()

    def settle(self) -> None:
        """Add the hits' latencies waiting in their plans to the metrics and EMF. Synchronous
        (no await): a hit answered meanwhile cannot be lost or counted twice."""
        plans, self._unsettled = self._unsettled, []
        self._pending_hits = 0
        for plan in plans:
            pending, plan.pending = plan.pending, []
            plan.series.add_all(pending)
            if self.emf is not None:
                self.emf.record_all(plan.target.route, _HIT, pending)

    @property
    def remembered_targets(self) -> int:
        return len(self._plans)

    def _read_of(
        self, scope: Scope
    ) -> tuple[Services, tuple[str, bytes], Target, _Plan | None] | None:
        """(services, path and query, target, its plan if remembered) of a canonical cached
        read without a body, else None. Stores nothing: the caller is not decided on yet."""
        services: Services | None = self._state.get("services")
        if services is None:
            return None
        path_and_query = (scope["path"], scope["query_string"])
        plan = self._plans.get(path_and_query)
        target = plan.target if plan is not None else target_of(*path_and_query)
        if target is None:
            return None
        for name, _ in scope["headers"]:
            if name in _BODY_HEADERS:
                return None  # the body limit's to decide
        return services, path_and_query, target, plan

    def _remember(self, path_and_query: tuple[str, bytes], target: Target) -> _Plan:
        """A plan for a canonical target an allowed caller asked for."""
        if len(self._plans) >= MAX_PLANS:
            self._plans.clear()
        series = self.metrics.series_for("GET", target.route, 200, _HIT)
        plan = self._plans[path_and_query] = _Plan(target, series)
        return plan

    async def _through(self, scope: Scope, receive: Receive, send: Send, start: float) -> None:
        """The framework, timed by route template (not raw path) and counted by X-Cache."""
        status = 500
        x_cache: bytes | None = None

        async def send_status(message: Message) -> None:
            nonlocal status, x_cache
            if message["type"] == "http.response.start":
                status = message["status"]
                for name, value in message.get("headers", ()):
                    if name == b"x-cache":
                        x_cache = value
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            # Unmatched paths share one label so random URLs cannot blow up the series count.
            template = getattr(route, "path", None) or "unmatched"
            seconds = time.perf_counter() - start
            self.metrics.observe_request(scope["method"], template, status, seconds, x_cache)
            if self.emf is not None:
                self.emf.record(template, x_cache, seconds)
