"""A circuit breaker per source, after Resilience4j: closed → open → half-open → closed.

Closed: calls flow; outcomes land in a time-based rolling window. Once the window holds at
least `min_calls` calls and `failure_rate` of them failed, the breaker opens. Open: calls
fail fast with `CircuitOpen` (nothing is sent) for `open_s`. Then half-open: exactly
`half_open_calls` probes are let through; when they have all finished, the breaker closes
if their failure rate is under the threshold and opens again otherwise.

Written here rather than taken from `purgatory` or `aiobreaker`: both trip on a count of
consecutive failures (no failure-rate window, no minimum calls), let every caller through
while half-open, and read the wall clock, so tests could not drive them with a fake one.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .errors import CircuitOpen
from .window import Clock, RollingWindow

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"

Transition = Callable[[str, str], None]  # (source, new state)


class CircuitBreaker:
    """One source's breaker; `acquire()` before a call, then exactly one of the outcomes."""

    def __init__(
        self,
        source: str,
        *,
        failure_rate: float = 0.5,
        min_calls: int = 20,
        window_s: float = 10.0,
        open_s: float = 5.0,
        half_open_calls: int = 3,
        clock: Clock = time.monotonic,
        on_transition: Transition | None = None,
    ) -> None:
        self.source = source
        self.failure_rate = failure_rate
        self.min_calls = max(1, min_calls)
        self.open_s = open_s
        self.half_open_calls = max(1, half_open_calls)
        self.window = RollingWindow(window_s, clock=clock)
        self.transitions: list[tuple[float, str]] = []  # (clock time, new state), for tests
        self._clock = clock
        self._on_transition = on_transition
        self._state = CLOSED
        self._opened_at = 0.0
        self._permits = 0  # half-open probes handed out
        self._probes: list[bool] = []  # half-open probe outcomes (True = failed)

    @property
    def state(self) -> str:
        """The current state; an open breaker whose wait is over reads as half-open."""
        if self._state == OPEN and self._clock() - self._opened_at >= self.open_s:
            self._move(HALF_OPEN)
        return self._state

    def retry_in(self) -> float:
        """Seconds until an open breaker lets probes through (0 unless open)."""
        if self.state != OPEN:
            return 0.0
        return max(0.0, self._opened_at + self.open_s - self._clock())

    def use_clock(self, clock: Clock) -> None:
        """Read time from `clock` from now on (tests freeze time through this)."""
        self._clock = clock
        self.window.use_clock(clock)
        self._opened_at = clock() if self._state == OPEN else self._opened_at

    def acquire(self) -> None:
        """Permission for one call, or `CircuitOpen` (open, or half-open with probes out)."""
        state = self.state
        if state == CLOSED:
            return
        if state == HALF_OPEN and self._permits < self.half_open_calls:
            self._permits += 1
            return
        wait = self.retry_in()
        detail = f"retry in {wait:.1f}s" if state == OPEN else "probing recovery"
        raise CircuitOpen(self.source, f"circuit open ({detail})")

    def record_success(self) -> None:
        """The call got a useful answer from the upstream."""
        self._record(failed=False)

    def record_failure(self) -> None:
        """The call failed in a way that says the upstream is unhealthy."""
        self._record(failed=True)

    def release(self) -> None:
        """The permitted call never reached the upstream (cancelled, no budget): no outcome."""
        if self._state == HALF_OPEN and self._permits > len(self._probes):
            self._permits -= 1

    def _record(self, *, failed: bool) -> None:
        if self._state == CLOSED:
            self.window.record(failed=failed)
            totals = self.window.totals()
            if totals.calls >= self.min_calls and totals.failure_rate >= self.failure_rate:
                self._move(OPEN)
        elif self._state == HALF_OPEN:
            self._probes.append(failed)
            if len(self._probes) >= self.half_open_calls:
                rate = sum(self._probes) / len(self._probes)
                self._move(OPEN if rate >= self.failure_rate else CLOSED)
        # An outcome arriving while open (a call that started before the trip) changes nothing.

    def _move(self, state: str) -> None:
        if state == self._state:
            return
        self._state = state
        self._permits = 0
        self._probes = []
        if state == OPEN:
            self._opened_at = self._clock()
        if state == CLOSED:
            self.window.clear()
        self.transitions.append((self._clock(), state))
        if self._on_transition is not None:
            self._on_transition(self.source, state)
