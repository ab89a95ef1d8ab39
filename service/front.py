"""The outermost ASGI layer: times and counts every request, and answers most cache hits itself.

A hit needs four dictionary lookups: the target's plan (route, key and metrics series), the
caller's token among the verified ones, the caller's user link (unless admin), and the body in
L1. When all of them are already known, this layer sends the cached bytes without entering
Starlette, the body limit, the auth gate or the inner fast path; each of those layers costs an
await and a closure per request, together several times the hit itself. A hit's latency waits
in its plan and reaches the metrics and EMF in batches (settle), before any read of them.
Anything else falls through to the full stack unchanged (that stack is what decides every 401,
403, 413, 422 and miss), timed here like before:

    Front -> [Starlette: errors -> BodyLimit -> Auth -> CachedReadFastPath -> FastAPI routes]

Every decision here is one the full stack would make the same way, from the same state:
- the body limit: a request with any body (Content-Length or Transfer-Encoding) falls through;
- authentication: exactly one `Authorization: Bearer` header whose token was verified before
  and has not expired (TokenVerifier.cached_header: the entry the auth gate's cached() reads,
  found by the header's bytes);
- authorization: Authorizer.decided, the synchronous part of may_act_for (admin, or the link
  read from the database within AUTH_IDENTITY_CACHE_TTL_S), never a cached decision;
- the cache: Cache.peek (L1 only, counted as a HIT), as the inner fast path does first.
tests/service/test_fastpath.py checks the answers are the same byte for byte.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from service.fastpath import RouteLabel, SharedStarts, read_of

if TYPE_CHECKING:
    from starlette.datastructures import State
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

    from service.api import Services
    from service.emf import EmfRecorder
    from service.metrics import Metrics, Series

_BODY_HEADERS = (b"content-length", b"transfer-encoding")
_HIT = b"HIT"


@dataclass(slots=True)
class _Plan:
    """A GET target's route, cache key and user (fastpath.read_of), its metrics series, and
    the two messages that last answered it."""

    route: RouteLabel
    key: str | None  # None: the benchmark's baseline (its memo, no cache)
    user_id: int
    series: Series  # GET, the route, 200, X-Cache HIT (or none for the baseline)
    # (body, start, body message): rebuilt when the cached body object changes. Replaced as
    # one tuple, so a request holding it while it awaits never mixes two bodies' messages.
    sent: tuple[bytes, Message, Message] | None = None
    # Latencies of hits answered since the last settle (Front.settle), not yet in the metrics.
    pending: list[float] = field(default_factory=list)

    def messages(self, body: bytes, starts: SharedStarts) -> tuple[Message, Message]:
        """(start, body message) answering with `body`."""
        sent = self.sent
        if sent is None or sent[0] is not body:
            start = starts.for_body(body, self.key is not None)
            sent = self.sent = (body, start, {"type": "http.response.body", "body": body})
        return sent[1], sent[2]


# Distinct targets remembered (each user's portfolio and dashboard is one); past this the memo
# starts over, so made-up URLs cannot grow it.
_MAX_PLANS = 50_000
# Hits whose latencies wait in their plans before Front.settle adds them to the metrics; a read
# of the metrics (a scrape, an EMF interval's end) settles first, whatever the count. A settle
# holds the event loop for about 0.3 µs per hit, so the batch stays small: 256 hits, ~70 µs,
# where 1024 held every request in flight ~0.3 ms, a p99 step the ceiling does not have.
SETTLE_AFTER_HITS = 256


class Front:
    def __init__(
        self, app: ASGIApp, state: State, metrics: Metrics, emf: EmfRecorder | None = None
    ) -> None:
        self.app = app
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
            hit = self._hit(scope)
            if hit is not None:
                plan, body = hit
                start_message, body_message = plan.messages(body, self._starts)
                try:
                    await send(start_message)
                    await send(body_message)
                finally:
                    # Kept in the plan, added to the metrics in batches (settle): two calls
                    # per hit into the histograms cost more than the list append.
                    pending = plan.pending
                    if not pending:
                        self._unsettled.append(plan)
                    pending.append(time.perf_counter() - start)
                    self._pending_hits += 1
                    if self._pending_hits >= SETTLE_AFTER_HITS:
                        self.settle()
                return
        await self._through(scope, receive, send, start)

    def settle(self) -> None:
        """Add the hits' latencies waiting in their plans to the metrics and EMF. Synchronous
        (no await): a hit answered meanwhile cannot be lost or counted twice."""
        plans, self._unsettled = self._unsettled, []
        self._pending_hits = 0
        for plan in plans:
            pending, plan.pending = plan.pending, []
            plan.series.add_all(pending)
            if self.emf is not None:
                hit_label = _HIT if plan.key is not None else None
                self.emf.record_all(plan.route.path, hit_label, pending)

    @property
    def remembered_targets(self) -> int:
        return len(self._plans)

    def _new_plan(
        self, target: tuple[str, bytes], scope: Scope, services: Services
    ) -> _Plan | None:
        """What a GET of this path and query reads, worked out once per distinct target."""
        read = read_of(scope, services.bench_memo is not None)
        if read is None:
            return None  # not remembered: only answerable targets take room
        route, key, user_id = read
        x_cache = b"HIT" if key is not None else None
        series = self.metrics.series_for("GET", route.path, 200, x_cache)
        if len(self._plans) >= _MAX_PLANS:
            self._plans.clear()
        plan = self._plans[target] = _Plan(route, key, user_id, series)
        return plan

    def _hit(self, scope: Scope) -> tuple[_Plan, bytes] | None:
        """(plan, body) of a hit answerable without an await, else None."""
        services: Services | None = self._state.get("services")
        if services is None:
            return None
        target = (scope["path"], scope["query_string"])
        plan = self._plans.get(target) or self._new_plan(target, scope, services)
        if plan is None:
            return None
        route, key, user_id = plan.route, plan.key, plan.user_id
        authorization: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                if authorization is not None:
                    return None  # the gate answers 401
                authorization = value
            elif name in _BODY_HEADERS:
                return None  # the body limit decides
        if route.protected:
            if authorization is None:
                return None
            principal = services.authorizer.verifier.cached_header(authorization)
            if principal is None or (
                route.per_user and services.authorizer.decided(principal, user_id) is not True
            ):
                return None
        if key is None:  # the benchmark's baseline: its memo, no cache
            memo = services.bench_memo.get(user_id) if services.bench_memo is not None else None
            return None if memo is None else (plan, memo)
        body = services.cache.peek(key)
        return None if body is None else (plan, body)

    async def _through(self, scope: Scope, receive: Receive, send: Send, start: float) -> None:
        """The full stack, timed by route template (not raw path) and counted by X-Cache."""
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
