"""uvicorn's httptools protocol, with two limits on a request's head (the request line and the
headers), enforced as its bytes arrive, before anything holds the head whole:

- Size: a head longer than MAX_HEADER_BYTES gets 431 and the connection is closed. At most that
  many bytes of it (and the rest of the socket read that crossed the limit) reach the parser.
  httptools itself has no limit: it joins a header's pieces as they arrive, so a 64 MiB header
  was read whole, answered 200, grew the process by 124 MiB and held the event loop for seconds.
- Time: a head not complete HEADER_TIMEOUT_S after its first byte (for a connection's first
  request: after the connection opened) gets 408 and the connection is closed; a connection
  that sent nothing at all is closed without an answer. uvicorn's keep-alive timeout covers the
  idle time between requests only: the first byte of a request cancels it, after which a head
  trickling in a byte at a time held its connection for ever.

The checks add a comparison per socket read and two assignments per request; the timeout is a
timer per connection that looks every quarter of the timeout (at most every second), not one
armed and cancelled per request.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

log = logging.getLogger(__name__)

_MAX_CHECK_PERIOD_S = 1.0


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with limits on the head; limited_protocol() sets them."""

    max_head_bytes = 64 * 1024
    head_timeout_s = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Bytes the current head may still take (None: no head is being read, a body or a
        # response is under way), and when its first byte came (loop time; None: not begun).
        self._head_room: int | None = self.max_head_bytes
        self._head_since: float | None = None
        self._head_check: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_since = self.loop.time()  # the first head is due from the opening on
        self._schedule_check()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._head_check is not None:
            self._head_check.cancel()
            self._head_check = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        room = self._head_room
        if room is None:
            super().data_received(data)
            return
        if self._head_since is None:
            self._head_since = self.loop.time()
        if len(data) <= room:
            self._head_room = room - len(data)
            super().data_received(data)
            return
        # The head would pass its limit within this read: parse what fits, then see whether
        # the head ended in it (the parser's callbacks reset _head_room when it did).
        self._head_room = 0
        super().data_received(data[:room])
        if self._head_room == 0:
            self._reject(431, "Request header fields too large")
        elif not self.transport.is_closing():
            self.data_received(data[room:])

    def on_headers_complete(self) -> None:
        self._head_room = None
        self._head_since = None
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._head_room = self.max_head_bytes  # the next bytes are the next request's head

    def _schedule_check(self) -> None:
        period_s = min(_MAX_CHECK_PERIOD_S, self.head_timeout_s / 4)
        self._head_check = self.loop.call_later(period_s, self._check_head)

    def _check_head(self) -> None:
        self._head_check = None
        if self.transport.is_closing():
            return
        since = self._head_since
        if since is not None and self.loop.time() - since >= self.head_timeout_s:
            if self._head_room == self.max_head_bytes:
                self.transport.close()  # nothing sent at all: nobody to answer
            else:
                self._reject(408, "Request head not received in time")
            return
        self._schedule_check()

    def _reject(self, status: int, reason: str) -> None:
        """Answer `status` (unless a response is under way) and close the connection."""
        self._head_room = self._head_since = None
        log.debug("closing a connection from %s: %d %s", self.client, status, reason)
        if self.cycle is None or self.cycle.response_complete:
            body = reason.encode("ascii")
            content = [STATUS_LINE[status]]
            for name, value in self.server_state.default_headers:
                content += [name, b": ", value, b"\r\n"]
            content += [
                b"content-type: text/plain; charset=utf-8\r\n",
                b"content-length: %d\r\n" % len(body),
                b"connection: close\r\n\r\n",
                body,
            ]
            self.transport.write(b"".join(content))
        self.transport.close()


def limited_protocol(max_head_bytes: int, head_timeout_s: float) -> type[HttpToolsProtocol]:
    """The protocol class for uvicorn.Config(http=...), with these limits."""

    class Limited(LimitedHttpToolsProtocol):
        pass

    Limited.max_head_bytes = max_head_bytes
    Limited.head_timeout_s = head_timeout_s
    return Limited
