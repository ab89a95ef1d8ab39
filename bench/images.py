"""`python -m bench images`: image sizes and build times (`make images`).

Builds both images through the same code as `make images` (on the tooling's Docker engine, which
it starts if needed and stops again), and gets docker-compose.postgres.yml's image ready (the
upstream, or its stand-in: a debootstrap when cold, an import of the cached root filesystem when
only the engine lacks it); reports each image's size and build time, and, when the
run folder holds the figures of an earlier build (`images.json`, written by every build), those
too. The first build on a machine is the cold one (stand-in bases from debootstrap, every layer
built); every later one reuses the cached bases and Docker's build cache.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from tools.containers.engine import EngineError, ensure_engine, stop_own_engine
from tools.containers.images import BuildError, build_images, postgres_image, write_report
from tools.containers.standins import StandInError

ROOT = Path(__file__).resolve().parents[1]
RUN_DIR = Path(os.environ.get("RUN_DIR") or ROOT / ".run").resolve()
# Goals: a cached rebuild is quick enough to run before every `make up`; images stay small.
CACHED_BUILD_GOAL_S = 60.0
APP_SIZE_GOAL_MB = 250.0


def main() -> int:
    report = RUN_DIR / "images.json"
    earlier = json.loads(report.read_text()) if report.exists() else []
    try:
        engine = ensure_engine(RUN_DIR)
    except EngineError as exc:
        print(f"images: skipped ({exc})")
        return 1
    try:
        started = time.monotonic()
        built = build_images(engine.client, environ=dict(os.environ), say=lambda m: None)
        took = time.monotonic() - started
        postgres = postgres_image(engine.client, environ=dict(os.environ), say=lambda m: None)
    except (BuildError, StandInError) as exc:
        print(f"images: build failed: {exc}")
        return 1
    finally:
        if engine.started_now:
            stop_own_engine(RUN_DIR)
    write_report(report, built)
    for b in earlier:
        print(f"{'previous build ' + b['tag']:<34} {b['build_s']:7.1f} s  from {b['base']}")
    ok = took <= CACHED_BUILD_GOAL_S
    for b in built:
        size_mb = b.size_bytes / 1e6
        line = f"{size_mb:7.0f} MB  build {b.build_s:6.1f} s  ({b.base_kind})"
        print(f"{'image ' + b.tag:<34} {line}")
        if b.tag.startswith("fyntrix-app"):
            ok = ok and size_mb <= APP_SIZE_GOAL_MB
    print(f"{'make images (this run)':<34} {took:7.1f} s  goal <= {CACHED_BUILD_GOAL_S:.0f} s")
    pg_mb, pg_s = postgres.size_bytes / 1e6, postgres.build_s
    line = f"{pg_mb:7.0f} MB  ready {pg_s:6.1f} s  ({postgres.base_kind})"
    print(f"{'image ' + postgres.tag.split(':')[0]:<34} {line}")
    return 0 if ok else 1
