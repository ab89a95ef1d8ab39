"""The highest request rate that still meets the latency goal: doubling, then bisection.

Each step runs the load at one constant rate (open loop, bench/capacity/loadgen.py) and judges
it: passed when every request was answered 2xx in time and p99 met the goal. From a start
rate the search doubles while steps pass (or halves while they fail) until one rate passes and
another fails, then bisects between them until they are within `precision` of each other. The
answer is the highest rate that passed, with its step (what the task used at that rate).

A rate fails only when it failed `retries + 1` times in a row: on a machine shared with other
work, one stall of the host would otherwise decide a step the task itself passes. A rate that
passes once has passed: a stall only ever makes latency worse.

Why rate steps rather than a closed loop that bisects on connections: with N connections each
waiting for its answer, a slow server slows the senders too, so the load falls exactly when
latency rises, and p99 at N connections names no request rate a task would face. An open loop
keeps the rate whatever the server does, as clients behind a load balancer do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Tried(Generic[T]):
    rate_per_s: float
    result: T
    passed: bool


@dataclass
class Search(Generic[T]):
    steps: list[Tried[T]] = field(default_factory=list)

    @property
    def best(self) -> Tried[T] | None:
        """The highest rate that passed."""
        passed = [s for s in self.steps if s.passed]
        return max(passed, key=lambda s: s.rate_per_s) if passed else None

    @property
    def first_failed(self) -> Tried[T] | None:
        """The lowest rate that failed above the best (what broke the goal), if any."""
        floor = self.best.rate_per_s if self.best else 0.0
        failed = [s for s in self.steps if not s.passed and s.rate_per_s > floor]
        return min(failed, key=lambda s: s.rate_per_s) if failed else None


def find_capacity(
    measure: Callable[[float], T],
    passes: Callable[[T], bool],
    *,
    start_per_s: float,
    precision: float = 0.1,
    floor_per_s: float = 5.0,
    ceiling_per_s: float = 50_000.0,
    max_steps: int = 12,
    retries: int = 0,
) -> Search[T]:
    """Steps of `measure(rate)` until the passing and failing rates are within `precision`
    (relative to the failing one), the rate leaves [floor, ceiling], or `max_steps` ran. A
    step is the rate's first passing measurement, or its last of `retries + 1` failing ones."""
    search: Search[T] = Search()
    rate = start_per_s
    while len(search.steps) < max_steps:
        search.steps.append(_step(measure, passes, rate, retries))
        best, failed = search.best, search.first_failed
        if best is None:
            rate /= 2
            if rate < floor_per_s:
                break
        elif failed is None:
            rate *= 2
            if rate > ceiling_per_s:
                break
        elif (failed.rate_per_s - best.rate_per_s) / failed.rate_per_s <= precision:
            break
        else:
            rate = (best.rate_per_s + failed.rate_per_s) / 2
    return search


def _step(
    measure: Callable[[float], T], passes: Callable[[T], bool], rate: float, retries: int
) -> Tried[T]:
    result = measure(rate)
    for _ in range(retries):
        if passes(result):
            break
        result = measure(rate)
    return Tried(rate, result, passes(result))
