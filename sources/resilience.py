"""The resilience policy of one source, wrapped around every network attempt it makes.

`HttpSource._send` hands each request to `Resilience.call`, which runs, per attempt:

1. the request's deadline budget (`sources/deadline.py`): no attempt starts once it is
   spent, and an attempt's timeout is `min(source timeout, remaining budget)`;
2. the circuit breaker (`sources/breaker.py`): fail fast with `CircuitOpen` while open;
3. the bulkhead (`sources/bulkhead.py`): at most N calls in flight, a bounded queue;
4. the attempt itself (HTTP, with connect/read timeouts), whose outcome feeds the breaker
   and the health window behind `/readyz`;

and retries the attempts under `sources/retry.py` (idempotent calls only, full-jitter
backoff or `Retry-After`, within the request budget and the source's retry budget).
Metrics go through `sources/telemetry.py`; nothing here defines one.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from . import telemetry
from .breaker import CircuitBreaker
from .bulkhead import Bulkhead
from .config import SourceConfig
from .deadline import current_scope
from .errors import BulkheadFull, SourceThrottled, SourceTimeout, SourceUnavailable
from .retry import RetryBudget, RetryPolicy, Sleep, call_with_retries
from .window import Clock, RollingWindow

T = TypeVar("T")

READ = "read"  # safe to repeat: GET, or a POST that only reads (the ERP's $batch of GETs)
KEYED_WRITE = "keyed_write"  # a write with an Idempotency-Key: the upstream replays it
WRITE = "write"  # anything else: never repeated


class Resilience:
    """Deadline, breaker, bulkhead and retries for one source's calls."""

    def __init__(
        self,
        config: SourceConfig,
        *,
        clock: Clock = time.monotonic,
        rng: random.Random | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.source = config.name
        self.timeout_s = config.timeout_s
        self.clock = clock
        self.rng = rng or random.Random()
        self.sleep = sleep
        self.policy = RetryPolicy(
            attempts=config.retry_attempts,
            write_attempts=config.write_retry_attempts,
            backoff_s=config.retry_backoff_s,
            backoff_max_s=config.retry_backoff_max_s,
            max_retry_after_s=config.max_retry_after_s,
        )
        self.retry_budget = RetryBudget(
            ratio=config.retry_budget_ratio,
            min_retries=config.retry_budget_min,
            window_s=config.retry_budget_window_s,
            clock=clock,
        )
        self.breaker = CircuitBreaker(
            config.name,
            failure_rate=config.breaker_failure_rate,
            min_calls=config.breaker_min_calls,
            window_s=config.breaker_window_s,
            open_s=config.breaker_open_s,
            half_open_calls=config.breaker_half_open_calls,
            clock=clock,
            on_transition=telemetry.record_breaker,
        )
        self.bulkhead = Bulkhead(config.name, config.max_concurrency, config.max_queue)
        self.health = RollingWindow(config.health_window_s, clock=clock)
        self.attempts = 0  # network attempts started, for tests and the benchmark
        self.retries = 0

    def use_clock(self, clock: Clock, sleep: Sleep | None = None) -> None:
        """Drive breaker, budgets and health (and backoff, given `sleep`) from another clock."""
        self.clock = clock
        self.breaker.use_clock(clock)
        self.retry_budget.window.use_clock(clock)
        self.health.use_clock(clock)
        if sleep is not None:
            self.sleep = sleep

    def attempts_for(self, kind: str) -> int:
        """How many tries a call of this kind gets."""
        if kind == READ:
            return self.policy.attempts
        if kind == KEYED_WRITE:
            return self.policy.write_attempts
        return 1

    async def call(
        self,
        attempt: Callable[[float], Awaitable[T]],
        *,
        kind: str = READ,
        timeout_s: float | None = None,
    ) -> T:
        """Run `attempt(timeout)` under the policy; it raises SourceErrors for failures."""
        scope = current_scope()
        remaining: Callable[[], float | None] = scope.remaining if scope else _no_deadline
        cap = self.timeout_s if timeout_s is None else timeout_s
        self.retry_budget.record_request()
        return await call_with_retries(
            lambda: self._attempt(attempt, remaining, cap),
            attempts=self.attempts_for(kind),
            policy=self.policy,
            budget=self.retry_budget,
            remaining=remaining,
            rng=self.rng,
            sleep=self.sleep,
            on_retry=self._on_retry,
        )

    def _on_retry(self, reason: str) -> None:
        self.retries += 1
        telemetry.record_retry(self.source, reason)

    async def _attempt(
        self,
        attempt: Callable[[float], Awaitable[T]],
        remaining: Callable[[], float | None],
        cap: float,
    ) -> T:
        self._check_budget(remaining)
        self.breaker.acquire()
        decided = False  # an outcome reached the breaker; otherwise its permit is handed back
        try:
            async with self.bulkhead.slot(remaining()):
                left = self._check_budget(remaining)
                timeout = cap if left is None else min(cap, left)
                self.attempts += 1
                started = time.perf_counter()
                try:
                    result = await attempt(timeout)
                except SourceUnavailable as exc:
                    decided = True
                    self._outcome(exc, time.perf_counter() - started)
                    raise
                decided = True
                self._outcome(None, time.perf_counter() - started)
                return result
        except BulkheadFull:
            telemetry.record_bulkhead_rejection(self.source)
            raise
        finally:
            if not decided:
                self.breaker.release()

    def _check_budget(self, remaining: Callable[[], float | None]) -> float | None:
        left = remaining()
        if left is not None and left <= 0.0:
            raise SourceTimeout(self.source, "request budget spent; call not started")
        return left

    def _outcome(self, exc: SourceUnavailable | None, seconds: float) -> None:
        """Feed one attempt's outcome to the breaker and the health window."""
        self.health.record(failed=exc is not None, seconds=seconds)
        # 429 means the upstream is alive and pacing us: Retry-After handles it, not the breaker.
        if exc is None or isinstance(exc, SourceThrottled):
            self.breaker.record_success()
        else:
            self.breaker.record_failure()

    def snapshot(self) -> dict[str, Any]:
        """Breaker state, recent error rate and latency, load: the `/readyz` entry."""
        recent = self.health.totals()
        return {
            "breaker": self.breaker.state,
            "retry_in_s": round(self.breaker.retry_in(), 3),
            "window_s": self.health.window_s,
            "calls": recent.calls,
            "error_rate": round(recent.failure_rate, 4),
            "latency_ms": {
                "mean": round(recent.mean_seconds * 1000, 1),
                "max": round(recent.slowest * 1000, 1),
            },
            "in_flight": self.bulkhead.in_flight,
            "queued": self.bulkhead.waiting,
        }


def _no_deadline() -> float | None:
    return None
