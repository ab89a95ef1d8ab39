"""The open-loop generator (bench/capacity/loadgen.py) against a real HTTP/1.1 server on
127.0.0.1 whose answers and delays each test chooses."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from bench.capacity.loadgen import LoadError, OpenLoop, Tally, parse_response

REQUEST = b"GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def _answer(status: int, x_cache: str, body: bytes = b"{}") -> bytes:
    return (
        f"HTTP/1.1 {status} X\r\ncontent-length: {len(body)}\r\nx-cache: {x_cache}\r\n\r\n".encode()
        + body
    )


@asynccontextmanager
async def server(
    delay_s: float = 0.0, status: int = 200, answer: Callable[[int], bool] = lambda n: True
) -> AsyncIterator[int]:
    """A keep-alive server answering each request after `delay_s` (one at a time per
    connection, as HTTP/1.1 without pipelining); requests for which `answer(n)` is false are
    never answered."""
    count = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal count
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                count += 1
                if not answer(count):
                    await asyncio.sleep(3600)
                await asyncio.sleep(delay_s)
                writer.write(_answer(status, "HIT" if count % 2 else "MISS"))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    listening = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield listening.sockets[0].getsockname()[1]
    finally:
        listening.close()


async def _run(
    port: int, rate: float, *, max_connections: int = 256, grace_s: float = 2.0
) -> Tally:
    gen = OpenLoop(
        "127.0.0.1",
        port,
        lambda k: REQUEST,
        rate,
        warm_s=0.2,
        measure_s=0.5,
        max_connections=max_connections,
        grace_s=grace_s,
    )
    return await gen.run()


async def test_sends_at_the_rate_and_times_each_answer() -> None:
    async with server(delay_s=0.02) as port:
        tally = await _run(port, rate=200)
    assert tally.completed == pytest.approx(100, abs=2)
    assert (tally.failed, tally.unfinished) == (0, 0)
    assert 20 <= tally.latency_ms(0.5) < 60
    assert sum(tally.x_cache.values()) == tally.completed
    assert 0.3 < tally.share("HIT") < 0.7


async def test_requests_waiting_for_a_connection_are_charged_for_the_wait() -> None:
    """One connection and 20 ms per answer serve 50/s; at 100/s a closed loop would still
    report 20 ms per request, while each request here waits behind those due before it."""
    async with server(delay_s=0.02) as port:
        tally = await _run(port, rate=100, max_connections=1, grace_s=5.0)
    assert tally.unfinished == 0
    assert tally.latency_ms(0.5) > 100
    assert tally.latency_ms(0.99) > 300


async def test_answers_never_given_are_unfinished_and_make_p99_infinite() -> None:
    async with server(answer=lambda n: n % 10 != 0) as port:
        tally = await _run(port, rate=200, grace_s=0.3)
    assert tally.unfinished >= 5
    assert math.isinf(tally.latency_ms(0.99))
    assert tally.latency_ms(0.5) < 50


async def test_error_answers_count_as_failed() -> None:
    async with server(status=503) as port:
        tally = await _run(port, rate=50)
    assert tally.failed == tally.completed > 0


async def test_a_refused_connection_is_a_connection_error() -> None:
    async with server() as port:
        pass  # closed again: nothing listens on the port
    tally = await _run(port, rate=20, grace_s=0.2)
    assert tally.connection_errors > 0
    assert tally.completed == 0


def test_parse_response_waits_for_the_whole_body() -> None:
    whole = _answer(200, "HIT", b"0123456789")
    assert parse_response(whole[:10]) is None
    assert parse_response(whole[:-1]) is None
    assert parse_response(whole + b"next") == (200, "HIT", len(whole))


def test_a_chunked_response_is_refused() -> None:
    chunked = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
    with pytest.raises(LoadError, match="chunked"):
        parse_response(chunked)


async def test_the_generator_s_own_delay_is_recorded_as_lag_not_latency() -> None:
    """A generator held up (here: its loop blocked for 150 ms) issues the overdue requests
    late; that delay is its lag, and those requests are timed from when they were issued."""

    async def hold_up() -> None:
        await asyncio.sleep(0.4)
        time.sleep(0.15)  # noqa: ASYNC251 - blocks the loop on purpose: a held-up generator

    async with server() as port:
        holding = asyncio.ensure_future(hold_up())
        tally = await _run(port, rate=200)
        await holding
    lags_ms = sorted(lag * 1000 for lag in tally.send_lag_s)
    assert lags_ms[-1] >= 100
    assert tally.latency_ms(0.9) < lags_ms[-1]
