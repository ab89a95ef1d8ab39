"""What the containers used between two samples, and a request's CPU cost beyond the idle
task's (bench/capacity/stand.py)."""

from __future__ import annotations

import pytest

from bench.capacity.stand import Sample, usage
from tools.containers.task import PAUSE

_NS = 1_000_000_000


def _sample(at_s: float, app_s: float, redis_s: float, periods: int, throttled: int) -> Sample:
    return Sample(
        at_s=at_s,
        cpu_ns={"app": int(app_s * _NS), "redis": int(redis_s * _NS), "postgres": 0, PAUSE: 0},
        memory_mib={"app": 90.0, "redis": 20.0, "postgres": 50.0, PAUSE: 0.0},
        periods=periods,
        throttled_periods=throttled,
    )


def test_usage_is_the_task_s_share_of_its_cpu_units_with_redis_s_part() -> None:
    # 4 s: the app used 1.2 CPU-s, redis 0.4: 0.4 vCPU of a 0.5 vCPU task.
    used = usage(_sample(10.0, 5.0, 1.0, 100, 10), _sample(14.0, 6.2, 1.4, 140, 20), 0.5)
    assert used.task_vcpus == pytest.approx(0.4)
    assert used.task_cpu_percent == pytest.approx(80.0)
    assert used.redis_share == pytest.approx(0.25)
    assert used.throttled_percent == pytest.approx(25.0)
    assert used.app_memory_mib == 90.0
    assert PAUSE not in used.vcpus


def test_cpu_per_request_leaves_out_what_the_idle_task_uses() -> None:
    idle = usage(_sample(0.0, 0.0, 0.0, 0, 0), _sample(10.0, 0.15, 0.05, 0, 0), 0.5)  # 0.02
    loaded = usage(_sample(0.0, 0.0, 0.0, 0, 0), _sample(4.0, 1.0, 0.28, 0, 0), 0.5)  # 0.32
    # (0.32 - 0.02) vCPU at 1000 req/s: 300 µs a request.
    assert loaded.cpu_us_per_request(1000.0, idle) == pytest.approx(300.0)
    assert idle.cpu_us_per_request(10.0, loaded) == 0.0
