"""One process, two servers: the service and its ceiling, side by side for bench/service.py.

`python -m bench.pair RESPONSES_JSON CEILING_PORT` serves the service exactly as `python -m
service` does (same settings from the environment, same uvicorn options, same frozen heap) on
PORT, plus the benchmark's own routes behind its hit layer (bench/routes.py), and the ceiling
(bench/ceiling.py: the recorded bytes, no framework) under the same options on CEILING_PORT,
both on one event loop. The benchmark loads one port at a time; the
other server waits in its accept and costs nothing.

Why one process: here, a process's code and heap layout (ASLR) makes it faster or slower than
another process of the same code by up to ~30 % for its whole life (a CPU-bound loop: 121-125 ms
in processes with random layouts against 157-164 ms with one fixed layout, in one interleaved
run). With the service and the ceiling in separate processes, that luck lands on one side of the
hit/ceiling ratio; in one process it lands on both and cancels out.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def ceiling_server(responses: Path, port: int, options: dict[str, Any]) -> Any:
    """A uvicorn server of the ceiling that leaves the signals to the service's server."""
    import uvicorn

    from bench.ceiling import load_responses, make_app

    class Quiet(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield  # the service's server handles SIGTERM; serve_both stops this one after it

    config = uvicorn.Config(make_app(load_responses(responses)), **{**options, "port": port})
    return Quiet(config)


async def serve_both(service: Any, ceiling: Any) -> None:
    """Until the service's server stops (SIGTERM: drained, lifespan shut down), then the
    ceiling's."""
    ceiling_task = asyncio.create_task(ceiling.serve())
    try:
        await service.serve()
    finally:
        ceiling.should_exit = True
        await ceiling_task


def main(argv: list[str]) -> int:
    from bench.routes import mount
    from service.__main__ import EXIT_STARTUP_FAILED, build_server, freeze_heap, server_options
    from service.app import create_app
    from service.settings import Settings

    responses, ceiling_port = Path(argv[0]), int(argv[1])
    settings = Settings()
    app = create_app(settings)
    mount(app)
    service = build_server(settings, app)
    ceiling = ceiling_server(responses, ceiling_port, server_options(settings))
    freeze_heap()
    with asyncio.Runner(loop_factory=service.config.get_loop_factory()) as runner:
        runner.run(serve_both(service, ceiling))
    return 0 if service.started and ceiling.started else EXIT_STARTUP_FAILED


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
