"""A small circuit breaker: after N consecutive failures stop calling the dependency for a while.

States: CLOSED (calls allowed) -> OPEN (calls skipped, after `failure_threshold` consecutive
failures or an explicit trip) -> HALF_OPEN (after `reset_timeout_s`, a single probe owned by the
caller decides) -> CLOSED on a successful probe, back to OPEN on a failed one.

The breaker does no I/O and never awaits: every method is synchronous, so state changes are
atomic with respect to the event loop.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(
        self,
        failure_threshold: int,
        reset_timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be >= 1")
        if reset_timeout_s <= 0:
            raise ValueError("reset_timeout_s must be > 0")
        self.failure_threshold = failure_threshold
        self.reset_timeout_s = reset_timeout_s
        self._clock = clock
        self._state = BreakerState.CLOSED
        # A plain attribute kept in step with the state (every change goes through _enter):
        # the cache reads it on every hit, where a property would be one more Python call.
        self.closed = True
        self._failures = 0
        self._opened_at = 0.0
        self.trips = 0  # how many times the breaker opened, for metrics and tests
        self.closes = 0  # how many times it closed again after a successful probe

    @property
    def state(self) -> BreakerState:
        return self._state

    def _enter(self, state: BreakerState) -> None:
        self._state = state
        self.closed = state is BreakerState.CLOSED

    def record_success(self) -> None:
        """A call succeeded while closed: forget earlier isolated failures."""
        if self._state is BreakerState.CLOSED:
            self._failures = 0

    def record_failure(self) -> bool:
        """A call failed. Returns True when this failure opened the breaker."""
        if self._state is not BreakerState.CLOSED:
            return False
        self._failures += 1
        if self._failures >= self.failure_threshold:
            self.trip()
            return True
        return False

    def trip(self) -> None:
        """Open now, whatever the failure count (used when skipping Redis would be unsafe)."""
        if self._state is not BreakerState.OPEN:
            self.trips += 1
        self._enter(BreakerState.OPEN)
        self._opened_at = self._clock()
        self._failures = 0

    def seconds_until_probe(self) -> float:
        """While OPEN: how long until a probe is due (0 when due). 0 in the other states."""
        if self._state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self._opened_at + self.reset_timeout_s - self._clock())

    def probe_due_now(self) -> None:
        """While OPEN: make the next probe due at once (the dependency was seen answering)."""
        if self._state is BreakerState.OPEN:
            self._opened_at = self._clock() - self.reset_timeout_s

    def begin_probe(self) -> bool:
        """OPEN and the reset timeout has passed -> HALF_OPEN; True when the caller should probe."""
        if self._state is BreakerState.OPEN and self.seconds_until_probe() == 0.0:
            self._enter(BreakerState.HALF_OPEN)
            return True
        return False

    def probe_succeeded(self) -> None:
        if self._state is BreakerState.HALF_OPEN:
            self._enter(BreakerState.CLOSED)
            self._failures = 0
            self.closes += 1

    def probe_failed(self) -> None:
        if self._state is BreakerState.HALF_OPEN:
            self._enter(BreakerState.OPEN)
            self._opened_at = self._clock()
