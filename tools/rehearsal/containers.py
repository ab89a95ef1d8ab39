"""`make up RUNTIME=containers`: the deployed task definition run as real containers.

After the deploy and its verification, the task definition the emulator holds (container
definitions from the deployed template, revision and secret ARNs from the emulator) runs on a
Docker engine the way the ECS agent runs it on Fargate (tools/containers/task.py). Secrets are
read from the emulator's Secrets Manager. `down` removes exactly the containers, network and
volume folders of the task it recorded, and stops the engine if the tooling started it.
"""

from __future__ import annotations

import json
import os
import time
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
from tools.containers.images import APP, BuildError, build_images, write_report
from tools.containers.standins import StandInError
from tools.containers.task import (
    LOCAL_AUTH_ENV,
    TaskError,
    TaskSpec,
    mint_token,
    remove_task,
    run_task,
)
from tools.containers.taskdef import from_emulator
from tools.rehearsal.processes import RehearsalError, http_get

STATE_FILE = "containers.json"


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
) -> tuple[str, str, dict[str, float]]:
    """Build, run, and check the task; returns the two X-Cache values and time to healthy."""
    try:
        engine = ensure_engine(run_dir)
        say("5/6 engine", engine.describe() + (" (started now)" if engine.started_now else ""))
        built = build_images(engine.client, environ={}, say=lambda m: say("5/6 images", m))
    except (EngineError, BuildError, StandInError) as exc:
        raise RehearsalError(str(exc)) from exc
    write_report(run_dir / "images.json", built)
    stop(run_dir, keep_engine=True)  # a previous run's task, if any
    definition = from_emulator(session, config.service_stack_name, cdk_out, config.region)
    by_tag = {b.tag: b for b in built}
    redis_base = next(b.base for b in built if b.tag != APP.tag)
    spec = TaskSpec(
        definition=definition,
        # The task's redis image is the upstream Redis: its base (or stand-in) here.
        images={"app": by_tag[APP.tag].tag, "redis": redis_base},
        secret_value=_secret_reader(session),
        # No Cognito here: the app runs its local stage (its dev issuer), as RUNTIME=processes.
        environment_overrides={"app": LOCAL_AUTH_ENV},
        host_ports={config.app.port: app_port},
        work_dir=run_dir / "tasks",
        cluster=config.cluster_name,
        region=config.region,
        account=account,
    )
    (run_dir / STATE_FILE).write_text(
        json.dumps(
            {
                "task_id": spec.task_id,
                "work_dir": str(spec.work_dir),
                "docker_host": engine.base_url,
            }
        )
    )
    try:
        task = run_task(engine.client, spec, say=lambda m: say("6/6 task", m))
    except TaskError as exc:
        raise RehearsalError(str(exc)) from exc
    base = f"http://127.0.0.1:{app_port}"
    anonymous, _, _ = http_get(f"{base}/api/portfolio/1")
    if anonymous != 401:
        raise RehearsalError(f"GET {base}/api/portfolio/1 without a token answered {anonymous}")
    token = mint_token(task.containers["app"], user_id=1)
    first, second = _miss_then_hit(base, {"Authorization": f"Bearer {token}"})
    return first, second, task.healthy_s


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
        removed = remove_task(engine.client, state["task_id"], Path(state["work_dir"]))
        if removed:
            done.append(f"task {state['task_id'][:12]} ({len(removed)} containers/networks)")
    state_file.unlink(missing_ok=True)
    if not keep_engine and stop_own_engine(run_dir):
        done.append("dockerd")
    return done
