"""The capacity bench's stand: the task as `make up` runs it, a database beside it, and what the
task's containers use.

* the images as `make images` builds them (tools/containers/images.py; stand-in bases where no
  registry answers), on the tooling's engine (DOCKER_HOST, or one it starts and stops again);
* Postgres in a container of its own (docker-compose.postgres.yml's image), outside the task
  and outside its CPU and memory, as RDS is: on a network the task joins (TaskSpec.networks);
* the stage's task definition (generators/ecs.py, the same as the deployed one) run by the
  containers runtime (tools/containers/task.py): the task's CPU and memory enforced, the app's
  secret holding that database's DATABASE_URL, the local issuer instead of Cognito (no AWS
  here), and only the app port published, on 127.0.0.1;
* tokens minted on the host with the dev signing key the app container made;
* CPU and memory of each container from the engine's stats (its cgroups), and the task cgroup's
  throttling.
"""

from __future__ import annotations

import io
import json
import tarfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
from docker.errors import NotFound
from docker.models.containers import Container

from generators.ecs import task_definition
from infra.config import StageConfig
from service.auth import devkeys
from service.settings import LOCAL_CLIENT_ID, LOCAL_ISSUER
from testkit.servers import free_port
from tools.containers.images import APP, REDIS, Built
from tools.containers.task import (
    LOCAL_AUTH_ENV,
    PAUSE,
    RunningTask,
    TaskSpec,
    mint_token,
    remove_task,
    run_task,
)

BENCH_LABEL = "dev.fyntrix.bench"
DATABASE = "fyntrix"
# Where the app's local issuer keeps its signing key: its temp dir, the task's /tmp volume.
DEV_KEY_PATH = "/tmp/fyntrix-dev-jwt-key.pem"  # noqa: S108 - inside the container
# Users 1..HOT_USERS each with a token of their own (cached reads, writes); users above read
# once each by an admin token, so every one of those reads misses the cache.
HOT_USERS = 1000
COLD_USERS = 60_000
TOKEN_TTL_S = 6 * 3600
_MIB = 1024 * 1024
_NS_PER_S = 1e9


class StandError(RuntimeError):
    """The stand could not be set up: one line saying what failed."""


def _psql(postgres: Container, sql: str) -> None:
    argv = ["psql", "-U", DATABASE, "-d", DATABASE, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql]
    code, out = postgres.exec_run(argv, user="postgres", stream=False)
    if code != 0:
        text = out.decode(errors="replace") if isinstance(out, bytes) else ""
        raise StandError(f"psql failed: {text.strip()}")


def _wait_healthy(container: Container, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        container.reload()
        if container.attrs["State"].get("Health", {}).get("Status") == "healthy":
            return
        if container.status == "exited":
            break
        time.sleep(0.5)
    logs = container.logs(tail=10).decode(errors="replace")
    raise StandError(f"{container.name} did not become healthy:\n{logs}")


@contextmanager
def database(client: docker.DockerClient, image: Built, bench_id: str) -> Iterator[Container]:
    """Postgres on a network of its own (the task joins it), removed afterwards."""
    labels = {BENCH_LABEL: bench_id}
    network = client.networks.create(f"fyntrix-bench-{bench_id}", labels=labels)
    container: Container | None = None
    try:
        container = client.containers.run(
            image.image_id,
            name=f"fyntrix-bench-{bench_id}-postgres",
            detach=True,
            network=str(network.name),
            environment={
                "POSTGRES_USER": DATABASE,
                "POSTGRES_DB": DATABASE,
                "POSTGRES_PASSWORD": uuid.uuid4().hex,
            },
            healthcheck={
                "test": ["CMD", "pg_isready", "-U", DATABASE, "-d", DATABASE],
                "interval": 1_000_000_000,
                "timeout": 3_000_000_000,
                "retries": 60,
            },
            labels=labels,
        )
        _wait_healthy(container)
        yield container
    finally:
        if container is not None:
            with suppress(NotFound):
                container.remove(force=True, v=True)
        with suppress(NotFound):
            network.remove()


def database_url(postgres: Container) -> str:
    env = dict(e.split("=", 1) for e in postgres.attrs["Config"]["Env"])
    return f"postgresql://{DATABASE}:{env['POSTGRES_PASSWORD']}@{postgres.name}:5432/{DATABASE}"


@dataclass(frozen=True)
class Stand:
    task: RunningTask
    postgres: Container
    port: int  # the app's port on 127.0.0.1
    hot_tokens: list[str]  # user n's token at n - 1
    admin_token: str

    @property
    def containers(self) -> dict[str, Container]:
        """The containers whose use is sampled: the task's two, and the database."""
        return {
            "app": self.task.containers["app"],
            "redis": self.task.containers["redis"],
            "postgres": self.postgres,
        }


@contextmanager
def running_task(
    client: docker.DockerClient,
    config: StageConfig,
    images: Mapping[str, Built],
    postgres: Container,
    work_dir: Path,
    say: Callable[[str], None],
    environment: Mapping[str, str],
) -> Iterator[Stand]:
    """The stage's task with the database's URL in its secret; removed afterwards."""
    definition = task_definition(config)
    secret = json.dumps({"DATABASE_URL": database_url(postgres)})
    spec = TaskSpec(
        definition=definition,
        images={"app": images[APP.tag].image_id, "redis": images[REDIS.tag].image_id},
        secret_value=lambda _: secret,
        environment_overrides={"app": {**LOCAL_AUTH_ENV, **environment}},
        host_ports={config.app.port: free_port()},
        networks=tuple(str(n) for n in postgres.attrs["NetworkSettings"]["Networks"]),
    )
    try:
        task = run_task(client, spec, say=say)
        _psql(postgres, _ADD_USERS_SQL)
        hot, admin = _tokens(task.containers["app"], work_dir, config.auth.admin_group)
        yield Stand(task, postgres, spec.host_ports[config.app.port], hot, admin)
    finally:
        remove_task(client, spec.task_id)


# Users beyond the seeded demo ones, each holding what demo user (id mod 4) + 1 holds; the hot
# ones linked to their own token's sub (dev-user-N). Only integer constants are formatted in.
_ADD_USERS_SQL = (
    "INSERT INTO users (id, name) SELECT n, 'Bench user ' || n "  # noqa: S608
    f"FROM generate_series(6, {HOT_USERS + COLD_USERS}) AS n ON CONFLICT DO NOTHING;"
    "INSERT INTO holdings (user_id, symbol, quantity, cost_basis) "
    "SELECT u.id, h.symbol, h.quantity, h.cost_basis FROM users u "
    "JOIN holdings h ON h.user_id = (u.id % 4) + 1 WHERE u.id >= 6 ON CONFLICT DO NOTHING;"
    "INSERT INTO user_identities (sub, user_id) SELECT 'dev-user-' || n, n "
    f"FROM generate_series(6, {HOT_USERS}) AS n ON CONFLICT DO NOTHING;"
    "ANALYZE;"
)


def _tokens(app: Container, work_dir: Path, admin_group: str) -> tuple[list[str], str]:
    """A token per hot user and one admin token, signed with the app's dev key."""
    mint_token(app, user_id=1)  # the app's issuer key exists once a token was minted
    stream, _ = app.get_archive(DEV_KEY_PATH)
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        member = tar.extractfile(tar.getmembers()[0])
        assert member is not None
        key_file = work_dir / "dev-jwt-key.pem"
        key_file.write_bytes(member.read())
    key = devkeys.load_or_create_key(key_file)

    def mint(sub: str, groups: tuple[str, ...] = ()) -> str:
        return devkeys.mint(
            key,
            issuer=LOCAL_ISSUER,
            client_id=LOCAL_CLIENT_ID,
            sub=sub,
            groups=groups,
            ttl_s=TOKEN_TTL_S,
        )

    hot = [mint(devkeys.dev_sub(n)) for n in range(1, HOT_USERS + 1)]
    return hot, mint("bench-admin", (admin_group,))


@dataclass(frozen=True)
class Sample:
    """Cumulative CPU and current memory of each sampled container, and the task cgroup's
    CFS periods, at one moment."""

    at_s: float
    cpu_ns: Mapping[str, int]
    memory_mib: Mapping[str, float]
    periods: int
    throttled_periods: int


def _stats(container: Container) -> dict[str, Any]:
    found = container.stats(stream=False, one_shot=True)
    assert isinstance(found, dict)
    return found


def memory_in_use_mib(stats: Mapping[str, Any]) -> float:
    """Memory as `docker stats` counts it: usage less the inactive page cache."""
    memory = stats.get("memory_stats", {})
    detail = memory.get("stats", {})
    inactive = detail.get("total_inactive_file", detail.get("inactive_file", 0))
    return float(memory.get("usage", 0) - inactive) / _MIB


def sample(stand: Stand) -> Sample:
    """Every container's stats at (nearly) the same moment: one thread each."""
    named = {**stand.containers, PAUSE: stand.task.containers[PAUSE]}
    with ThreadPoolExecutor(max_workers=len(named)) as pool:
        stats = dict(zip(named, pool.map(_stats, named.values()), strict=True))
    throttling = stats[PAUSE]["cpu_stats"].get("throttling_data", {})
    return Sample(
        at_s=time.monotonic(),
        cpu_ns={n: int(s["cpu_stats"]["cpu_usage"]["total_usage"]) for n, s in stats.items()},
        memory_mib={n: memory_in_use_mib(s) for n, s in stats.items()},
        periods=int(throttling.get("periods", 0)),
        throttled_periods=int(throttling.get("throttled_periods", 0)),
    )


@dataclass(frozen=True)
class Usage:
    """What the containers used between two samples."""

    vcpus: Mapping[str, float]  # container -> vCPUs used on average
    task_vcpus: float  # the task's containers together (app + redis)
    task_cpu_percent: float  # of the task's CPU units
    redis_share: float  # redis's part of the task's CPU
    app_memory_mib: float  # at the second sample
    throttled_percent: float  # CFS periods in which the task was throttled

    def cpu_us_per_request(self, rate_per_s: float, idle: Usage) -> float:
        """The task's CPU per request beyond what it uses idle (health checks, metrics): a
        cost per request that the rate it was measured at barely changes."""
        return max(0.0, self.task_vcpus - idle.task_vcpus) * 1e6 / max(1e-9, rate_per_s)


def usage(before: Sample, after: Sample, task_vcpus: float) -> Usage:
    seconds = max(1e-6, after.at_s - before.at_s)
    vcpus = {
        name: (after.cpu_ns[name] - before.cpu_ns[name]) / _NS_PER_S / seconds
        for name in after.cpu_ns
        if name != PAUSE
    }
    task = vcpus["app"] + vcpus["redis"]
    periods = after.periods - before.periods
    throttled = after.throttled_periods - before.throttled_periods
    return Usage(
        vcpus=vcpus,
        task_vcpus=task,
        task_cpu_percent=100 * task / task_vcpus,
        redis_share=vcpus["redis"] / task if task else 0.0,
        app_memory_mib=after.memory_mib["app"],
        throttled_percent=100 * throttled / periods if periods else 0.0,
    )
