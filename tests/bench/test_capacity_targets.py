"""From measured capacity to the scaling settings (bench/capacity/targets.py)."""

from __future__ import annotations

import pytest

from bench.capacity.targets import (
    CPU_BOUND_PERCENT,
    SCALE_OUT_GROWTH,
    THROTTLED_BOUND_PERCENT,
    OperationCapacity,
    derive,
    highest_cpu_target,
    mean_rate_per_s,
    memory_target_range,
)
from infra.config import StageConfig, load_stage


@pytest.fixture(scope="module")
def prod() -> StageConfig:
    return load_stage("prod", image_tag="capacity-test")


def _op(
    name: str = "cached read",
    rate: float = 1000.0,
    cpu: float = 80.0,
    failing_cpu: float | None = 98.0,
    memory: float = 100.0,
) -> OperationCapacity:
    return OperationCapacity(
        name=name,
        rate_per_s=rate,
        cpu_percent=cpu,
        failing_cpu_percent=failing_cpu,
        app_memory_mib=memory,
    )


def test_the_cpu_target_leaves_the_growth_of_a_scale_out_to_the_weakest_cpu_bound_op() -> None:
    ops = [_op(cpu=90.0), _op("write", cpu=75.0)]
    # 75 / 1.25 = 60, on a 5-point step.
    assert highest_cpu_target(ops) == 60
    assert 75.0 / (1 + SCALE_OUT_GROWTH) == 60


def test_an_op_not_limited_by_the_task_cpu_bounds_no_cpu_target() -> None:
    database_bound = _op("write", cpu=20.0, failing_cpu=CPU_BOUND_PERCENT - 1)
    assert not database_bound.cpu_bound
    assert highest_cpu_target([database_bound]) is None
    assert highest_cpu_target([database_bound, _op(cpu=88.0)]) == 70  # 88 / 1.25 = 70.4


def test_a_throttled_task_was_limited_by_its_cpu_below_the_cpu_threshold() -> None:
    """The task's quota ran out (CFS throttling) although its average stayed below the
    threshold: bursts, not the mean, met the limit."""
    throttled = OperationCapacity(
        name="uncached read",
        rate_per_s=120.0,
        cpu_percent=65.0,
        failing_cpu_percent=75.0,
        app_memory_mib=90.0,
        failing_throttled_percent=THROTTLED_BOUND_PERCENT,
    )
    assert throttled.cpu_bound
    assert highest_cpu_target([throttled]) == 50  # 65 / 1.25 = 52


def test_the_cpu_target_stays_in_the_range_the_config_accepts() -> None:
    assert highest_cpu_target([_op(cpu=100.0, failing_cpu=100.0)]) == 80
    assert highest_cpu_target([_op(cpu=5.0, failing_cpu=100.0)]) == 10


def test_memory_range_for_prod(prod: StageConfig) -> None:
    # maxmemory 192 MiB + 5 % of 256 MiB of Redis overhead = 204.8 MiB with a full cache.
    fits = memory_target_range(100.0, prod)
    assert fits.healthy_percent == pytest.approx(100 * (204.8 + 100) / 1024)
    assert (fits.lowest, fits.highest) == (40, 85)  # 29.8 + 10 up; (204.8 + 691.2) / 1024 down
    assert fits.lowest <= prod.scaling.memory_target_percent <= fits.highest


def test_a_memory_hungry_app_raises_the_lowest_memory_target(prod: StageConfig) -> None:
    assert memory_target_range(500.0, prod).lowest == 80


def test_rate_at_a_cpu_share_scales_with_cpu_and_never_beyond_capacity() -> None:
    op = _op(rate=1000.0, cpu=80.0)
    assert op.rate_at_cpu_per_s(40.0) == 500.0
    assert op.rate_at_cpu_per_s(95.0) == 1000.0


def test_derive_reports_each_setting_with_its_verdict(prod: StageConfig) -> None:
    ops = [_op(rate=1200.0, cpu=85.0), _op("uncached read", rate=150.0, cpu=80.0)]
    targets = {t.setting: t for t in derive(ops, prod)}
    assert set(targets) == {
        "cpu_target_percent",
        "memory_target_percent",
        "min_capacity",
        "max_capacity",
    }
    cpu = targets["cpu_target_percent"]
    assert (cpu.derived, cpu.follows) == ("<= 60", prod.scaling.cpu_target_percent <= 60)
    # prod's 30 M requests a month; uncached reads at 60 % CPU: 150 * 60 / 80 = 112.5/s a task.
    mean = mean_rate_per_s(prod)
    assert mean == pytest.approx(30e6 / (730 * 3600), rel=0.01)
    assert targets["min_capacity"].derived == ">= 1"
    assert targets["max_capacity"].derived == f">= {int(-(-10 * mean // 112.5)) + 1}"


def test_a_cpu_target_above_the_figures_differs(prod: StageConfig) -> None:
    ops = [_op(cpu=50.0)]  # 50 / 1.25 = 40, below prod's 60
    cpu = next(t for t in derive(ops, prod) if t.setting == "cpu_target_percent")
    assert not cpu.follows
    assert "cached read met the goal up to 50% CPU" in cpu.why
