"""From the measured capacity of one task to the service's autoscaling settings.

ECS scales the service on two target-tracking policies (infra/constructs/app_service.py): the
average CPU and the average memory of its tasks, each as a share of the task size. The rules,
with the figures `python -m bench capacity` measures (docs/capacity.md):

* cpu_target_percent: while a scale-out takes effect (three one-minute datapoints above the
  target, then a task's start), traffic keeps growing; the tasks must still meet the latency
  goal when it has grown by SCALE_OUT_GROWTH. An operation limited by the task's CPU meets it
  up to the CPU share it used at its capacity, so the target is at most that share divided by
  (1 + SCALE_OUT_GROWTH), for the least of those operations. An operation that is not limited
  by the task's CPU (the database, or a busy machine) says nothing about the CPU target.
* memory_target_percent: above what a healthy task holds at capacity (the cache full, as an LRU
  cache is by design, plus the app's memory at its highest measured rate) with a margin, or a
  full cache alone would keep the service scaled out; below the point where the app container
  nears its own hard limit, or the app would be killed before the service scales out.
* min_capacity and max_capacity: enough tasks for the stage's mean request rate (from its cost
  assumptions) and for PEAK_TO_MEAN times it plus one task being replaced, each task serving
  what it serves at the CPU target; the least capable operation is the bound.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from infra.config import StageConfig
from infra.config.monitoring import REDIS_OVERHEAD_HEADROOM_PERCENT

# Traffic growth the tasks absorb while a scale-out takes effect (about five minutes).
SCALE_OUT_GROWTH = 0.25
# An operation whose first failing rate used at least this much of the task's CPU, or whose
# task was throttled in at least THROTTLED_BOUND_PERCENT of the CFS periods there (its quota
# ran out), was limited by the task's CPU.
CPU_BOUND_PERCENT = 85.0
THROTTLED_BOUND_PERCENT = 10.0
# Percentage points between a healthy task's memory and the memory target.
MEMORY_MARGIN_POINTS = 10
# The app container's share of its own hard limit that the memory target must stay below.
APP_MEMORY_CEILING = 0.9
# The busiest hour's request rate over the month's mean (the cost estimate spreads its
# requests evenly; traffic does not).
PEAK_TO_MEAN = 10.0
# The range ScalingSettings accepts for a utilisation target (infra/config/settings.py).
_UTILISATION_PERCENT = (10, 90)
_STEP_PERCENT = 5


@dataclass(frozen=True)
class OperationCapacity:
    """One operation's figures: its capacity, and what the task used there."""

    name: str
    rate_per_s: float  # the highest rate that met the latency goal
    cpu_percent: float  # the task's CPU at that rate, of its CPU units
    failing_cpu_percent: float | None  # the same at the lowest rate that failed, if any
    app_memory_mib: float  # the app container's memory at that rate
    failing_throttled_percent: float = 0.0  # CFS periods throttled at that failing rate

    @property
    def cpu_bound(self) -> bool:
        return (self.failing_cpu_percent or 0.0) >= CPU_BOUND_PERCENT or (
            self.failing_throttled_percent >= THROTTLED_BOUND_PERCENT
        )

    def rate_at_cpu_per_s(self, cpu_percent: float) -> float:
        """What one task serves of this operation when its CPU sits at `cpu_percent`: CPU
        grows with the rate, and never beyond the measured capacity."""
        if self.cpu_percent <= 0:
            return self.rate_per_s
        return min(self.rate_per_s, self.rate_per_s * cpu_percent / self.cpu_percent)


@dataclass(frozen=True)
class Target:
    setting: str
    configured: int
    derived: str  # the bound or range the figures give
    follows: bool
    why: str


def _floor_step(value: float) -> int:
    return int(value // _STEP_PERCENT * _STEP_PERCENT)


def _ceil_step(value: float) -> int:
    return int(math.ceil(value / _STEP_PERCENT) * _STEP_PERCENT)


def highest_cpu_target(ops: Sequence[OperationCapacity]) -> int | None:
    """The highest CPU target that still leaves SCALE_OUT_GROWTH to every CPU-bound operation;
    None when no operation was limited by the task's CPU."""
    bound = [op.cpu_percent for op in ops if op.cpu_bound]
    if not bound:
        return None
    lo, hi = _UTILISATION_PERCENT
    return max(lo, min(hi, _floor_step(min(bound) / (1 + SCALE_OUT_GROWTH))))


@dataclass(frozen=True)
class MemoryRange:
    healthy_percent: float  # a task with its cache full and the app at its measured memory
    lowest: int  # the lowest memory target: healthy, plus the margin
    highest: int  # the highest: the app container near its own hard limit


def memory_target_range(app_memory_mib: float, config: StageConfig) -> MemoryRange:
    """The memory targets that fit `config`'s task, the app holding `app_memory_mib`."""
    redis_full_mib = (
        config.redis.effective_maxmemory_mib
        + config.redis.memory_mib * REDIS_OVERHEAD_HEADROOM_PERCENT / 100
    )
    task_mib = config.task_memory_mib
    healthy = 100 * (redis_full_mib + app_memory_mib) / task_mib
    nearly_killed = 100 * (redis_full_mib + APP_MEMORY_CEILING * config.app.memory_mib) / task_mib
    return MemoryRange(
        healthy, _ceil_step(healthy + MEMORY_MARGIN_POINTS), _floor_step(nearly_killed)
    )


def mean_rate_per_s(config: StageConfig) -> float:
    """The stage's requests per second over its month (its cost assumptions)."""
    return config.cost.requests_per_month / (config.cost.hours_per_month * 3600)


def derive(ops: Sequence[OperationCapacity], config: StageConfig) -> list[Target]:
    """Each scaling setting of `config` beside what the figures give for it."""
    scaling = config.scaling
    targets = [_cpu(ops, scaling.cpu_target_percent)]
    memory_mib = max(op.app_memory_mib for op in ops)
    fits = memory_target_range(memory_mib, config)
    configured = scaling.memory_target_percent
    targets.append(
        Target(
            "memory_target_percent",
            configured,
            f"{fits.lowest}-{fits.highest}",
            fits.lowest <= configured <= fits.highest,
            f"a task holds {fits.healthy_percent:.0f}% with its cache full and the app at "
            f"{memory_mib:.0f} MiB (+ {MEMORY_MARGIN_POINTS} points); at {fits.highest}% the "
            f"app nears {APP_MEMORY_CEILING:.0%} of its {config.app.memory_mib} MiB",
        )
    )
    targets.extend(_task_counts(ops, config))
    return targets


def _cpu(ops: Sequence[OperationCapacity], configured: int) -> Target:
    highest = highest_cpu_target(ops)
    if highest is None:
        return Target(
            "cpu_target_percent",
            configured,
            "-",
            True,
            "no operation was limited by the task's CPU in this run: the figures bound nothing",
        )
    least = min((op for op in ops if op.cpu_bound), key=lambda op: op.cpu_percent)
    return Target(
        "cpu_target_percent",
        configured,
        f"<= {highest}",
        configured <= highest,
        f"{least.name} met the goal up to {least.cpu_percent:.0f}% CPU; "
        f"/ (1 + {SCALE_OUT_GROWTH:g}) for growth during a scale-out",
    )


def _task_counts(ops: Sequence[OperationCapacity], config: StageConfig) -> list[Target]:
    scaling = config.scaling
    weakest = min(ops, key=lambda op: op.rate_at_cpu_per_s(scaling.cpu_target_percent))
    per_task = weakest.rate_at_cpu_per_s(scaling.cpu_target_percent)
    mean = mean_rate_per_s(config)
    need_min = max(1, math.ceil(mean / per_task))
    need_max = math.ceil(PEAK_TO_MEAN * mean / per_task) + 1
    return [
        Target(
            "min_capacity",
            scaling.min_capacity,
            f">= {need_min}",
            scaling.min_capacity >= need_min,
            f"the stage's mean {mean:.1f} req/s; a task serves {per_task:.0f}/s of "
            f"{weakest.name} at {scaling.cpu_target_percent}% CPU",
        ),
        Target(
            "max_capacity",
            scaling.max_capacity,
            f">= {need_max}",
            scaling.max_capacity >= need_max,
            f"{PEAK_TO_MEAN:g} x the mean, plus a task being replaced; {scaling.max_capacity} "
            f"tasks serve {scaling.max_capacity * per_task:.0f} req/s of {weakest.name}",
        ),
    ]
