"""Serve cache hits (L1, else Redis) before FastAPI routing and validation.

A cache hit is already the exact response body (serialized JSON bytes), so parsing the path
with one regex is all the work it needs; running it through the framework's routing, dependency
solving and parameter validation would cost several times more than the hit itself.

Only requests that are unambiguous are answered here: GET on the canonical paths with values
that are valid for the real routes. Anything else, and every L1 miss, falls through to FastAPI
unchanged, so behaviour (status, body, headers) is the same either way; tests check it.

Authorization first: the auth gate (outside this middleware) has verified the token; a user's
data is answered here only when that caller may act for that user, else the request falls
through and the route answers 403. The cache holds data, never a decision about who may read it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from service.keys import dashboard_key, portfolio_key, top_picks_key
from service.models import MAX_PICKS, MAX_USER_ID

if TYPE_CHECKING:
    from starlette.datastructures import State
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

_USER_PATH = re.compile(r"/api/(portfolio|dashboard)/([1-9][0-9]{0,9})")
_BASELINE_PATH = re.compile(r"/bench/baseline/([1-9][0-9]{0,9})")
_BENCH_CACHED_PATH = re.compile(r"/bench/cached/([1-9][0-9]{0,9})")
_LIMIT_QUERY = re.compile(rb"limit=([1-9][0-9]?)")
_DEFAULT_PICKS = 10
_JSON = b"application/json"


@dataclass(frozen=True, slots=True)
class RouteLabel:
    """Stands in for the matched route in scope["route"], for the metrics' route label."""

    path: str
    protected: bool  # under /api/: answered only to a verified caller
    per_user: bool  # one user's data: answered only to a caller who may act for that user


_PORTFOLIO = RouteLabel("/api/portfolio/{user_id}", protected=True, per_user=True)
_DASHBOARD = RouteLabel("/api/dashboard/{user_id}", protected=True, per_user=True)
_TOP_PICKS = RouteLabel("/api/top-picks", protected=True, per_user=False)
_BASELINE = RouteLabel("/bench/baseline/{user_id}", protected=False, per_user=False)
_BENCH_CACHED = RouteLabel("/bench/cached/{user_id}", protected=False, per_user=False)


def read_of(scope: Scope, bench: bool) -> tuple[RouteLabel, str | None, int] | None:
    """(route, cache key, user id) of a GET the fast paths may answer, else None.

    The key is None for the benchmark's baseline (answered from its memo by user id); the user
    id is 0 for top-picks (no user's data). Only canonical paths with values the real routes
    accept: everything else is the framework's to answer (and to reject).
    """
    path: str = scope["path"]
    if match := _USER_PATH.fullmatch(path):
        user_id = int(match[2])
        if user_id > MAX_USER_ID:
            return None
        if match[1] == "portfolio":
            return _PORTFOLIO, portfolio_key(user_id), user_id
        return _DASHBOARD, dashboard_key(user_id), user_id
    if path == "/api/top-picks":
        query: bytes = scope["query_string"]
        if not query:
            return _TOP_PICKS, top_picks_key(_DEFAULT_PICKS), 0
        if (limit_match := _LIMIT_QUERY.fullmatch(query)) and int(limit_match[1]) <= MAX_PICKS:
            return _TOP_PICKS, top_picks_key(int(limit_match[1])), 0
        return None
    if not bench:
        return None
    if match := _BASELINE_PATH.fullmatch(path):
        # The benchmark's memory baseline takes the same path as a hit, minus the cache.
        return _BASELINE, None, int(match[1])
    if match := _BENCH_CACHED_PATH.fullmatch(path):
        # The benchmark's cached read without authentication (local stage only), to measure
        # what authentication adds to a hit.
        return _BENCH_CACHED, portfolio_key(int(match[1])), int(match[1])
    return None


def hit_messages(body: bytes, x_cache: bool) -> tuple[Message, Message]:
    """The response to a hit: the same status, headers and body the route would send."""
    headers = [(b"content-length", b"%d" % len(body)), (b"content-type", _JSON)]
    if x_cache:
        headers.append((b"x-cache", b"HIT"))
    start: Message = {"type": "http.response.start", "status": 200, "headers": headers}
    return start, {"type": "http.response.body", "body": body}


class SharedStarts:
    """hit_messages' start message, built once per (body length, X-Cache) and then shared.

    Only for a sender that hands messages straight to the server (service/front.py): servers
    read a message and never change it, while middleware may edit headers in place. Bounded:
    body lengths are few, but nothing guarantees it.
    """

    MAX_ENTRIES = 4096

    def __init__(self) -> None:
        self._starts: dict[tuple[int, bool], Message] = {}

    def for_body(self, body: bytes, x_cache: bool) -> Message:
        start = self._starts.get((len(body), x_cache))
        if start is None:
            if len(self._starts) >= self.MAX_ENTRIES:
                self._starts.clear()
            start = self._starts[(len(body), x_cache)] = hit_messages(body, x_cache)[0]
        return start


class CachedReadFastPath:
    """Hits the outermost layer (service/front.py) could not answer synchronously: a Redis
    hit, a token seen for the first time, an identity link not read yet."""

    def __init__(self, app: ASGIApp, state: State) -> None:
        self.app = app
        self.state = state  # the app's state: `services` appears there once the lifespan ran

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            found = await self._lookup(scope)
            if found is not None:
                body, route, x_cache = found
                scope["route"] = route
                start, sent_body = hit_messages(body, x_cache)
                await send(start)
                await send(sent_body)
                return
        await self.app(scope, receive, send)

    async def _lookup(self, scope: Scope) -> tuple[bytes, RouteLabel, bool] | None:
        services = getattr(self.state, "services", None)
        if services is None:
            return None
        read = read_of(scope, services.bench_memo is not None)
        if read is None:
            return None
        route, key, user_id = read
        if route.per_user:
            principal = scope.get("auth")
            if principal is None or not await services.authorizer.may_act_for(principal, user_id):
                return None
        if key is None:
            memo: bytes | None = services.bench_memo.get(user_id)
            return None if memo is None else (memo, route, False)
        # L1, else Redis: a Redis hit skips the framework too. A miss goes on to the route.
        body = services.cache.peek(key)
        if body is None:
            body = await services.cache.get_cached(key)
        return None if body is None else (body, route, True)
