"""Run an ECS task definition as real containers, the way the ECS agent runs it on Fargate.

The successor of `ecs-cli local up` (archived), closer to what Fargate does:

* one network namespace per task (awsvpc): a pause container owns it, on a network of the task's
  own; every container joins it, so `localhost` reaches the other containers. Only the ports
  asked for are published, on 127.0.0.1 (standing in for the load balancer's target);
* start order from `dependsOn` (START, COMPLETE, SUCCESS, HEALTHY); a dependency that does not
  reach its condition within its `startTimeout` fails the run with its last log lines;
* the task's health checks (not the images' HEALTHCHECKs, which ECS ignores),
  `readonlyRootFilesystem`, `user`, `initProcessEnabled`, hard `memory` limits, `stopTimeout`,
  environment and `secrets` (resolved by the caller, e.g. from the emulator's Secrets Manager);
* the task's `cpu` and `memory` for all its containers together, a container's `cpu` as its
  relative share (tools/containers/limits.py);
* task volumes as Fargate mounts them: empty, root-owned 0755, unless the image declares the
  path as a VOLUME, in which case the image's data, owner and mode are copied in. Each is a
  Docker volume of the task's, so the engine (root) sets the owner: the caller needs no root;
* the agent's Docker labels (cluster, task ARN, family, revision, container name);
* stop in reverse dependency order, each container with its own `stopTimeout`.

Everything created (containers, network, volumes) carries the label `dev.fyntrix.task-id`, and
`remove_task` removes exactly what carries that task's id.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import docker
from docker.errors import APIError, NotFound
from docker.models.containers import Container
from docker.types import Mount

from tools.containers.limits import LimitError, TaskLimits, container_cgroup, task_limits

TASK_LABEL = "dev.fyntrix.task-id"
PAUSE = "pause"
_NS = 1_000_000_000
# ECS's default when a container definition sets no stopTimeout, in seconds.
DEFAULT_STOP_TIMEOUT_S = 30
# How long a dependency may take when nothing sets startTimeout, in seconds.
DEFAULT_START_TIMEOUT_S = 180


# What a local run of the deployed app container needs instead of Cognito (no AWS here): the
# service's local stage and its dev issuer, whose key it keeps on the task's /tmp volume. Mint a
# token inside the container: `python -m service.ops token --user 1` (see `mint_token`).
LOCAL_AUTH_ENV: Mapping[str, str] = {
    "APP_STAGE": "local",
    "AUTH_ISSUER": "",
    "AUTH_JWKS_URL": "",
    "AUTH_CLIENT_IDS": "",
    "AWS_COGNITO_USER_POOL_ID": "",
    "AWS_COGNITO_CLIENT_ID": "",
    # Empty: the local stage's default, the demo data the local checks read (prod's task
    # definition says false: demo users never enter prod's database).
    "SEED_DEMO_DATA": "",
}


class TaskError(RuntimeError):
    """The task could not be run: one line saying what happened and what to do."""


@dataclass(frozen=True, kw_only=True)
class TaskSpec:
    """How to run one task definition on this machine."""

    definition: dict[str, Any]
    images: Mapping[str, str]  # container name -> local image
    secret_value: Callable[[str], str]  # valueFrom -> value
    host_ports: Mapping[int, int]  # containerPort -> 127.0.0.1 port
    # Docker networks the task's namespace joins besides its own, as a task's network
    # interface sits in its VPC's subnets: how it reaches what lives there (a database).
    networks: tuple[str, ...] = ()
    # Per container: environment set over the task definition's (a local run's stand-ins).
    environment_overrides: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    cluster: str = "local"
    task_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    region: str = "us-east-1"
    account: str = "000000000000"

    @property
    def family(self) -> str:
        return str(self.definition.get("family", "task"))

    @property
    def task_arn(self) -> str:
        return f"arn:aws:ecs:{self.region}:{self.account}:task/{self.cluster}/{self.task_id}"

    def container(self, name: str) -> dict[str, Any]:
        for cdef in self.definition["containerDefinitions"]:
            if cdef["name"] == name:
                return dict(cdef)
        raise TaskError(f"no container {name!r} in the task definition")


@dataclass
class RunningTask:
    spec: TaskSpec
    network_id: str
    containers: dict[str, Container] = field(default_factory=dict)  # start order, pause first
    started_at: dict[str, float] = field(default_factory=dict)  # name -> monotonic start
    healthy_s: dict[str, float] = field(default_factory=dict)  # name -> start to healthy
    limits: TaskLimits | None = None  # the task's CPU and memory, as enforced
    cgroup: str = ""  # the task's cgroup (the pause container's) when limits.nested


def start_order(definition: Mapping[str, Any]) -> list[str]:
    """Container names so that every container comes after what it depends on."""
    deps = {
        c["name"]: [d["containerName"] for d in c.get("dependsOn", [])]
        for c in definition["containerDefinitions"]
    }
    order: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            raise TaskError(f"dependsOn cycle: {' -> '.join((*path, name))}")
        if name in order:
            return
        for dep in deps.get(name, []):
            if dep not in deps:
                raise TaskError(f"{name} depends on {dep}, which is not in the task")
            visit(dep, (*path, name))
        order.append(name)

    for name in deps:
        visit(name, ())
    return order


def labels(spec: TaskSpec, name: str) -> dict[str, str]:
    """The ECS agent's labels, plus ours for `remove_task`."""
    return {
        "com.amazonaws.ecs.cluster": spec.cluster,
        "com.amazonaws.ecs.task-arn": spec.task_arn,
        "com.amazonaws.ecs.task-definition-family": spec.family,
        "com.amazonaws.ecs.task-definition-version": str(spec.definition.get("revision", 1)),
        "com.amazonaws.ecs.container-name": name,
        TASK_LABEL: spec.task_id,
    }


def run_task(
    client: docker.DockerClient, spec: TaskSpec, say: Callable[[str], None]
) -> RunningTask:
    """Start every container in dependency order; on any failure remove what was made."""
    network = client.networks.create(
        f"fyntrix-task-{spec.task_id[:12]}", driver="bridge", labels={TASK_LABEL: spec.task_id}
    )
    task = RunningTask(spec=spec, network_id=str(network.id))
    try:
        task.limits = task_limits(spec.definition, client.info())
        task.containers[PAUSE] = _start_pause(client, spec, str(network.name), task.limits)
        task.cgroup = _task_cgroup(task.containers[PAUSE], task.limits)
        say(f"task: {task.limits.describe()}")
        for name in start_order(spec.definition):
            _wait_dependencies(client, task, name)
            task.started_at[name] = time.monotonic()
            task.containers[name] = _start_container(client, task, name)
            say(f"{name}: started ({_container_summary(spec.container(name))})")
        for name in task.containers:
            if name != PAUSE and "healthCheck" in spec.container(name):
                _wait_for(client, task, name, "HEALTHY")
    except BaseException:
        remove_task(client, spec.task_id)
        raise
    return task


def attach_task(client: docker.DockerClient, spec: TaskSpec) -> RunningTask:
    """The running task `spec.task_id` names, found by its label (another process started it)."""
    selector: dict[str, str | list[str] | bool] = {"label": f"{TASK_LABEL}={spec.task_id}"}
    found = {
        c.labels["com.amazonaws.ecs.container-name"]: c
        for c in client.containers.list(all=True, filters=selector)
    }
    order = [PAUSE, *start_order(spec.definition)]
    missing = [name for name in order if name not in found]
    if missing:
        raise TaskError(f"task {spec.task_id[:12]} has no container {', '.join(missing)}")
    network = client.networks.list(filters=selector)
    task = RunningTask(spec=spec, network_id=str(network[0].id) if network else "")
    task.containers = {name: found[name] for name in order}
    return task


def mint_token(container: Container, user_id: int = 1) -> str:
    """A token of the local dev issuer for `user_id`, minted in the running app container."""
    argv = ["python", "-m", "service.ops", "token", "--user", str(user_id)]
    code, out = container.exec_run(argv, demux=False, stream=False)
    text = out.decode().strip() if isinstance(out, bytes) else ""
    if code != 0:
        raise TaskError(f"minting a token in {container.name} failed: {text}")
    return text


def _container_summary(cdef: Mapping[str, Any]) -> str:
    parts = [f"memory {cdef.get('memory', '-')} MiB"]
    if "cpu" in cdef:
        parts.append(f"cpu share {cdef['cpu']}")
    if cdef.get("user"):
        parts.append(f"user {cdef['user']}")
    if cdef.get("readonlyRootFilesystem"):
        parts.append("read-only root")
    if cdef.get("linuxParameters", {}).get("initProcessEnabled"):
        parts.append("init")
    parts.append(f"stopTimeout {cdef.get('stopTimeout', DEFAULT_STOP_TIMEOUT_S)} s")
    return ", ".join(parts)


def _task_cgroup(pause: Container, limits: TaskLimits) -> str:
    if not limits.nested:
        return ""
    try:
        return container_cgroup(pause)
    except LimitError as exc:
        raise TaskError(f"the task's CPU and memory cannot be enforced: {exc}") from exc


def _start_pause(
    client: docker.DockerClient, spec: TaskSpec, network: str, limits: TaskLimits
) -> Container:
    """The container that owns the task's network namespace and its published ports; its
    cgroup is the task's when the engine can nest (tools/containers/limits.py)."""
    essential = next(iter(spec.images.values()))
    ports = {f"{cport}/tcp": ("127.0.0.1", hport) for cport, hport in spec.host_ports.items()}
    try:
        pause = client.containers.run(
            essential,
            entrypoint=["python3", "-c", "import signal; signal.pause()"],
            command=[],
            name=f"fyntrix-{spec.task_id[:12]}-{PAUSE}",
            detach=True,
            network=network,
            ports=ports,
            user="65534:65534",
            read_only=True,
            init=True,
            healthcheck={"test": ["NONE"]},
            labels=labels(spec, PAUSE),
            **limits.pause_options(),
        )
    except APIError as exc:
        if "port is already allocated" in str(exc) or "address already in use" in str(exc):
            taken = ", ".join(str(p) for p in spec.host_ports.values())
            raise TaskError(
                f"port {taken} on 127.0.0.1 is taken by another process: stop it or choose "
                "another port with APP_PORT=<port>"
            ) from exc
        raise
    for other in spec.networks:
        client.networks.get(other).connect(pause)
    return pause


def _environment(spec: TaskSpec, cdef: Mapping[str, Any]) -> dict[str, str]:
    env = {e["name"]: e["value"] for e in cdef.get("environment", [])}
    for secret in cdef.get("secrets", []):
        env[secret["name"]] = spec.secret_value(secret["valueFrom"])
    env.update(spec.environment_overrides.get(cdef["name"], {}))
    return env


def _healthcheck(cdef: Mapping[str, Any]) -> dict[str, Any]:
    hc = cdef.get("healthCheck")
    if not hc:
        # ECS ignores an image's HEALTHCHECK: so do we.
        return {"test": ["NONE"]}
    return {
        "test": list(hc["command"]),
        "interval": int(hc.get("interval", 30)) * _NS,
        "timeout": int(hc.get("timeout", 5)) * _NS,
        "retries": int(hc.get("retries", 3)),
        "start_period": int(hc.get("startPeriod", 0)) * _NS,
    }


def _start_container(client: docker.DockerClient, task: RunningTask, name: str) -> Container:
    spec = task.spec
    cdef = spec.container(name)
    image = spec.images[name]
    linux = cdef.get("linuxParameters", {})
    memory = cdef.get("memory")
    reservation = cdef.get("memoryReservation")
    limits = task.limits or task_limits({}, {})
    host_config = client.api.create_host_config(
        read_only=bool(cdef.get("readonlyRootFilesystem", False)),
        init=bool(linux.get("initProcessEnabled", False)),
        mem_limit=f"{memory}m" if memory else None,
        memswap_limit=f"{memory}m" if memory else None,
        mem_reservation=f"{reservation}m" if reservation else None,
        cap_drop=linux.get("capabilities", {}).get("drop") or None,
        cap_add=linux.get("capabilities", {}).get("add") or None,
        network_mode=f"container:{task.containers[PAUSE].id}",
        mounts=_mounts(client, spec, cdef, image),
        **limits.container_options(cdef, task.cgroup),
    )
    # The low-level call: the high-level one has no stop_timeout.
    created = client.api.create_container(
        image,
        command=cdef.get("command"),
        entrypoint=cdef.get("entryPoint"),
        name=f"fyntrix-{spec.task_id[:12]}-{name}",
        environment=_environment(spec, cdef),
        user=cdef.get("user") or None,
        stop_timeout=int(cdef.get("stopTimeout", DEFAULT_STOP_TIMEOUT_S)),
        healthcheck=_healthcheck(cdef),
        labels=labels(spec, name),
        host_config=host_config,
    )
    container = client.containers.get(created["Id"])
    container.start()
    return container


def volume_name(spec: TaskSpec, volume: str) -> str:
    return f"fyntrix-{spec.task_id[:12]}-{volume}"


def _mounts(
    client: docker.DockerClient, spec: TaskSpec, cdef: Mapping[str, Any], image: str
) -> list[Mount]:
    """The container's task volumes. Docker copies an image path's data, owner and mode into
    an empty volume for any path the image has; Fargate only for a path the image declares as
    a VOLUME: `no_copy` everywhere else, and wherever the volume already existed (as on
    Fargate, the first container that mounts a shared volume decides what it starts with)."""
    declared = set((client.images.get(image).attrs["Config"].get("Volumes") or {}).keys())
    mounts = []
    for mp in cdef.get("mountPoints", []):
        name = volume_name(spec, mp["sourceVolume"])
        created = _create_volume(client, spec, name)
        mounts.append(
            Mount(
                target=mp["containerPath"],
                source=name,
                type="volume",
                read_only=bool(mp.get("readOnly", False)),
                no_copy=not (created and mp["containerPath"] in declared),
            )
        )
    return mounts


def _create_volume(client: docker.DockerClient, spec: TaskSpec, name: str) -> bool:
    """Create the task's volume `name` (a local volume: root-owned 0755, empty). False when
    another container of the task made it already."""
    try:
        client.volumes.get(name)
        return False
    except NotFound:
        client.volumes.create(name, driver="local", labels={TASK_LABEL: spec.task_id})
        return True


def _wait_dependencies(client: docker.DockerClient, task: RunningTask, name: str) -> None:
    for dep in task.spec.container(name).get("dependsOn", []):
        dep_name, condition = dep["containerName"], dep["condition"]
        _wait_for(client, task, dep_name, condition)


def _wait_for(client: docker.DockerClient, task: RunningTask, name: str, condition: str) -> float:
    cdef = task.spec.container(name)
    timeout_s = float(cdef.get("startTimeout") or DEFAULT_START_TIMEOUT_S)
    container = task.containers[name]
    started = time.monotonic()
    while True:
        container.reload()
        state = container.attrs["State"]
        if _condition_met(state, condition):
            if condition == "HEALTHY":
                task.healthy_s.setdefault(name, time.monotonic() - task.started_at[name])
            return time.monotonic() - started
        if state["Status"] in ("exited", "dead") and condition in ("START", "HEALTHY"):
            raise TaskError(
                f"{name} exited (code {state.get('ExitCode')}, OOMKilled "
                f"{state.get('OOMKilled')}) before {condition}; its last log lines:\n"
                f"{_log_tail(container)}"
            )
        if time.monotonic() - started > timeout_s:
            raise TaskError(
                f"{name} did not become {condition} within its startTimeout of "
                f"{timeout_s:.0f} s; its last log lines:\n{_log_tail(container)}"
            )
        time.sleep(0.2)


def _condition_met(state: Mapping[str, Any], condition: str) -> bool:
    if condition == "START":
        return bool(state["Running"] or state["Status"] == "exited")
    if condition == "HEALTHY":
        return bool(state.get("Health", {}).get("Status") == "healthy")
    if condition == "COMPLETE":
        return bool(state["Status"] == "exited")
    if condition == "SUCCESS":
        return bool(state["Status"] == "exited" and state["ExitCode"] == 0)
    raise TaskError(f"unknown dependsOn condition {condition}")


def _log_tail(container: Container, lines: int = 15) -> str:
    try:
        text = container.logs(tail=lines).decode(errors="replace").rstrip()
    except APIError:
        return "(no logs)"
    return "\n".join(f"  | {line}" for line in text.splitlines()) or "  | (no output)"


@dataclass(frozen=True)
class Stopped:
    name: str
    exit_code: int
    took_s: float
    stop_timeout_s: int
    oom_killed: bool


def stop_task(client: docker.DockerClient, task: RunningTask) -> list[Stopped]:
    """Stop in reverse start order (a container before what it depends on), each with its
    stopTimeout; report how each one ended."""
    stopped = []
    for name in reversed([n for n in task.containers if n != PAUSE]):
        container = task.containers[name]
        timeout_s = int(task.spec.container(name).get("stopTimeout", DEFAULT_STOP_TIMEOUT_S))
        started = time.monotonic()
        container.stop(timeout=timeout_s)
        container.wait(timeout=timeout_s + 30)
        took = time.monotonic() - started
        container.reload()
        state = container.attrs["State"]
        stopped.append(
            Stopped(name, int(state["ExitCode"]), took, timeout_s, bool(state["OOMKilled"]))
        )
    with contextlib.suppress(NotFound):
        task.containers[PAUSE].stop(timeout=1)
    return stopped


def remove_task(client: docker.DockerClient, task_id: str) -> list[str]:
    """Remove exactly the containers, network and volumes labelled with `task_id`."""
    removed = []
    selector: dict[str, str | list[str] | bool] = {"label": f"{TASK_LABEL}={task_id}"}
    found = client.containers.list(all=True, filters=selector)
    # The pause container last: its cgroup holds the others' (the task's cgroup).
    found.sort(key=lambda c: c.labels.get("com.amazonaws.ecs.container-name") == PAUSE)
    for container in found:
        with contextlib.suppress(NotFound):
            container.remove(force=True, v=True)
            removed.append(str(container.name))
    for network in client.networks.list(filters=selector):
        with contextlib.suppress(NotFound):
            network.remove()
            removed.append(str(network.name))
    # After the containers: a volume in use cannot be removed.
    for volume in client.volumes.list(filters=selector):
        with contextlib.suppress(NotFound):
            volume.remove(force=True)
            removed.append(str(volume.name))
    return removed
