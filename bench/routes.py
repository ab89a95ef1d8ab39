"""The benchmark's own routes, served beside the service by bench/pair.py (the product has none):

    GET /bench/baseline/{user_id}  (a) the user's portfolio bytes from a plain dict (read from
                                   the source of truth on the first request), no cache, no auth
    GET /bench/cached/{user_id}    (n) the cached portfolio read (Cache.fetch), no auth

mount() puts them where the framework sits, behind the service's hit layer (Front.app): a
request to them takes the layer's way through for every request it does not answer itself
(timed, counted under its route template), then a path match and a dict or cache read instead
of Starlette, the gate and routing. They answer with the headers the portfolio route sends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from service.keys import portfolio_key
from service.reports import load_portfolio

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

    from service.api import Services
    from service.app import ServiceAPI

_PATH = re.compile(r"/bench/(baseline|cached)/([1-9][0-9]{0,9})")
_JSON = b"application/json"
_NOT_FOUND = b'{"detail":"no such user"}'


@dataclass(frozen=True)
class _Route:
    """Stands in for the matched route in scope["route"]: the hit layer labels metrics by it."""

    path: str


_ROUTES = {kind: _Route(f"/bench/{kind}/{{user_id}}") for kind in ("baseline", "cached")}


class BenchRoutes:
    def __init__(self, app: ASGIApp, service: ServiceAPI) -> None:
        self.app = app
        self.service = service
        self.memo: dict[int, bytes] = {}  # user id -> portfolio bytes, for the baseline

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = _PATH.fullmatch(scope["path"]) if scope["type"] == "http" else None
        if match is None or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        scope["route"] = _ROUTES[match[1]]
        services: Services = self.service.state.services
        user_id = int(match[2])
        if match[1] == "baseline":
            body, x_cache = await self._baseline(services, user_id), None
        else:
            body, status = await services.cache.fetch(
                portfolio_key(user_id),
                services.settings.cache_ttl_portfolio_s,
                partial(load_portfolio, services.source, user_id),
            )
            x_cache = status.value.encode()
        await _answer(send, body, x_cache)

    async def _baseline(self, services: Services, user_id: int) -> bytes | None:
        body = self.memo.get(user_id)
        if body is None:
            body = await load_portfolio(services.source, user_id)
            if body is not None:
                self.memo[user_id] = body
        return body


async def _answer(send: Send, body: bytes | None, x_cache: bytes | None) -> None:
    status = 200 if body is not None else 404
    sent = body if body is not None else _NOT_FOUND
    headers = [(b"content-length", b"%d" % len(sent)), (b"content-type", _JSON)]
    if x_cache is not None:
        headers.append((b"x-cache", x_cache))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": sent})


def mount(service: ServiceAPI) -> BenchRoutes:
    """Serve the benchmark's routes behind the service's hit layer, in front of its framework."""
    routes = BenchRoutes(service.front.app, service)
    service.front.app = routes
    return routes
