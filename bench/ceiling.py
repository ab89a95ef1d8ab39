"""The server's own ceiling: a bare ASGI callable that answers with recorded responses.

bench/pair.py serves it beside the service, in the service's process and under exactly the
service's uvicorn options (service.__main__.server_options: one worker, uvloop, httptools): the
bytes and headers the service gave for each path and query. No framework, no middleware, no
cache, no authentication: a dict lookup and two sends. Whatever a cached read costs beyond this
is the service's own overhead (bench/service.py reports it as a ratio).

RESPONSES_JSON: {"<path>?<query>": {"headers": [[name, value], ...], "body": "<base64>"}}.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

_NOT_FOUND = (
    {"type": "http.response.start", "status": 404, "headers": [(b"content-length", b"0")]},
    {"type": "http.response.body", "body": b""},
)


def load_responses(path: Path) -> dict[tuple[str, bytes], tuple[dict[str, Any], dict[str, Any]]]:
    """(path, query) -> the two ASGI messages answering it, built once."""
    recorded = json.loads(path.read_text())
    responses = {}
    for target, response in recorded.items():
        route, _, query = target.partition("?")
        headers = [(name.encode(), value.encode()) for name, value in response["headers"]]
        body = base64.b64decode(response["body"])
        start = {"type": "http.response.start", "status": 200, "headers": headers}
        responses[(route, query.encode())] = (start, {"type": "http.response.body", "body": body})
    return responses


def make_app(
    responses: dict[tuple[str, bytes], tuple[dict[str, Any], dict[str, Any]]],
) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        start, body = responses.get((scope["path"], scope["query_string"]), _NOT_FOUND)
        await send(start)
        await send(body)

    return app
