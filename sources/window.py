"""A time-based rolling window of call outcomes, on an injectable clock.

The circuit breaker reads its failure rate here, the retry budget its recent request and
retry counts, and `/readyz` the recent error rate and latency of each source. Buckets of
`bucket_s` seconds; a bucket older than `window_s` no longer counts.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]


@dataclass(slots=True)
class Totals:
    """Counts over (part of) a window."""

    calls: int = 0
    failures: int = 0
    retries: int = 0
    seconds: float = 0.0  # latency summed over calls that reached the upstream
    timed: int = 0
    slowest: float = 0.0

    def add(self, other: Totals) -> None:
        """Fold another bucket into this one."""
        self.calls += other.calls
        self.failures += other.failures
        self.retries += other.retries
        self.seconds += other.seconds
        self.timed += other.timed
        self.slowest = max(self.slowest, other.slowest)

    @property
    def failure_rate(self) -> float:
        """Failed share of calls (0 when there were none)."""
        return self.failures / self.calls if self.calls else 0.0

    @property
    def mean_seconds(self) -> float:
        """Mean latency of the timed calls (0 when there were none)."""
        return self.seconds / self.timed if self.timed else 0.0


class RollingWindow:
    """Outcomes of the last `window_s` seconds, in buckets of `bucket_s`."""

    def __init__(self, window_s: float, *, bucket_s: float | None = None, clock: Clock = time.monotonic) -> None:
        self.window_s = max(window_s, 1e-3)
        self.bucket_s = bucket_s or max(self.window_s / 10, 1e-3)
        self._clock = clock
        self._buckets: deque[tuple[int, Totals]] = deque()

    def _current(self) -> Totals:
        index = math.floor(self._clock() / self.bucket_s)
        self._expire(index)
        if not self._buckets or self._buckets[-1][0] != index:
            self._buckets.append((index, Totals()))
        return self._buckets[-1][1]

    def _expire(self, index: int) -> None:
        oldest = index - math.ceil(self.window_s / self.bucket_s) + 1
        while self._buckets and self._buckets[0][0] < oldest:
            self._buckets.popleft()

    def record(self, *, failed: bool, seconds: float | None = None) -> None:
        """One finished call; `seconds` when it reached the upstream and was timed."""
        bucket = self._current()
        bucket.calls += 1
        bucket.failures += int(failed)
        if seconds is not None:
            bucket.seconds += seconds
            bucket.timed += 1
            bucket.slowest = max(bucket.slowest, seconds)

    def record_retry(self) -> None:
        """One retry spent."""
        self._current().retries += 1

    def totals(self) -> Totals:
        """Sums over the live window."""
        self._expire(math.floor(self._clock() / self.bucket_s))
        total = Totals()
        for _, bucket in self._buckets:
            total.add(bucket)
        return total

    def use_clock(self, clock: Clock) -> None:
        """Read time from `clock` from now on (tests freeze time through this)."""
        self._clock = clock
        self._buckets.clear()

    def clear(self) -> None:
        """Forget every outcome (the breaker starts each state afresh)."""
        self._buckets.clear()
