"""Bounded requests (service/limits.py, the 422 handler, reports.py): big bodies get 413 before
anything buffers them, invalid input never comes back in bulk, numbers stay finite both ways."""

from __future__ import annotations

import math
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from testkit.auth import default_issuer
from testkit.servers import RedisServer
from testkit.service import ServiceProcess
from tests.service.conftest import AppFactory

MIB = 1024 * 1024
PUT_PATH = "/api/portfolio/1/holdings/AAPL"
JSON = {"Content-Type": "application/json"}


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for pid {pid}")


def reset_peak_rss(pid: int) -> bool:
    """Reset VmHWM to the current RSS (Linux: clear_refs 5); False when not permitted."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def send_body(port: int, size: int, *, chunked: bool, token: str) -> int:
    """PUT a `size`-byte JSON-ish body over a raw socket; the response's status code."""
    head = [
        f"PUT {PUT_PATH} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        f"Authorization: Bearer {token}",
        "Content-Type: application/json",
        "Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}",
        "Connection: close",
    ]
    piece = b'{"quantity": 1, "pad": "' + b"x" * (64 * 1024) + b'"'
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        sent = 0
        try:
            while sent < size:
                chunk = piece[: size - sent]
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
                sent += len(chunk)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed early: read what it said
        reply = b""
        try:
            while b"\r\n" not in reply:
                data = sock.recv(4096)
                if not data:
                    break
                reply += data
        except ConnectionResetError:
            pass
    return int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/") else 0


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_8_and_24_mib_bodies_get_413_with_flat_memory(
    redis_server: RedisServer,
    service_process_factory: Callable[..., ServiceProcess],
    tmp_path: Path,
    chunked: bool,
) -> None:
    service = service_process_factory(
        {"REDIS_PORT": str(redis_server.port), "SQLITE_PATH": str(tmp_path / "db.sqlite3")}
    )
    pid = service.proc.pid
    token = default_issuer().user_token(1)
    # Warm up every code path first (imports, key fetch, a rejected body), then measure.
    assert send_body(service.port, 100 * 1024, chunked=chunked, token=token) == 413
    before_kib = rss_kib(pid)
    peak_resettable = reset_peak_rss(pid)
    for size in (8 * MIB, 24 * MIB):
        assert send_body(service.port, size, chunked=chunked, token=token) == 413
    growth_kib = (rss_kib(pid, "VmHWM") if peak_resettable else rss_kib(pid)) - before_kib
    print(f"RSS {before_kib} KiB before, growth {growth_kib} KiB (peak reset: {peak_resettable})")
    assert growth_kib < 20 * 1024, f"RSS grew {growth_kib} KiB"
    # Still serving, and a normal write still works.
    assert send_body(service.port, 0, chunked=False, token=token) == 422  # empty body


async def test_a_body_at_the_limit_is_parsed_one_over_is_413(
    redis_server: RedisServer, make_app: AppFactory
) -> None:
    app = await make_app(redis_server, max_body_bytes=1024)
    pad = " " * (1024 - len(b'{"quantity": 1, "cost_basis": 1}'))
    at_limit = ('{"quantity": 1, "cost_basis": 1}' + pad).encode()
    assert len(at_limit) == 1024
    assert (await app.client.put(PUT_PATH, content=at_limit, headers=JSON)).status_code == 200
    over = await app.client.put(PUT_PATH, content=at_limit + b" ", headers=JSON)
    assert over.status_code == 413
    assert over.json() == {"detail": "request body larger than 1024 bytes"}

    async def stream() -> AsyncIterator[bytes]:  # chunked: no Content-Length to reject up front
        for _ in range(4):
            yield b" " * 512

    chunked = await app.client.put(PUT_PATH, content=stream(), headers=JSON)
    assert chunked.status_code == 413


async def test_a_422_never_echoes_more_than_a_little_input(
    redis_server: RedisServer, make_app: AppFactory
) -> None:
    app = await make_app(redis_server)
    big = "7" * 60_000
    for body in (
        f'{{"quantity": "{big}", "cost_basis": 1}}',
        f'{{"quantity": 1, "cost_basis": 1, "{big}": 1}}',
        f'{{"quantity": [{",".join(["1"] * 20_000)}], "cost_basis": 1}}',
        '{"quantity": ' + big[:4000] + ', "cost_basis": 1}',
    ):
        response = await app.client.put(PUT_PATH, content=body.encode(), headers=JSON)
        assert response.status_code == 422
        assert len(response.content) < 2048, response.content[:300]


@pytest.mark.parametrize(
    "raw",
    [
        b'{"quantity": 100000000000000000000, "cost_basis": 1}',  # > 64 bits
        b'{"quantity": 1, "cost_basis": 100000000000000000000000000000000000000}',
        b'{"quantity": ' + b"9" * 400 + b', "cost_basis": 1}',  # beyond a double
        b'{"quantity": 1e400, "cost_basis": 1}',  # parses as infinity
        b'{"quantity": -1e400, "cost_basis": 1}',
        b'{"quantity": NaN, "cost_basis": 1}',
        b'{"quantity": 1, "cost_basis": Infinity}',
        b'{"quantity": 1e-7, "cost_basis": 1}',  # below the smallest fraction of a share
    ],
)
async def test_out_of_range_numbers_are_422_not_500(
    redis_server: RedisServer, make_app: AppFactory, raw: bytes
) -> None:
    app = await make_app(redis_server)
    response = await app.client.put(PUT_PATH, content=raw, headers=JSON)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"][:1] == ["body"]
    assert error["type"] in (
        "less_than_equal",
        "greater_than_equal",
        "finite_number",
        "float_type",  # an integer literal beyond a double
        "json_invalid",
    ), error


async def test_ids_beyond_the_database_integer_are_422(
    redis_server: RedisServer, make_app: AppFactory
) -> None:
    app = await make_app(redis_server)
    for path in ("/api/portfolio/2147483648", "/api/portfolio/" + "9" * 30):
        assert (await app.client.get(path)).status_code == 422


async def test_a_tiny_cost_basis_never_makes_a_percentage_infinite(
    redis_server: RedisServer, make_app: AppFactory, source_kind: str
) -> None:
    app = await make_app(redis_server, source_kind)
    for quantity, cost_basis in ((1e12, 1e-300), (1e-6, 5e-324), (1e12, 0.0)):
        put = await app.client.put(
            "/api/portfolio/5/holdings/NVDA",
            json={"quantity": quantity, "cost_basis": cost_basis},
        )
        assert put.status_code == 200
        dashboard = (await app.client.get("/api/dashboard/5")).json()
        totals = dashboard["totals"]
        for name, value in totals.items():
            assert isinstance(value, int | float) and math.isfinite(value), (name, value)
        assert totals["unrealized_pnl_pct"] == 0.0  # a cost basis under half a cent
        portfolio = (await app.client.get("/api/portfolio/5")).json()
        assert all(math.isfinite(h["market_value"]) for h in portfolio["holdings"])
