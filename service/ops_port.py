"""The ops port (OPS_PORT): /ready, /metrics, /cache/stats and the API docs, off the public port.

Where no load balancer filters paths (Render's public URL, a published compose port), every
route on PORT answers whoever reaches it. With OPS_PORT set, one process listens on both ports
(one uvicorn server, one event loop, one lifespan): requests that arrive on OPS_PORT go to a
small app holding the ops routes and the docs, everything else to the service app, which then
serves neither. Both apps share the service's state (cache, source, metrics), so /ready and
/metrics report exactly what the API uses. On Render only the port in PORT is public; other
ports are reachable on the workspace's private network only.
"""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Awaitable, Iterable
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from service.api import ops_router

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("uvicorn.error")
# uvicorn's own status when the server cannot start (a port taken, ...).
_STARTUP_FAILURE = 3


def create_ops_app(service: FastAPI) -> FastAPI:
    """The app of the ops port: the ops routes, and the docs of the whole API."""
    ops = FastAPI(title=f"{service.title} (ops port)", version=service.version)
    ops.state = service.state  # the service's cache, source and metrics, once its lifespan ran
    ops.include_router(ops_router)

    def openapi() -> dict[str, Any]:
        if ops.openapi_schema is None:
            ops.openapi_schema = get_openapi(
                title=service.title,
                version=service.version,
                summary=service.summary,
                routes=[*service.routes, *ops.routes],
            )
        return ops.openapi_schema

    ops.openapi = openapi  # type: ignore[method-assign]
    return ops


class PortDispatch:
    """An ASGI app that hands each request to the app of the local port it arrived on. Not a
    coroutine function (uvicorn is told `interface="asgi3"`): it returns the chosen app's
    coroutine, so a request costs no extra frame. Lifespan events go to the service app."""

    def __init__(self, public: ASGIApp, ops: ASGIApp, ops_port: int) -> None:
        self.public = public
        self.ops = ops
        self.ops_port = ops_port

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        server = scope.get("server")
        app = self.ops if server is not None and server[1] == self.ops_port else self.public
        return app(scope, receive, send)


def listen_on(host: str, ports: Iterable[int]) -> list[socket.socket]:
    """Listening sockets on `host`, one per port, or exit 3 (as uvicorn does) naming the port
    that cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets: list[socket.socket] = []
    for port in ports:
        try:
            sockets.append(socket.create_server((host, port), family=family))
        except OSError as exc:
            for sock in sockets:
                sock.close()
            log.error("cannot listen on %s:%d: %s", host, port, exc)
            sys.exit(_STARTUP_FAILURE)
        log.info("listening on http://%s:%d", host, port)
    return sockets
