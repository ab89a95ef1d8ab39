"""The synthesized ECS task run as real containers with Fargate's semantics (tools/containers).

GIVEN the dev stage's task definition from the CDK synth and the two images built here
WHEN the task runner starts it like the ECS agent would
THEN the app serves MISS then HIT on 127.0.0.1 only, from a network namespace it shares with
Redis, with every setting of the task definition applied, and stops cleanly on SIGTERM.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from docker.models.containers import Container
from docker.types import Mount

from infra.task_design import EXEC_AGENT_PATHS
from testkit.containers import Containers, exec_text, label_filter
from testkit.servers import free_port
from tests.containers.conftest import spec_for, with_container
from tools.containers.engine import Engine
from tools.containers.images import Built
from tools.containers.task import (
    LOCAL_AUTH_ENV,
    PAUSE,
    TASK_LABEL,
    RunningTask,
    TaskError,
    mint_token,
    run_task,
    stop_task,
    volume_name,
)

pytestmark = pytest.mark.containers
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def running(
    docker_engine: Engine,
    container_images: dict[str, Built],
    task_definition: dict[str, Any],
) -> Iterator[RunningTask]:
    spec = spec_for(task_definition, container_images, free_port())
    task = run_task(docker_engine.client, spec, say=lambda m: print(m, file=sys.stderr))
    print(f"time to healthy (s): {task.healthy_s}", file=sys.stderr)
    yield task
    from tools.containers.task import remove_task

    remove_task(docker_engine.client, spec.task_id)


def attrs(task: RunningTask, name: str) -> dict[str, Any]:
    container: Container = task.containers[name]
    container.reload()
    return dict(container.attrs)


def test_serves_miss_then_hit_through_the_published_port(running: RunningTask) -> None:
    base = f"http://127.0.0.1:{running.spec.host_ports[8000]}"
    assert httpx.get(f"{base}/api/portfolio/1", timeout=10).status_code == 401
    auth = {"Authorization": f"Bearer {mint_token(running.containers['app'])}"}
    first = httpx.get(f"{base}/api/portfolio/1", headers=auth, timeout=10)
    second = httpx.get(f"{base}/api/portfolio/1", headers=auth, timeout=10)
    assert (first.status_code, first.headers["x-cache"]) == (200, "MISS")
    assert (second.status_code, second.headers["x-cache"]) == (200, "HIT")
    ready = httpx.get(f"{base}/ready", timeout=10).json()
    assert ready["cache"] == "ok", ready
    assert ready["source"] == "sqlite"  # written under the task's /tmp volume


def test_containers_share_the_task_network_namespace(running: RunningTask) -> None:
    pause_id = running.containers[PAUSE].id
    for name in ("app", "redis"):
        assert attrs(running, name)["HostConfig"]["NetworkMode"] == f"container:{pause_id}"


def test_only_the_app_port_is_published_and_only_on_loopback(running: RunningTask) -> None:
    ports = attrs(running, PAUSE)["NetworkSettings"]["Ports"]
    published = {k: v for k, v in ports.items() if v}
    assert list(published) == ["8000/tcp"]
    assert [b["HostIp"] for b in published["8000/tcp"]] == ["127.0.0.1"]
    # Redis listens on the task's loopback only: nothing on the host reaches it.
    for name in ("app", "redis"):
        assert not attrs(running, name)["HostConfig"]["PortBindings"]


def test_task_definition_settings_are_applied(
    running: RunningTask, task_definition: dict[str, Any]
) -> None:
    for cdef in task_definition["containerDefinitions"]:
        a = attrs(running, cdef["name"])
        host, config = a["HostConfig"], a["Config"]
        assert host["Memory"] == cdef["memory"] * MIB
        assert host["ReadonlyRootfs"] is bool(cdef.get("readonlyRootFilesystem"))
        assert host["Init"] is bool(cdef["linuxParameters"]["initProcessEnabled"])
        assert config["StopTimeout"] == cdef["stopTimeout"]
        if "user" in cdef:
            assert config["User"] == cdef["user"]
        assert config["Healthcheck"]["Test"] == cdef["healthCheck"]["command"]
        assert a["State"]["Health"]["Status"] == "healthy"
        env = dict(e.split("=", 1) for e in config["Env"])
        # The app runs with the local issuer instead of the stage's Cognito (no Cognito here):
        # those keys are overridden on purpose and checked just below.
        overridden = LOCAL_AUTH_ENV if cdef["name"] == "app" else {}
        for entry in cdef.get("environment", []):
            if entry["name"] not in overridden:
                assert env[entry["name"]] == entry["value"]
        if cdef["name"] == "app":
            assert {k: env[k] for k in LOCAL_AUTH_ENV} == dict(LOCAL_AUTH_ENV)
        for secret in cdef.get("secrets", []):
            assert env[secret["name"]] == "{}"  # APP_SECRETS: the whole (empty) secret
        mounts = {m["Destination"]: m for m in a["Mounts"]}
        for mp in cdef.get("mountPoints", []):
            mount = mounts[mp["containerPath"]]
            assert mount["Type"] == "volume"
            assert mount["Name"] == volume_name(running.spec, mp["sourceVolume"])
            assert mount["RW"] is True


def test_ecs_agent_labels(running: RunningTask, task_definition: dict[str, Any]) -> None:
    for name in ("app", "redis"):
        labels = attrs(running, name)["Config"]["Labels"]
        assert labels["com.amazonaws.ecs.container-name"] == name
        assert labels["com.amazonaws.ecs.cluster"] == "fyntrix-dev"
        assert labels["com.amazonaws.ecs.task-definition-family"] == task_definition["family"]
        assert labels["com.amazonaws.ecs.task-definition-version"] == "1"
        assert labels["com.amazonaws.ecs.task-arn"].endswith(running.spec.task_id)
        assert labels[TASK_LABEL] == running.spec.task_id


# Who writes each kind of path: the container's own user, or the ECS Exec agent (root).
_EXEC_AGENT = {path for _, path in EXEC_AGENT_PATHS}
_PROBE = "import pathlib, sys; pathlib.Path(sys.argv[1], 'probe').write_text('ok')"


def test_every_writable_path_is_writable_by_its_writer_on_fargate_mounts(
    running: RunningTask, task_definition: dict[str, Any]
) -> None:
    """Task volumes are mounted as Fargate mounts them (root-owned 0755 unless the image
    declares a VOLUME). The app writes /tmp as uid 10001, redis writes /data as its user, the
    ECS Exec agent (root) writes its paths."""
    for cdef in task_definition["containerDefinitions"]:
        container = running.containers[cdef["name"]]
        for mp in cdef["mountPoints"]:
            path = mp["containerPath"]
            if cdef["name"] == "app":
                user = "0" if path in _EXEC_AGENT else cdef["user"]
                code, out = exec_text(container, ["python", "-c", _PROBE, path], user=user)
            elif path in _EXEC_AGENT:
                code, out = exec_text(container, ["touch", f"{path}/probe"], user="0")
            else:
                # Redis itself (as its own user) saves a snapshot into its working dir /data.
                assert path == "/data"
                code, out = exec_text(container, ["redis-cli", "SAVE"])
                assert out.strip() == "OK", out
            assert code == 0, (cdef["name"], path, out)


def test_task_volumes_start_with_fargates_owner_and_mode(
    running: RunningTask, task_definition: dict[str, Any], docker_engine: Engine
) -> None:
    """Fargate mounts a task volume root-owned 0755 unless the image declares the path as a
    VOLUME; then with the image's owner and mode (the app's /tmp: 1777, redis's /data: its
    user's). The engine sets them, whoever runs the task (tools/containers/task.py)."""
    seen = set()
    for cdef in task_definition["containerDefinitions"]:
        container = running.containers[cdef["name"]]
        image = docker_engine.client.images.get(str(container.attrs["Image"]))
        declared = image.attrs["Config"].get("Volumes") or {}
        for mp in cdef["mountPoints"]:
            path = mp["containerPath"]
            code, mounted = exec_text(container, ["stat", "-c", "%u:%g %a", path], user="0")
            assert code == 0, mounted
            if path in declared:
                wanted = _owner_and_mode_in_image(docker_engine, str(image.id), path)
            else:
                wanted = "0:0 755"
            assert mounted.strip() == wanted, (cdef["name"], path)
            seen.add(path in declared)
    assert seen == {True, False}  # both kinds are in the task


def _owner_and_mode_in_image(engine: Engine, image: str, path: str) -> str:
    out = engine.client.containers.run(
        image, entrypoint=["stat", "-c", "%u:%g %a", path], command=[], user="0", remove=True
    )
    return bytes(out).decode().strip()


def test_without_a_volume_declaration_fargate_mounts_are_not_writable(
    containers: Containers, container_images: dict[str, Built]
) -> None:
    """The defect the VOLUME declarations fix: a root-owned 0755 volume (what Fargate mounts
    on a path the image does not declare) is not writable by uid 10001."""
    container = containers.run(
        container_images["app"].tag,
        entrypoint=["python", "-c", _PROBE, "/scratch"],
        command=[],
        user="10001:10001",
        read_only=True,
        # An anonymous volume, removed with the container; no copy of the image's path.
        mounts=[Mount(target="/scratch", source=None, type="volume", no_copy=True)],
    )
    result = container.wait(timeout=60)
    assert result["StatusCode"] != 0
    assert b"Permission denied" in container.logs()


def test_sigterm_stops_both_within_their_stop_timeouts_with_exit_0(
    running: RunningTask, docker_engine: Engine
) -> None:
    results = stop_task(docker_engine.client, running)
    assert [r.name for r in results] == ["app", "redis"]  # the app before what it depends on
    for r in results:
        assert (r.exit_code, r.oom_killed) == (0, False), r
        assert r.took_s < r.stop_timeout_s, r


def test_dependency_never_healthy_fails_within_start_timeout_and_leaves_nothing(
    docker_engine: Engine,
    container_images: dict[str, Built],
    task_definition: dict[str, Any],
) -> None:
    broken = with_container(
        task_definition,
        "redis",
        healthCheck={
            "command": ["CMD", "false"],
            "interval": 1,
            "timeout": 1,
            "retries": 1,
            "startPeriod": 0,
        },
        startTimeout=4,
    )
    spec = spec_for(broken, container_images, free_port())
    with pytest.raises(
        TaskError, match=r"redis did not become HEALTHY within its startTimeout of 4 s"
    ):
        run_task(docker_engine.client, spec, say=lambda m: None)
    assert _leftovers(docker_engine, spec.task_id) == []


def test_taken_port_is_one_clear_line_and_leaves_nothing(
    docker_engine: Engine,
    container_images: dict[str, Built],
    task_definition: dict[str, Any],
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        spec = spec_for(task_definition, container_images, port)
        with pytest.raises(TaskError, match=rf"port {port} on 127.0.0.1 is taken.*APP_PORT"):
            run_task(docker_engine.client, spec, say=lambda m: None)
    assert _leftovers(docker_engine, spec.task_id) == []


def _leftovers(engine: Engine, task_id: str) -> list[str]:
    selector = label_filter(f"{TASK_LABEL}={task_id}")
    names = [str(c.name) for c in engine.client.containers.list(all=True, filters=selector)]
    names += [str(v.name) for v in engine.client.volumes.list(filters=selector)]
    return names + [str(n.name) for n in engine.client.networks.list(filters=selector)]
