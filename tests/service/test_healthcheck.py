"""Container health check (service/healthcheck.py) against real sockets."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from service.healthcheck import check
from testkit.servers import free_port
from testkit.service import ROOT, service_env


def http_server(status: int) -> Iterator[int]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status if self.path == "/health" else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture
def healthy_port() -> Iterator[int]:
    yield from http_server(200)


@pytest.fixture
def unhealthy_port() -> Iterator[int]:
    yield from http_server(503)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """Accepts connections, never answers (a wedged event loop)."""
    listener = socket.create_server(("127.0.0.1", 0))
    yield listener.getsockname()[1]
    listener.close()


def test_200_is_healthy(healthy_port: int) -> None:
    assert check(healthy_port)


def test_503_is_unhealthy(unhealthy_port: int) -> None:
    assert not check(unhealthy_port)


def test_nothing_listening_is_unhealthy() -> None:
    assert not check(free_port())


def test_a_silent_server_is_unhealthy_within_the_deadline(silent_port: int) -> None:
    start = time.monotonic()
    assert not check(silent_port, deadline_s=0.5)
    assert time.monotonic() - start < 1.0


def test_module_exit_status_follows_port_env(healthy_port: int, silent_port: int) -> None:
    def run(port: int) -> tuple[int, float]:
        start = time.monotonic()
        code = subprocess.run(
            [sys.executable, "-m", "service.healthcheck"],
            cwd=ROOT,
            env=service_env(PORT=str(port)),
            timeout=10,
        ).returncode
        return code, time.monotonic() - start

    assert run(healthy_port)[0] == 0
    code, elapsed_s = run(silent_port)
    assert code == 1
    assert elapsed_s < 3.0  # 2 s deadline plus interpreter start


def test_imports_nothing_but_the_standard_library() -> None:
    # The check runs every few seconds in the container: no FastAPI/pydantic import cost.
    probe = (
        "import sys, service.healthcheck; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('fastapi', 'pydantic', 'redis', 'psycopg', 'uvicorn', 'starlette')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
