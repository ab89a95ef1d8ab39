"""An open-loop HTTP/1.1 load generator: requests at a constant rate, whatever the server does.

Request k is due `k / rate` seconds after the start (wrk2's constant throughput). It goes out on
an idle keep-alive connection, on a new one while fewer than `max_connections` are open, or else
waits for the first connection to come free. Its latency runs from when the generator issued
it, not from when a connection took it: a slow server is charged for every request that waited
for a connection meanwhile (no coordinated omission, which a closed loop like wrk's hides). One
request per connection at a time, no pipelining, as a load balancer sends them to a target.

The generator issues a request when its loop reaches it: on time, unless the generator itself
was held up (a busy machine). That delay is its own, not the server's: it is left out of the
latency and recorded as `send_lag`; when it grows, the generator (or the machine it shares) is
the limit, not the server.

Only requests due inside the measured window count (after `warm_s`); those still unanswered
`grace_s` after the last one was due count as unfinished.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

# The generator's clock, in seconds. Not the event loop's: uvloop's `loop.time()` counts whole
# milliseconds and is read once per loop iteration, so a 0.4 ms answer would read as 0 or 1 ms
# and a busy iteration would shorten every latency timed in it.
clock = time.perf_counter

# Connections opened before the first request is due, so the warm-up does not start with a
# burst of TCP handshakes.
_PREOPEN = 16


class LoadError(RuntimeError):
    """The server answered in a form this generator does not read."""


def parse_response(buffer: bytes | bytearray) -> tuple[int, str, int] | None:
    """(status, X-Cache or "-", bytes used) of the first whole response in `buffer`, or None
    while it is incomplete. Responses carry Content-Length (uvicorn sets it on every one)."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = bytes(buffer[:end]).split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, x_cache = 0, "-"
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"x-cache":
            x_cache = value.strip().decode()
        elif name == b"transfer-encoding":
            raise LoadError("a chunked response: only Content-Length bodies are read")
    used = end + 4 + length
    return (status, x_cache, used) if len(buffer) >= used else None


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank q-quantile (0 < q <= 1) of `values`; 0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass
class Tally:
    """What the requests due in the measured window got."""

    rate_per_s: float
    measure_s: float
    latencies_s: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    x_cache: Counter[str] = field(default_factory=Counter)
    connection_errors: int = 0
    unfinished: int = 0
    send_lag_s: list[float] = field(default_factory=list)

    @property
    def completed(self) -> int:
        return len(self.latencies_s)

    @property
    def failed(self) -> int:
        """Answers other than 2xx, and requests whose connection broke."""
        bad = sum(n for status, n in self.statuses.items() if not 200 <= status < 300)
        return bad + self.connection_errors

    def latency_ms(self, q: float) -> float:
        """The nearest-rank q-quantile latency; unfinished requests count as infinitely late."""
        rank = math.ceil(q * (self.completed + self.unfinished))
        if rank > self.completed:
            return math.inf
        return sorted(self.latencies_s)[max(0, rank - 1)] * 1000 if rank else 0.0

    def share(self, x_cache: str) -> float:
        """The share of answers with this X-Cache value."""
        return self.x_cache[x_cache] / max(1, sum(self.x_cache.values()))

    def meets(self, p99_ms: float, x_cache: str | None = None, share: float = 0.95) -> bool:
        """The latency goal: every request answered 2xx in time, p99 at most `p99_ms`, and
        (when `x_cache` is given) at least `share` of the answers carrying that X-Cache."""
        ok = self.completed > 0 and self.failed == 0 and self.unfinished == 0
        ok = ok and self.latency_ms(0.99) <= p99_ms
        return ok and (x_cache is None or self.share(x_cache) >= share)


class _Connection(asyncio.Protocol):
    def __init__(self, owner: OpenLoop) -> None:
        self.owner = owner
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        # The request in flight: when it was due, and when the generator issued it.
        self.pending: tuple[float, float] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self.transport = cast(asyncio.Transport, transport)

    def send(self, payload: bytes, pending: tuple[float, float]) -> None:
        assert self.transport is not None
        self.pending = pending
        self.transport.write(payload)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        parsed = parse_response(self.buffer)
        if parsed is None:
            return
        status, x_cache, used = parsed
        del self.buffer[:used]
        pending, self.pending = self.pending, None
        if pending is not None:
            self.owner.answered(self, pending, status, x_cache)

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner.lost(self)


class OpenLoop:
    """`request(k)` (the k-th request's bytes) at `rate_per_s` to host:port."""

    def __init__(
        self,
        host: str,
        port: int,
        request: Callable[[int], bytes],
        rate_per_s: float,
        *,
        warm_s: float,
        measure_s: float,
        max_connections: int = 256,
        grace_s: float = 2.0,
    ) -> None:
        self.host, self.port, self.request = host, port, request
        self.rate_per_s, self.warm_s, self.measure_s = rate_per_s, warm_s, measure_s
        self.max_connections, self.grace_s = max_connections, grace_s
        self.tally = Tally(rate_per_s=rate_per_s, measure_s=measure_s)
        self.started = asyncio.Event()
        self.start = 0.0  # clock() when request 0 is due
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()
        self._opening = 0
        self._backlog: deque[tuple[int, tuple[float, float]]] = deque()
        self._in_flight = 0
        self._all_sent = False
        self._drained = asyncio.Event()  # every request sent and answered (or lost)

    def _measured(self, due: float) -> bool:
        return self.start + self.warm_s <= due < self.start + self.warm_s + self.measure_s

    async def run(self) -> Tally:
        self._loop = asyncio.get_running_loop()
        await asyncio.gather(*(self._connect() for _ in range(min(_PREOPEN, self.max_connections))))
        self.start = clock()
        self.started.set()
        total = int(self.rate_per_s * (self.warm_s + self.measure_s))
        k = 0
        while k < total:
            now = clock()
            while k < total and self.start + k / self.rate_per_s <= now:
                self._dispatch(k, self.start + k / self.rate_per_s, now)
                k += 1
            if k < total:
                await asyncio.sleep(max(0.0, self.start + k / self.rate_per_s - clock()))
        self._all_sent = True
        self._check_drained()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drained.wait(), self.grace_s)
        self._close()
        return self.tally

    def _dispatch(self, k: int, due: float, now: float) -> None:
        if self._measured(due):
            self.tally.send_lag_s.append(now - due)
        if self._idle:
            self._send(self._idle.pop(), k, (due, now))
            return
        self._backlog.append((k, (due, now)))
        if len(self._open) + self._opening < self.max_connections:
            assert self._loop is not None
            self._loop.create_task(self._connect())

    def _send(self, conn: _Connection, k: int, pending: tuple[float, float]) -> None:
        self._in_flight += 1
        conn.send(self.request(k), pending)

    async def _connect(self) -> None:
        assert self._loop is not None
        self._opening += 1
        try:
            _, conn = await self._loop.create_connection(
                lambda: _Connection(self), self.host, self.port
            )
        except OSError:
            self.tally.connection_errors += 1
            return
        finally:
            self._opening -= 1
        self._open.add(conn)
        self._free(conn)

    def _free(self, conn: _Connection) -> None:
        if self._backlog:
            k, pending = self._backlog.popleft()
            self._send(conn, k, pending)
        else:
            self._idle.append(conn)
            self._check_drained()

    def _check_drained(self) -> None:
        if self._all_sent and not self._in_flight and not self._backlog:
            self._drained.set()

    def answered(
        self, conn: _Connection, pending: tuple[float, float], status: int, x_cache: str
    ) -> None:
        self._in_flight -= 1
        due, issued = pending
        if self._measured(due):
            self.tally.latencies_s.append(clock() - issued)
            self.tally.statuses[status] += 1
            self.tally.x_cache[x_cache] += 1
        self._free(conn)

    def lost(self, conn: _Connection) -> None:
        self._open.discard(conn)
        if conn in self._idle:
            self._idle.remove(conn)
        if conn.pending is not None:
            self._in_flight -= 1
            if self._measured(conn.pending[0]):
                self.tally.connection_errors += 1
            conn.pending = None
            self._check_drained()

    def _close(self) -> None:
        # Whatever is still waiting or in flight never got its answer in time.
        late = [due for _, (due, _) in self._backlog]
        late += [c.pending[0] for c in self._open if c.pending is not None]
        self.tally.unfinished = sum(1 for due in late if self._measured(due))
        self._backlog.clear()
        for conn in list(self._open):
            conn.pending = None
            if conn.transport is not None:
                conn.transport.abort()
