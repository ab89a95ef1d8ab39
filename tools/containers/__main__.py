"""`python -m tools.containers images|engine-stop|supervise` (`make images`, and `make up`'s).

images:       build both images (stand-in bases where the upstream ones cannot be pulled),
              starting a Docker engine of our own where none answers and we may.
engine-stop:  stop the engine started under the run folder (what `make down` also does).
supervise:    watch the task `make up` recorded in the run folder as the ECS agent does
              (restart policies, essential containers; tools/containers/supervisor.py) until it
              stops or this process is stopped (`make down` stops it first).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import docker

from tools.containers.engine import EngineError, ensure_engine, stop_own_engine
from tools.containers.images import BuildError, build_images, write_report
from tools.containers.standins import StandInError
from tools.containers.supervisor import TASK_STATE_FILE, TASK_STATUS_FILE, TaskSupervisor
from tools.containers.task import TaskError, TaskSpec, attach_task

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


def supervise(run_dir: Path) -> int:
    """Watch the recorded task; its status goes to <run dir>/task-status.json."""
    state = json.loads((run_dir / TASK_STATE_FILE).read_text())
    client = docker.DockerClient(base_url=state["docker_host"])
    spec = TaskSpec(
        definition=json.loads(Path(state["definition"]).read_text()),
        images={},
        secret_value=lambda _: "",
        host_ports={},
        task_id=state["task_id"],
    )
    try:
        task = attach_task(client, spec)
    except TaskError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    supervisor = TaskSupervisor(
        client,
        task,
        say=lambda m: print(f"[supervise] {m}", flush=True),
        status_file=run_dir / TASK_STATUS_FILE,
    )
    # `make down` sends SIGTERM: stop watching before the task is removed.
    signal.signal(signal.SIGTERM, lambda *_: supervisor.halt_soon())
    print(f"[supervise] watching task {spec.task_id[:12]}", flush=True)
    status = supervisor.run()
    print(f"[supervise] done: task {status.last_status}", flush=True)
    return 0


def main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(
        prog="python -m tools.containers", description=__doc__.split("\n")[0]
    )
    p.add_argument("command", choices=["images", "engine-stop", "supervise"])
    p.add_argument("--run-dir", type=Path, default=Path(os.environ.get("RUN_DIR") or ROOT / ".run"))
    a = p.parse_args(list(argv))
    run_dir = a.run_dir.resolve()
    if a.command == "images":
        return images(run_dir)
    if a.command == "supervise":
        return supervise(run_dir)
    print("stopped the Docker engine" if stop_own_engine(run_dir) else "no engine of ours runs")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
