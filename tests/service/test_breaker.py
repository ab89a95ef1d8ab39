"""CircuitBreaker state machine (service/breaker.py), on an explicit clock."""

from __future__ import annotations

import pytest

from service.breaker import BreakerState, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_threshold_consecutive_failures() -> None:
    breaker = CircuitBreaker(3, 1.0, clock=Clock())
    assert not breaker.record_failure()
    assert not breaker.record_failure()
    assert breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert breaker.trips == 1


def test_success_resets_the_failure_count() -> None:
    breaker = CircuitBreaker(2, 1.0, clock=Clock())
    breaker.record_failure()
    breaker.record_success()
    assert not breaker.record_failure()
    assert breaker.closed


def test_probe_only_after_reset_timeout_then_closes_on_success() -> None:
    clock = Clock()
    breaker = CircuitBreaker(1, 2.0, clock=clock)
    breaker.record_failure()
    assert breaker.seconds_until_probe() == pytest.approx(2.0)
    assert not breaker.begin_probe()
    clock.now += 2.0
    assert breaker.begin_probe()
    assert breaker.state is BreakerState.HALF_OPEN
    # Failures reported by ordinary calls while half-open do not count: the probe decides.
    assert not breaker.record_failure()
    breaker.probe_succeeded()
    assert breaker.closed


def test_failed_probe_reopens_for_a_full_timeout() -> None:
    clock = Clock()
    breaker = CircuitBreaker(1, 1.0, clock=clock)
    breaker.trip()
    clock.now += 1.0
    assert breaker.begin_probe()
    clock.now += 0.5
    breaker.probe_failed()
    assert breaker.state is BreakerState.OPEN
    assert breaker.seconds_until_probe() == pytest.approx(1.0)


def test_trip_opens_whatever_the_count() -> None:
    breaker = CircuitBreaker(100, 1.0, clock=Clock())
    breaker.trip()
    assert breaker.state is BreakerState.OPEN


def test_closed_follows_every_transition() -> None:
    """`closed` is an attribute kept beside the state (read on every cache hit): each way into
    and out of CLOSED must update it."""
    clock = Clock()
    breaker = CircuitBreaker(1, 1.0, clock=clock)
    seen = [(breaker.state, breaker.closed)]
    breaker.record_failure()
    seen.append((breaker.state, breaker.closed))
    clock.now += 1.0
    breaker.begin_probe()
    seen.append((breaker.state, breaker.closed))
    breaker.probe_failed()
    seen.append((breaker.state, breaker.closed))
    clock.now += 1.0
    breaker.begin_probe()
    breaker.probe_succeeded()
    seen.append((breaker.state, breaker.closed))
    breaker.trip()
    seen.append((breaker.state, breaker.closed))
    assert seen == [
        (BreakerState.CLOSED, True),
        (BreakerState.OPEN, False),
        (BreakerState.HALF_OPEN, False),
        (BreakerState.OPEN, False),
        (BreakerState.CLOSED, True),
        (BreakerState.OPEN, False),
    ]


@pytest.mark.parametrize(("threshold", "timeout_s"), [(0, 1.0), (1, 0.0)])
def test_rejects_nonsense_configuration(threshold: int, timeout_s: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        CircuitBreaker(threshold, timeout_s)
