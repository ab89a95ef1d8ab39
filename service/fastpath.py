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
    from starlette.types import ASGIApp, Receive, Scope, Send

_USER_PATH = re.compile(r"/api/(portfolio|dashboard)/([1-9][0-9]{0,9})")
_BASELINE_PATH = re.compile(r"/bench/baseline/([1-9][0-9]{0,9})")
_BENCH_CACHED_PATH = re.compile(r"/bench/cached/([1-9][0-9]{0,9})")
_LIMIT_QUERY = re.compile(rb"limit=([1-9][0-9]?)")
_DEFAULT_PICKS = 10
_JSON = b"application/json"


@dataclass(frozen=True)
class RouteLabel:
    """Stands in for the matched route in scope["route"], for the metrics' route label."""

    path: str


_PORTFOLIO = RouteLabel("/api/portfolio/{user_id}")
_DASHBOARD = RouteLabel("/api/dashboard/{user_id}")
_TOP_PICKS = RouteLabel("/api/top-picks")
_BASELINE = RouteLabel("/bench/baseline/{user_id}")
_BENCH_CACHED = RouteLabel("/bench/cached/{user_id}")


class CachedReadFastPath:
    def __init__(self, app: ASGIApp, state: State) -> None:
        self.app = app
        self.state = state  # the app's state: `services` appears there once the lifespan ran

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            found = await self._lookup(scope)
            if found is not None:
                body, route, x_cache = found
                scope["route"] = route
                headers = [
                    (b"content-length", str(len(body)).encode()),
                    (b"content-type", _JSON),
                ]
                if x_cache:
                    headers.append((b"x-cache", b"HIT"))
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    async def _lookup(self, scope: Scope) -> tuple[bytes, RouteLabel, bool] | None:
        services = getattr(self.state, "services", None)
        if services is None:
            return None
        path: str = scope["path"]
        if match := _USER_PATH.fullmatch(path):
            user_id = int(match[2])
            if user_id > MAX_USER_ID:
                return None
            principal = scope.get("auth")
            if principal is None or not await services.authorizer.may_act_for(principal, user_id):
                return None
            if match[1] == "portfolio":
                key, route = portfolio_key(user_id), _PORTFOLIO
            else:
                key, route = dashboard_key(user_id), _DASHBOARD
        elif path == "/api/top-picks":
            query: bytes = scope["query_string"]
            if not query:
                limit = _DEFAULT_PICKS
            elif (limit_match := _LIMIT_QUERY.fullmatch(query)) and int(
                limit_match[1]
            ) <= MAX_PICKS:
                limit = int(limit_match[1])
            else:
                return None
            key, route = top_picks_key(limit), _TOP_PICKS
        elif services.bench_memo is not None and (match := _BASELINE_PATH.fullmatch(path)):
            # The benchmark's memory baseline takes the same path as a hit, minus the cache.
            memo: bytes | None = services.bench_memo.get(int(match[1]))
            return None if memo is None else (memo, _BASELINE, False)
        elif services.bench_memo is not None and (match := _BENCH_CACHED_PATH.fullmatch(path)):
            # The benchmark's cached read without authentication (local stage only), to measure
            # what authentication adds to a hit.
            key, route = portfolio_key(int(match[1])), _BENCH_CACHED
        else:
            return None
        # L1, else Redis: a Redis hit skips the framework too. A miss goes on to the route.
        body = services.cache.peek(key)
        if body is None:
            body = await services.cache.get_cached(key)
        return None if body is None else (body, route, True)
