"""The capacity search (bench/capacity/search.py) driving the real open-loop generator
(bench/capacity/loadgen.py) against a real HTTP/1.1 server on 127.0.0.1 whose capacity is
known: it answers one request at a time, each after `service_s`, so it serves at most
1 / service_s requests per second, and above that rate its queue (and p99) grows without
bound. The search must land near that rate, judged by the bench's own goal (Tally.meets).

The server waits rather than computes, so its capacity holds on a busy machine; a busy
machine only slows it (a sleep never ends early), which the lower bounds allow for.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from bench.capacity.loadgen import OpenLoop, Tally
from bench.capacity.search import find_capacity

P99_GOAL_MS = 100.0
REQUEST = b"GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
ANSWER = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-cache: HIT\r\n\r\n{}"

pytestmark = [pytest.mark.slow]


@contextmanager
def serial_server(service_s: float) -> Iterator[int]:
    """A keep-alive server on its own thread and loop, answering one request at a time
    across all its connections, each `service_s` after the previous one."""
    loop = asyncio.new_event_loop()
    ready: list[int] = []
    started = threading.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                async with one_at_a_time:
                    await asyncio.sleep(service_s)
                writer.write(ANSWER)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def listen() -> asyncio.Server:
        return await asyncio.start_server(handle, "127.0.0.1", 0)

    def serve() -> None:
        asyncio.set_event_loop(loop)
        server = loop.run_until_complete(listen())
        ready.append(server.sockets[0].getsockname()[1])
        started.set()
        loop.run_forever()
        server.close()
        loop.run_until_complete(server.wait_closed())

    one_at_a_time = asyncio.Lock()
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert started.wait(10), "the server did not start"
    try:
        yield ready[0]
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def _measure(port: int, rate_per_s: float) -> Tally:
    gen = OpenLoop(
        "127.0.0.1", port, lambda k: REQUEST, rate_per_s, warm_s=0.2, measure_s=0.8, grace_s=0.5
    )
    return asyncio.run(gen.run())


@pytest.mark.parametrize("service_ms", [20.0, 8.0])
def test_the_search_finds_the_rate_a_real_server_sustains(service_ms: float) -> None:
    capacity_per_s = 1000 / service_ms
    with serial_server(service_ms / 1000) as port:
        search = find_capacity(
            lambda rate: _measure(port, rate),
            lambda tally: tally.meets(P99_GOAL_MS, "HIT"),
            start_per_s=20.0,
            retries=1,
        )
    best, failed = search.best, search.first_failed
    assert best is not None and failed is not None, [(s.rate_per_s, s.passed) for s in search.steps]
    # Above its capacity the queue grows by (rate - capacity) requests a second: within the
    # one-second step, p99 passes 100 ms once that backlog holds 100 ms of work, i.e. about
    # 10 % above capacity. A slow machine lowers what it sustains, never raises it.
    assert 0.5 * capacity_per_s <= best.rate_per_s <= 1.15 * capacity_per_s
    assert failed.rate_per_s <= 1.5 * capacity_per_s
    assert best.result.latency_ms(0.99) <= P99_GOAL_MS < failed.result.latency_ms(0.99)
    assert (failed.rate_per_s - best.rate_per_s) / failed.rate_per_s <= 0.1
