"""What the served process holds for requests it refuses, and its limits on request heads
(service/protocol.py), measured on `python -m service` over real sockets, RSS from /proc."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from service.__main__ import server_options
from service.settings import Settings
from testkit.auth import default_issuer
from testkit.servers import RedisServer
from testkit.service import ServiceProcess, service_settings

StartService = Callable[..., ServiceProcess]
MIB = 1024 * 1024


def _status_bytes(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} for {pid}")


def rss_bytes(pid: int) -> int:
    return _status_bytes(pid, "VmRSS")


def peak_rss_bytes(pid: int) -> int:
    """The highest RSS since the last reset_peak_rss (or the start)."""
    return _status_bytes(pid, "VmHWM")


def reset_peak_rss(pid: int) -> None:
    # Linux: "5" resets the peak RSS to the current RSS (proc(5), clear_refs).
    Path(f"/proc/{pid}/clear_refs").write_text("5")


@contextlib.contextmanager
def connection(service: ServiceProcess, timeout_s: float = 30.0) -> Iterator[socket.socket]:
    with socket.create_connection(("127.0.0.1", service.port), timeout=timeout_s) as sock:
        yield sock


def read_responses(sock: socket.socket, count: int) -> list[bytes]:
    """The status lines of the next `count` responses (bodies are short JSON, never a status)."""
    data = b""
    while data.count(b"HTTP/1.1 ") < count:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"closed after {data.count(b'HTTP/1.1 ')} of {count} responses")
        data += chunk
    statuses = re.findall(rb"HTTP/1\.1 \d{3}[^\r]*", data)
    assert len(statuses) == count, statuses
    return statuses


def send_anonymous_gets(service: ServiceProcess, first: int, count: int, batch: int = 16) -> None:
    """`count` anonymous GETs of a cached read, each with a fresh 16 KiB query string,
    pipelined `batch` at a time on one connection; every answer must be 401."""
    padding = "x" * 16384
    with connection(service) as sock:
        for start in range(first, first + count, batch):
            numbers = range(start, min(start + batch, first + count))
            sock.sendall(
                b"".join(
                    f"GET /api/portfolio/1?q={n}{padding} HTTP/1.1\r\nHost: t\r\n\r\n".encode()
                    for n in numbers
                )
            )
            statuses = read_responses(sock, len(numbers))
            assert all(s.startswith(b"HTTP/1.1 401") for s in statuses), statuses[:3]


@pytest.mark.slow
def test_anonymous_requests_with_fresh_query_strings_leave_memory_flat(
    redis_server: RedisServer, service_process_factory: StartService
) -> None:
    """44,000 anonymous GETs with 16 KiB query strings (about 700 MiB of targets), all 401:
    the process keeps nothing of them (the hit layer stores nothing before authentication)."""
    service = service_process_factory({"REDIS_PORT": str(redis_server.port)})
    send_anonymous_gets(service, 0, 2000)  # warm: allocator arenas, the 401 path
    reset_peak_rss(service.proc.pid)
    before = rss_bytes(service.proc.pid)
    errors: list[BaseException] = []

    def client(first: int) -> None:
        try:
            send_anonymous_gets(service, first, 11_000)
        except BaseException as exc:  # a client's failure must fail the test
            errors.append(exc)

    workers = [threading.Thread(target=client, args=(100_000 * (k + 1),)) for k in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    assert errors == []
    grown = peak_rss_bytes(service.proc.pid) - before
    assert grown < 20 * MIB, f"RSS grew by {grown / MIB:.1f} MiB"


def test_a_64_mib_header_gets_431_and_others_are_served_meanwhile(
    redis_server: RedisServer, service_process_factory: StartService
) -> None:
    service = service_process_factory({"REDIS_PORT": str(redis_server.port)})
    with connection(service) as sock:  # warm the /health path first
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        read_responses(sock, 1)
    reset_peak_rss(service.proc.pid)
    before = rss_bytes(service.proc.pid)
    latencies_s: list[float] = []
    sending = threading.Event()
    done = threading.Event()

    def others() -> None:
        with connection(service) as sock:
            sending.wait(10)
            while not done.is_set():
                started = time.perf_counter()
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
                read_responses(sock, 1)
                latencies_s.append(time.perf_counter() - started)
                time.sleep(0.01)

    other = threading.Thread(target=others)
    other.start()
    try:
        answer = send_huge_header(service, 64 * MIB, sending)
    finally:
        time.sleep(0.3)  # a few more requests of the other client after the rejection
        done.set()
        other.join(timeout=30)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    grown = peak_rss_bytes(service.proc.pid) - before
    assert grown < 5 * MIB, f"RSS grew by {grown / MIB:.1f} MiB"
    assert len(latencies_s) >= 5 and max(latencies_s) < 0.5, latencies_s


def send_huge_header(service: ServiceProcess, size_bytes: int, sending: threading.Event) -> bytes:
    """Send a GET whose one header is `size_bytes` long, reading the answer meanwhile (the
    server may answer and close before the header is sent): what came back."""
    received = bytearray()
    with connection(service) as sock:

        def read() -> None:
            # A reset follows the answer: the server closed with our bytes unread.
            with contextlib.suppress(OSError):
                while chunk := sock.recv(65536):
                    received.extend(chunk)

        reader = threading.Thread(target=read)
        reader.start()
        sending.set()
        head = b"GET /health HTTP/1.1\r\nHost: t\r\nX-Big: "
        # The server closes the connection once it has read its limit: sending then fails.
        with contextlib.suppress(OSError):
            sock.sendall(head + b"a" * size_bytes + b"\r\n\r\n")
        reader.join(timeout=60)
    return bytes(received)


def test_a_body_arriving_with_its_head_is_not_counted_as_head(
    redis_server: RedisServer, service_process_factory: StartService
) -> None:
    """A head and a body sent in one write that together pass MAX_HEADER_BYTES, followed by a
    second request on the same connection: the head limit applies to the heads only."""
    service = service_process_factory({"REDIS_PORT": str(redis_server.port)})
    body = b'{"quantity": 3, "cost_basis": 10}' + b" " * (64 * 1024 - 100)  # < MAX_BODY_BYTES
    token = default_issuer().user_token(1)
    put = (
        b"PUT /api/portfolio/1/holdings/AAPL HTTP/1.1\r\nHost: t\r\n"
        b"Content-Type: application/json\r\nAuthorization: Bearer %s\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (token.encode(), len(body), body)
    )
    assert len(put) > 64 * 1024
    with connection(service) as sock:
        sock.sendall(put + b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n")
        statuses = read_responses(sock, 2)
    assert [s[:12] for s in statuses] == [b"HTTP/1.1 200", b"HTTP/1.1 200"], statuses


def test_a_head_that_never_finishes_gets_408_and_the_connection_closed(
    redis_server: RedisServer, service_process_factory: StartService
) -> None:
    service = service_process_factory(
        {"REDIS_PORT": str(redis_server.port), "HEADER_TIMEOUT_S": "1"}
    )
    with connection(service, timeout_s=10) as slow, connection(service) as idle:
        started = time.monotonic()
        slow.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n")
        answer = b""
        while time.monotonic() - started < 6:
            try:
                slow.sendall(b"X-Slow: a\r\n")  # a header line every 0.2 s, never the end
            except OSError:
                break
            slow.settimeout(0.2)
            try:
                chunk = slow.recv(4096)
            except TimeoutError:
                continue
            answer += chunk
            if not chunk or answer.endswith(b"in time"):
                break
        assert answer.startswith(b"HTTP/1.1 408 "), answer
        assert time.monotonic() - started < 3
        # A connection that never sent a byte is closed too, without an answer.
        idle.settimeout(5)
        assert idle.recv(100) == b""
    # and a client that finishes its head in time is served as ever
    with connection(service) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n")
        time.sleep(0.5)
        sock.sendall(b"\r\n")
        assert read_responses(sock, 1)[0].startswith(b"HTTP/1.1 200")


async def test_forwarded_headers_are_believed_from_the_load_balancers_network_only() -> None:
    """The served app (uvicorn's proxy-headers layer with the service's options): a peer in
    FORWARDED_ALLOW_IPS sets the scheme and client address; any other peer does not."""
    settings = service_settings(None, forwarded_allow_ips="10.0.0.0/16")
    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.update(scheme=scope["scheme"], client=scope["client"])

    served = served_app(app, settings)
    forwarded = [(b"x-forwarded-proto", b"https"), (b"x-forwarded-for", b"198.51.100.7")]
    for peer, expected in [
        ("10.0.3.9", ("https", "198.51.100.7")),  # the load balancer
        ("203.0.113.5", ("http", "203.0.113.5")),  # anyone else
        ("127.0.0.1", ("http", "127.0.0.1")),
    ]:
        scope = {"type": "http", "scheme": "http", "client": (peer, 5000), "headers": forwarded}
        await served(scope, None, None)
        assert (seen["scheme"], seen["client"][0]) == expected, peer
    # The default trusts this host only.
    served = served_app(app, service_settings(None))
    await served({**scope, "client": ("10.0.3.9", 5000)}, None, None)
    assert seen["scheme"] == "http"


def served_app(app: Any, settings: Settings) -> Any:
    config = uvicorn.Config(app, **server_options(settings))
    config.load()
    return config.loaded_app
