"""Container health check: exit 0 iff GET http://127.0.0.1:$PORT/health answers 200 within 2 s.

Standard library only (the image has no curl, and this must not import the app).
"""

from __future__ import annotations

import os
import socket
import sys
import time

DEADLINE_S = 2.0


def check(port: int, deadline_s: float = DEADLINE_S, host: str = "127.0.0.1") -> bool:
    """True when the status line of GET /health says 200 before `deadline_s` seconds pass."""
    end = time.monotonic() + deadline_s
    request = f"GET /health HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
    try:
        with socket.create_connection((host, port), timeout=deadline_s) as sock:
            sock.sendall(request.encode("ascii"))
            received = b""
            while b"\r\n" not in received:
                left = end - time.monotonic()
                if left <= 0:
                    return False
                sock.settimeout(left)
                chunk = sock.recv(1024)
                if not chunk:
                    break
                received += chunk
    except OSError:  # refused, reset, timed out
        return False
    parts = received.split(b"\r\n", 1)[0].split()
    return len(parts) >= 2 and parts[0].startswith(b"HTTP/") and parts[1] == b"200"


def main() -> int:
    try:
        port = int(os.environ.get("PORT", "8000"))
    except ValueError:
        print("healthcheck: PORT is not an integer", file=sys.stderr)
        return 1
    return 0 if check(port) else 1


if __name__ == "__main__":
    sys.exit(main())
