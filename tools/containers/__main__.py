"""`python -m tools.containers images|engine-stop` (what `make images` runs).

images:       build both images (stand-in bases where the upstream ones cannot be pulled),
              starting a Docker engine of our own where none answers and we may.
engine-stop:  stop the engine started under the run folder (what `make down` also does).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from tools.containers.engine import EngineError, ensure_engine, stop_own_engine
from tools.containers.images import BuildError, build_images, write_report
from tools.containers.standins import StandInError

ROOT = Path(__file__).resolve().parents[2]


def images(run_dir: Path) -> int:
    started = time.monotonic()
    try:
        engine = ensure_engine(run_dir)
        note = " (started now; `make down` stops it)" if engine.started_now else ""
        print(f"[engine] {engine.describe()}{note}", flush=True)
        built = build_images(
            engine.client,
            environ=dict(os.environ),
            say=lambda m: print(f"[images] {m}", flush=True),
        )
    except (EngineError, BuildError, StandInError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    write_report(run_dir / "images.json", built)
    print(f"[images] done in {time.monotonic() - started:.1f} s")
    return 0


def main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(
        prog="python -m tools.containers", description=__doc__.split("\n")[0]
    )
    p.add_argument("command", choices=["images", "engine-stop"])
    p.add_argument("--run-dir", type=Path, default=Path(os.environ.get("RUN_DIR") or ROOT / ".run"))
    a = p.parse_args(list(argv))
    run_dir = a.run_dir.resolve()
    if a.command == "images":
        return images(run_dir)
    print("stopped the Docker engine" if stop_own_engine(run_dir) else "no engine of ours runs")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
