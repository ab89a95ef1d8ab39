"""`python -m service`: validate settings, then serve with uvicorn (graceful stop on SIGTERM)."""

from __future__ import annotations

import gc
import logging
import signal
import sys
from types import FrameType
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

if TYPE_CHECKING:
    from service.app import ServiceAPI
    from service.settings import Settings

# Exit statuses: 2 for invalid settings (like a usage error), 3 when the app failed to start.
EXIT_INVALID_SETTINGS = 2
EXIT_STARTUP_FAILED = 3


def _server_class() -> type[Any]:
    import socket

    import uvicorn

    class Server(uvicorn.Server):
        # With OPS_PORT: this server also listens there (service/ops_port.py).
        ops_port: int | None = None

        async def serve(self, sockets: list[socket.socket] | None = None) -> None:
            if sockets is None and self.ops_port is not None:
                from service.ops_port import listen_on

                sockets = listen_on(self.config.host, (self.config.port, self.ops_port))
            await super().serve(sockets)

        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            super().handle_exit(sig, frame)
            # uvicorn re-raises the signal once drained, so the process would end "killed by
            # SIGTERM" (status 143). A SIGTERM stop is the normal end of an ECS task: exit 0.
            captured = getattr(self, "_captured_signals", None)
            if sig == signal.SIGTERM and isinstance(captured, list) and sig in captured:
                captured.remove(sig)

    return Server


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn.Config keyword arguments besides the app (bench/pair.py's ceiling has the same)."""
    from service.protocol import limited_protocol

    return {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level.lower(),
        # uvloop and httptools, chosen explicitly: the service's throughput assumes both (they
        # are pinned in service/requirements.txt), so a missing one fails the start loudly.
        # httptools with limits on request heads: size (431) and time (408).
        "loop": "uvloop",
        "http": limited_protocol(settings.max_header_bytes, settings.header_timeout_s),
        # uvicorn handles SIGTERM: stop accepting, finish in-flight requests (up to this many
        # seconds), then run the lifespan shutdown. ECS waits 30 s before SIGKILL by default.
        "timeout_graceful_shutdown": settings.shutdown_timeout_s,
        "access_log": False,  # per-request logs cost throughput; /metrics has the latencies
        "server_header": False,
        # X-Forwarded-For/-Proto are believed from the load balancer's network only.
        "proxy_headers": True,
        "forwarded_allow_ips": list(settings.forwarded_allow_ips),
    }


def main() -> int:
    from service.settings import Settings, format_errors

    try:
        settings = Settings()
    except ValidationError as exc:
        for line in format_errors(exc):
            print(line, file=sys.stderr)
        return EXIT_INVALID_SETTINGS

    server = build_server(settings)
    freeze_heap()
    server.run()
    return 0 if server.started else EXIT_STARTUP_FAILED


def build_server(settings: Settings, app: ServiceAPI | None = None) -> Any:
    """The uvicorn server of the service's app (bench/pair.py serves it the same way, with its
    own routes mounted behind the hit layer)."""
    import uvicorn

    from service.app import create_app

    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stdout,
    )
    served = app if app is not None else create_app(settings)
    options = server_options(settings)
    asgi: Any = served.front
    if settings.ops_port is not None and served.ops_app is not None:
        from service.ops_port import PortDispatch

        asgi = PortDispatch(served.front, served.ops_app, settings.ops_port)
        options["interface"] = "asgi3"  # PortDispatch returns the chosen app's coroutine
    server = _server_class()(uvicorn.Config(asgi, **options))
    server.ops_port = settings.ops_port
    return server


def freeze_heap() -> None:
    """Everything imported so far (FastAPI, pydantic's schemas, the routes: about 100k objects)
    lives as long as the process. Frozen, the collector's full passes skip it: they took up to
    35 ms each under load, a pause every request in flight waits out."""
    gc.collect()
    gc.freeze()


if __name__ == "__main__":
    sys.exit(main())
