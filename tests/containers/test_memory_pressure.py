"""The headline safety claim, on the real cgroup limit: with the project's maxmemory (75 % of the
container's memory) Redis evicts instead of dying; with the deployment guide's `maxmemory 256mb`
in a 256 MiB container it is OOM-killed (asserted, so the guard stays justified).

Writes go from the host to Redis's port published on 127.0.0.1, 10 KB values in pipelines,
3x maxmemory in total, bounded in count and time.
"""

from __future__ import annotations

import sys
import time
from typing import Any

import pytest
import redis
from docker.models.containers import Container

from infra.config import StageConfig
from testkit.containers import Containers
from testkit.servers import free_port
from tools.containers.images import Built

pytestmark = pytest.mark.containers
VALUE = b"x" * 10_000  # 10 KB per write
BATCH = 200
MIB = 1024 * 1024
WRITE_BUDGET_S = 240.0


def start_redis(
    containers: Containers, image: str, config: StageConfig, maxmemory: str
) -> tuple[Container, int]:
    """The sidecar's command with another maxmemory, reachable from the host for the test."""
    args = config.redis.command_args(bind="0.0.0.0")
    args[args.index("--maxmemory") + 1] = maxmemory
    port = free_port()
    container = containers.run(
        image,
        command=[*args, "--protected-mode", "no"],
        mem_limit=f"{config.redis.memory_mib}m",
        memswap_limit=f"{config.redis.memory_mib}m",
        init=True,
        read_only=True,
        ports={f"{config.redis.port}/tcp": ("127.0.0.1", port)},
    )
    client = redis.Redis(port=port, socket_timeout=10)
    deadline = time.monotonic() + 60
    while True:
        try:
            if client.ping():
                return container, port
        except redis.RedisError:
            pass
        assert time.monotonic() < deadline, container.logs(tail=20)
        time.sleep(0.1)


def write(port: int, total_bytes: int) -> dict[str, Any]:
    """Write `total_bytes` of 10 KB values; stop early if Redis goes away."""
    client = redis.Redis(port=port, socket_timeout=10)
    writes = errors = 0
    lost = False
    started = time.monotonic()
    while writes * len(VALUE) < total_bytes and time.monotonic() - started < WRITE_BUDGET_S:
        pipe = client.pipeline(transaction=False)
        for i in range(BATCH):
            pipe.set(f"pressure:{writes + i}", VALUE)
        try:
            replies = pipe.execute(raise_on_error=False)
        except (redis.ConnectionError, redis.TimeoutError):
            lost = True
            break
        errors += sum(1 for r in replies if isinstance(r, Exception))
        writes += BATCH
    return {"writes": writes, "errors": errors, "lost": lost, "took_s": time.monotonic() - started}


def peak_mib(container: Container) -> float:
    sample = container.stats(stream=False)
    assert isinstance(sample, dict)
    stats = sample["memory_stats"]
    return float(stats.get("max_usage", stats.get("usage", 0))) / MIB


def test_project_maxmemory_evicts_under_the_real_limit(
    containers: Containers, container_images: dict[str, Built], dev_config: StageConfig
) -> None:
    maxmemory_mib = dev_config.redis.effective_maxmemory_mib
    container, port = start_redis(
        containers, container_images["redis"].image_id, dev_config, f"{maxmemory_mib}mb"
    )
    result = write(port, 3 * maxmemory_mib * MIB)
    container.reload()
    stats = redis.Redis(port=port).info("stats")
    peak = peak_mib(container)
    print(
        f"memory pressure, maxmemory {maxmemory_mib}mb in {dev_config.redis.memory_mib} MiB: "
        f"{result}, evicted {stats['evicted_keys']}, cgroup peak {peak:.0f} MiB",
        file=sys.stderr,
    )
    assert not result["lost"]
    assert result["writes"] * len(VALUE) >= 3 * maxmemory_mib * MIB
    assert result["errors"] == 0
    assert stats["evicted_keys"] > 0
    assert container.attrs["State"]["OOMKilled"] is False
    assert container.status == "running"
    assert peak < dev_config.redis.memory_mib


def test_guide_maxmemory_equal_to_the_limit_is_oom_killed(
    containers: Containers, container_images: dict[str, Built], dev_config: StageConfig
) -> None:
    limit_mib = dev_config.redis.memory_mib
    container, port = start_redis(
        containers, container_images["redis"].image_id, dev_config, f"{limit_mib}mb"
    )
    result = write(port, 3 * limit_mib * MIB)
    state = container.wait(timeout=60)
    container.reload()
    print(
        f"memory pressure, maxmemory {limit_mib}mb in {limit_mib} MiB: {result}, "
        f"exit {state['StatusCode']}, OOMKilled {container.attrs['State']['OOMKilled']}",
        file=sys.stderr,
    )
    assert result["lost"], "Redis survived: the 75 % guard in infra/config/ needs a new reason"
    assert container.attrs["State"]["OOMKilled"] is True
    assert state["StatusCode"] == 137
