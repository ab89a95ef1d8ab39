"""`make up RUNTIME=containers`: emulator, real `cdk deploy`, then the deployed task definition
run as real containers; `make down` removes exactly what it made.

The run uses the session's Docker engine (DOCKER_HOST), so it neither starts a second daemon
nor stops the session's one on `down`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from testkit.containers import label_filter
from testkit.pasted import printed_commands, run_pasted
from testkit.servers import free_port
from testkit.service import ROOT
from tools.containers.engine import Engine
from tools.containers.images import Built
from tools.containers.task import TASK_LABEL
from tools.rehearsal.cli import PASTE_HEADER
from tools.rehearsal.processes import ProcessRegistry

pytestmark = [pytest.mark.containers, pytest.mark.integration]


def rehearsal(cmd: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.rehearsal", cmd],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


@pytest.fixture
def env(
    docker_engine: Engine, container_images: dict[str, Built], tmp_path: Path
) -> Iterator[dict[str, str]]:
    env = {
        **os.environ,
        "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{ROOT / 'node_modules' / '.bin'}"
        f"{os.pathsep}{os.environ.get('PATH', '')}",
        "RUN_DIR": str(tmp_path / "run"),
        "AWS_PORT": str(free_port()),
        "APP_PORT": str(free_port()),
        "RUNTIME": "containers",
        "DOCKER_HOST": docker_engine.base_url,
    }
    env.pop("SET", None)
    yield env
    rehearsal("down", env)


def test_up_runs_the_deployed_task_as_containers_and_down_removes_it(
    env: dict[str, str], docker_engine: Engine
) -> None:
    up = rehearsal("up", env)
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    lines = up.stdout.splitlines()
    assert lines[0].startswith("Runtime: containers")
    assert "X-Cache: MISS, then HIT" in up.stdout
    task_id = json.loads((Path(env["RUN_DIR"]) / "containers.json").read_text())["task_id"]
    selector = label_filter(f"{TASK_LABEL}={task_id}")
    made = docker_engine.client.containers.list(filters=selector)
    names = sorted(c.labels["com.amazonaws.ecs.container-name"] for c in made)
    assert names == ["app", "pause", "redis"]
    # The cluster CloudFormation named (the stack's ClusterName output)
    clusters = {c.labels["com.amazonaws.ecs.cluster"] for c in made}
    assert len(clusters) == 1 and clusters.pop().startswith("Fyntrix-Service-dev-Cluster")
    # Both images came from the release pushed to the emulator's registry and tagged for dev.
    assert "[3/6 release] tag-stage: dev-rehearsal-" in up.stdout
    # The task is watched as the ECS agent watches it, until `down` stops the watcher first.
    run_dir = Path(env["RUN_DIR"])
    watcher = ProcessRegistry(run_dir).running("task-supervisor")
    assert watcher is not None
    status = json.loads((run_dir / "task-status.json").read_text())
    assert (status["task_id"], status["last_status"]) == (task_id, "RUNNING")
    # The summary's commands work pasted as printed into a shell without DOCKER_HOST: the
    # printed lines export it before `docker` runs, the project's AWS CLI describes the
    # service, and the token minted in the task's app container reads user 1's portfolio
    commands = printed_commands(up.stdout, PASTE_HEADER)
    assert any(c.startswith("export DOCKER_HOST=") for c in commands), commands
    pasted = run_pasted(commands)
    assert pasted.returncode == 0, pasted.stdout[-2000:] + pasted.stderr[-2000:]
    assert '"ACTIVE"' in pasted.stdout
    assert "HTTP/1.1 200 OK" in pasted.stdout and "x-cache: " in pasted.stdout.lower()
    # WHEN the printed way to stop, as printed
    stop_line = up.stdout.split("Stop everything with: ", 1)[1].splitlines()[0]
    down = run_pasted([stop_line], timeout_s=300)
    assert down.returncode == 0, down.stderr
    assert "the task's watcher" in down.stdout
    assert not watcher.alive()
    assert docker_engine.client.containers.list(all=True, filters=selector) == []
    assert docker_engine.client.networks.list(filters=selector) == []
    assert not (Path(env["RUN_DIR"]) / "tasks" / task_id).exists()
    docker_engine.client.ping()  # the session's engine is not ours to stop
