"""`make up RUNTIME=containers`: the deployed task definition run as real containers.

Both images are built before the deploy (`prepare`; tools/rehearsal/release.py pushes them to
the emulator's registry and tags them for the stage). After the deploy and its verification, the
task definition the emulator holds (container definitions from the deployed template, revision
and secret ARNs from the emulator) runs on a Docker engine the way the ECS agent runs it on
Fargate (tools/containers/task.py), each container on the local image its tag names in the
emulator's registry. Secrets are read from the emulator's Secrets Manager. While the task runs,
a background process watches it as the agent does (restart policies, essential containers;
tools/containers/supervisor.py). `down` stops that watcher, then removes exactly the containers,
network and volumes of the task it recorded, and stops the engine if the tooling started
it.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.config import StageConfig
from tools.containers.engine import (
    Engine,
    EngineError,
    can_start_engine,
    ensure_engine,
    find_engine,
    stop_own_engine,
)
from tools.containers.images import APP, REDIS, BuildError, Built, build_images, write_report
from tools.containers.standins import StandInError
from tools.containers.supervisor import TASK_STATE_FILE, TASK_STATUS_FILE
from tools.containers.task import (
    LOCAL_AUTH_ENV,
    TaskError,
    TaskSpec,
    mint_token,
    remove_task,
    run_task,
)
from tools.containers.taskdef import from_emulator
from tools.rehearsal.processes import ProcessRegistry, RehearsalError, http_get
from tools.rehearsal.release import local_image_of, local_manifest
from tools.release import ReleaseError
from tools.stack_outputs import DeployedNames

ROOT = Path(__file__).resolve().parents[2]
STATE_FILE = TASK_STATE_FILE
DEFINITION_FILE = "task-definition.json"
# The background process watching the task (pid file and log in the run folder).
SUPERVISOR = "task-supervisor"


def choose_runtime(requested: str, run_dir: Path) -> tuple[str, str]:
    """(runtime, why) for RUNTIME=auto|containers|processes."""
    if requested == "processes":
        return "processes", "RUNTIME=processes"
    try:
        found = find_engine(run_dir)
    except EngineError as exc:
        if requested == "containers":
            raise RehearsalError(str(exc)) from exc
        return "processes", f"no Docker engine ({exc})"
    if found is not None:
        return "containers", f"Docker engine at {found.base_url}"
    if can_start_engine():
        return "containers", "no Docker engine answers; the tooling starts its own dockerd"
    if requested == "containers":
        raise RehearsalError(
            "RUNTIME=containers, but no Docker engine answers and this user cannot start one: "
            "start Docker, set DOCKER_HOST, or use RUNTIME=processes"
        )
    return "processes", "no Docker engine answers and none can be started here"


def _secret_reader(session: Any) -> Any:
    sm = session.client("secretsmanager")
    cache: dict[str, dict[str, str]] = {}

    def value(value_from: str) -> str:
        # arn:aws:secretsmanager:region:account:secret:name-suffix[:json-key[:stage[:id]]]
        parts = value_from.split(":")
        arn, key = ":".join(parts[:7]), (parts[7] if len(parts) > 7 else "")
        if arn not in cache:
            cache[arn] = json.loads(sm.get_secret_value(SecretId=arn)["SecretString"])
        if key and key not in cache[arn]:
            # What ECS does too: the task does not start.
            raise RehearsalError(f"secret {arn} has no JSON key {key}: put-secret-value it")
        return str(cache[arn][key]) if key else json.dumps(cache[arn])

    return value


@dataclass(frozen=True)
class Prepared:
    """The engine and both images, built before the deploy."""

    engine: Engine
    built: list[Built]

    def manifests(self) -> dict[str, str]:
        """container name -> the manifest `docker push` would send for its image."""
        by_tag = {b.tag: b for b in self.built}
        images = {"app": by_tag[APP.tag], "redis": by_tag[REDIS.tag]}
        return {
            name: local_manifest(self.engine.client.images.get(b.image_id).attrs)
            for name, b in images.items()
        }


def prepare(run_dir: Path, say: Any) -> Prepared:
    """Find or start the engine and build both images (what `make images` builds)."""
    try:
        engine = ensure_engine(run_dir)
        say("3/6 engine", engine.describe() + (" (started now)" if engine.started_now else ""))
        built = build_images(engine.client, environ={}, say=lambda m: say("3/6 images", m))
    except (EngineError, BuildError, StandInError) as exc:
        raise RehearsalError(str(exc)) from exc
    write_report(run_dir / "images.json", built)
    return Prepared(engine=engine, built=built)


def start(**kwargs: Any) -> tuple[str, str, dict[str, float]]:
    """`_start`, with every unexpected failure turned into one line (the caller then stops
    what this run started: nothing is left running)."""
    try:
        return _start(**kwargs)
    except RehearsalError:
        raise
    except Exception as exc:
        raise RehearsalError(f"running the task failed: {exc.__class__.__name__}: {exc}") from exc


def _start(
    *,
    config: StageConfig,
    session: Any,
    cdk_out: Path,
    run_dir: Path,
    app_port: int,
    account: str,
    say: Any,
    prepared: Prepared,
) -> tuple[str, str, dict[str, float]]:
    """Run and check the task; returns the two X-Cache values and time to healthy."""
    engine = prepared.engine
    stop(run_dir, keep_engine=True)  # a previous run's task, if any
    definition = from_emulator(session, config.service_stack_name, cdk_out, config.region)
    try:
        # What a pull of each container's image would fetch from the emulator's registry.
        images = {
            c["name"]: local_image_of(session, c["image"])
            for c in definition["containerDefinitions"]
        }
    except ReleaseError as exc:
        raise RehearsalError(str(exc)) from exc
    spec = TaskSpec(
        definition=definition,
        images=images,
        secret_value=_secret_reader(session),
        # No Cognito here: the app runs its local stage (its dev issuer), as RUNTIME=processes.
        environment_overrides={"app": LOCAL_AUTH_ENV},
        host_ports={config.app.port: app_port},
        cluster=DeployedNames.of(session, config).cluster,
        region=config.region,
        account=account,
    )
    (run_dir / DEFINITION_FILE).write_text(json.dumps(definition, indent=1))
    (run_dir / STATE_FILE).write_text(
        json.dumps(
            {
                "task_id": spec.task_id,
                "docker_host": engine.base_url,
                "definition": str(run_dir / DEFINITION_FILE),
            }
        )
    )
    try:
        task = run_task(engine.client, spec, say=lambda m: say("6/6 task", m))
    except TaskError as exc:
        raise RehearsalError(str(exc)) from exc
    _watch(run_dir, engine, say)
    base = f"http://127.0.0.1:{app_port}"
    anonymous, _, _ = http_get(f"{base}/api/portfolio/1")
    if anonymous != 401:
        raise RehearsalError(f"GET {base}/api/portfolio/1 without a token answered {anonymous}")
    token = mint_token(task.containers["app"], user_id=1)
    first, second = _miss_then_hit(base, {"Authorization": f"Bearer {token}"})
    return first, second, task.healthy_s


def _watch(run_dir: Path, engine: Engine, say: Any) -> None:
    """Start the task's watcher (restart policies, essential containers) in the background."""
    registry = ProcessRegistry(run_dir)
    (run_dir / TASK_STATUS_FILE).unlink(missing_ok=True)
    argv = [sys.executable, "-m", "tools.containers", "supervise", "--run-dir", str(run_dir)]
    tracked = registry.start(
        SUPERVISOR, argv, env={**os.environ, "DOCKER_HOST": engine.base_url}, cwd=ROOT
    )
    deadline = time.monotonic() + 30
    while not (run_dir / TASK_STATUS_FILE).exists():
        if not tracked.alive() or time.monotonic() > deadline:
            raise RehearsalError(
                f"the task's watcher did not start:\n{registry.log_tail(SUPERVISOR)}"
            )
        time.sleep(0.1)
    say(
        "6/6 task",
        f"watched as the ECS agent does (restart policies, essential containers) by pid "
        f"{tracked.pid}: {run_dir / (SUPERVISOR + '.log')}, status in {run_dir / TASK_STATUS_FILE}",
    )


def docker_host(run_dir: Path) -> str:
    """The engine the recorded task runs on (for the summary's commands)."""
    state_file = run_dir / STATE_FILE
    if not state_file.exists():
        return "unix:///var/run/docker.sock"
    return str(json.loads(state_file.read_text()).get("docker_host", ""))


def _miss_then_hit(base: str, headers: dict[str, str]) -> tuple[str, str]:
    statuses = []
    deadline = time.monotonic() + 30
    for _ in range(2):
        while True:
            try:
                code, answer, _ = http_get(f"{base}/api/portfolio/1", headers=headers)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        if code != 200:
            raise RehearsalError(f"GET {base}/api/portfolio/1 answered {code}")
        statuses.append(answer.get("x-cache", "?"))
    if statuses != ["MISS", "HIT"]:
        raise RehearsalError(f"expected X-Cache MISS then HIT, got {statuses}")
    return statuses[0], statuses[1]


def stop(run_dir: Path, *, keep_engine: bool = False) -> list[str]:
    """Remove the recorded task's containers, network and volumes; stop our engine."""
    done: list[str] = []
    # The watcher first: it must not restart what is being removed, nor stop the task itself.
    if ProcessRegistry(run_dir).stop(SUPERVISOR):
        done.append("the task's watcher")
    state_file = run_dir / STATE_FILE
    state = json.loads(state_file.read_text()) if state_file.exists() else {}
    # The engine the task was started on, as recorded: `make down` from a new shell (without
    # the DOCKER_HOST `make up` had) must still reach it.
    environ = dict(os.environ)
    if state.get("docker_host") and not environ.get("DOCKER_HOST"):
        environ["DOCKER_HOST"] = state["docker_host"]
    engine: Engine | None = None
    try:
        engine = find_engine(run_dir, environ)
    except EngineError:
        engine = None
    if state and engine is not None:
        removed = remove_task(engine.client, state["task_id"])
        if removed:
            task = state["task_id"][:12]
            done.append(f"task {task} ({len(removed)} containers, networks and volumes)")
    state_file.unlink(missing_ok=True)
    if not keep_engine and stop_own_engine(run_dir):
        done.append("dockerd")
    return done
