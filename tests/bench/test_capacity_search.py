"""The capacity search (bench/capacity/search.py) on systems whose capacity is known."""

from __future__ import annotations

import pytest

from bench.capacity.search import find_capacity


@pytest.mark.parametrize("capacity", [37.0, 450.0, 1234.0, 9000.0])
@pytest.mark.parametrize("start", [100.0, 400.0])
def test_finds_the_capacity_within_the_precision(capacity: float, start: float) -> None:
    tried: list[float] = []

    def measure(rate: float) -> float:
        tried.append(rate)
        return rate

    search = find_capacity(measure, lambda rate: rate <= capacity, start_per_s=start)
    assert search.best is not None
    assert search.first_failed is not None
    best, failed = search.best.rate_per_s, search.first_failed.rate_per_s
    assert best <= capacity < failed
    assert (failed - best) / failed <= 0.1
    assert len(tried) <= 12
    assert [s.rate_per_s for s in search.steps] == tried


def test_doubles_then_bisects() -> None:
    search = find_capacity(lambda r: r, lambda r: r <= 500, start_per_s=100)
    rates = [s.rate_per_s for s in search.steps]
    assert rates[:4] == [100, 200, 400, 800]  # doubling until a rate fails
    assert rates[4] == 600  # then halfway between the best pass and the first failure


def test_a_start_above_the_capacity_halves_until_one_passes() -> None:
    search = find_capacity(lambda r: r, lambda r: r <= 30, start_per_s=400)
    assert [s.rate_per_s for s in search.steps][:5] == [400, 200, 100, 50, 25]
    assert search.best is not None and search.best.rate_per_s <= 30


def test_nothing_passes_above_the_floor() -> None:
    search = find_capacity(lambda r: r, lambda r: False, start_per_s=40, floor_per_s=5)
    assert search.best is None
    assert [s.rate_per_s for s in search.steps] == [40, 20, 10, 5]


def test_everything_passes_up_to_the_ceiling() -> None:
    search = find_capacity(lambda r: r, lambda r: True, start_per_s=100, ceiling_per_s=1000)
    assert search.first_failed is None
    assert [s.rate_per_s for s in search.steps] == [100, 200, 400, 800]
