"""Retries of upstream calls: which failures, how often, how long to wait, and how many.

Only idempotent calls are retried: reads (GET, and the ERP's `$batch` of GETs) and writes
that carry an `Idempotency-Key`, which the upstreams replay instead of applying twice.
Retried: connection failures, timeouts, 500/502/503/504 and 429. Never retried: other 4xx,
an open breaker or a full bulkhead (both mean "back off now").

The wait before retry n is full jitter, `uniform(0, min(backoff_max, backoff · 2^(n-1)))`
(AWS Architecture Blog, "Exponential Backoff and Jitter"), or the upstream's `Retry-After`
on 429/503 when it gives one. A retry happens only when its wait and a minimal attempt
still fit in the request's remaining budget, and when the source's retry budget allows
it: retries may be at most `ratio` of the requests of the last `window_s` seconds plus a
small floor (Finagle's RetryBudget, Envoy's retry budgets), so an outage cannot turn into
a retry storm. The loop is tenacity's `AsyncRetrying` (async, pluggable wait/stop/sleep);
the policy above lives in its wait and stop callables.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from .errors import (
    BulkheadFull,
    CircuitOpen,
    SourceThrottled,
    SourceTimeout,
    SourceUnavailable,
)
from .window import Clock, RollingWindow

T = TypeVar("T")
RETRY_STATUSES = frozenset({500, 502, 503, 504, 429})
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How one source retries; `attempts` count the first try too."""

    attempts: int = 3
    write_attempts: int = 1
    backoff_s: float = 0.05
    backoff_max_s: float = 1.0
    max_retry_after_s: float = 5.0
    min_attempt_s: float = 0.02  # a retry needs at least this much budget left after its wait

    def backoff(self, failed_attempt: int, rng: random.Random) -> float:
        """Full-jitter wait after the `failed_attempt`-th try (1-based)."""
        ceiling = min(self.backoff_max_s, self.backoff_s * 2 ** max(0, failed_attempt - 1))
        return rng.uniform(0.0, ceiling)


class RetryBudget:
    """Retries allowed: `ratio` × requests in the last `window_s` seconds + `min_retries`."""

    def __init__(
        self,
        *,
        ratio: float = 0.2,
        min_retries: int = 10,
        window_s: float = 10.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self.ratio = ratio
        self.min_retries = min_retries
        self.window = RollingWindow(window_s, clock=clock)
        self.denied = 0

    def record_request(self) -> None:
        """A new logical call (its first attempt) deposits into the budget."""
        self.window.record(failed=False)

    def try_spend(self) -> bool:
        """Take one retry from the budget; False (and nothing taken) when it is spent."""
        totals = self.window.totals()
        if totals.retries + 1 <= self.min_retries + self.ratio * totals.calls:
            self.window.record_retry()
            return True
        self.denied += 1
        return False


def is_retryable(exc: BaseException) -> bool:
    """An upstream failure another attempt may fix."""
    if not isinstance(exc, SourceUnavailable) or isinstance(exc, (CircuitOpen, BulkheadFull)):
        return False
    return exc.status is None or exc.status in RETRY_STATUSES


def retry_reason(exc: BaseException | None) -> str:
    """A short label for metrics: why a call is retried."""
    if isinstance(exc, SourceThrottled):
        return "throttled"
    if isinstance(exc, SourceTimeout):
        return "timeout"
    if isinstance(exc, SourceUnavailable) and exc.status is not None:
        return f"status_{exc.status}"
    return "transport"


def _retry_after(exc: BaseException | None) -> float | None:
    if isinstance(exc, SourceUnavailable) and exc.status in (429, 503):
        return exc.retry_after
    return None


async def call_with_retries(
    call: Callable[[], Awaitable[T]],
    *,
    attempts: int,
    policy: RetryPolicy,
    budget: RetryBudget,
    remaining: Callable[[], float | None],
    rng: random.Random,
    sleep: Sleep = asyncio.sleep,
    on_retry: Callable[[str], None] | None = None,
) -> T:
    """`await call()`, retried under `policy` while the request budget and `budget` allow."""
    if attempts <= 1:
        return await call()

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        told = _retry_after(exc)
        if told is not None:
            return max(0.0, told)
        return policy.backoff(state.attempt_number, rng)

    def stop(state: RetryCallState) -> bool:
        if state.attempt_number >= attempts:
            return True
        exc = state.outcome.exception() if state.outcome else None
        told = _retry_after(exc)
        if told is not None and told > policy.max_retry_after_s:
            return True
        left = remaining()
        if left is not None and left - state.upcoming_sleep < policy.min_attempt_s:
            return True
        return not budget.try_spend()  # last: it takes from the budget

    def before_sleep(state: RetryCallState) -> None:
        if on_retry is not None:
            on_retry(retry_reason(state.outcome.exception() if state.outcome else None))

    retrying = AsyncRetrying(
        retry=retry_if_exception(is_retryable),
        wait=wait,
        stop=stop,
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    # The first attempt runs outside tenacity: most calls succeed, and its per-call machinery
    # costs more CPU than a warm read. A retryable failure is handed to tenacity as its first
    # attempt's outcome (re-raised, not re-sent), so waits, stops and budgets are unchanged.
    try:
        return await call()
    except Exception as exc:
        if not is_retryable(exc):
            raise
        first: Exception | None = exc

    async def once() -> T:  # tenacity awaits only what is a coroutine function
        nonlocal first
        if first is not None:
            failed, first = first, None
            raise failed
        return await call()

    return await retrying(once)
