"""The request scope: one operation's deadline budget and what it was served stale.

The graph opens a `RequestScope` per query operation (`request_scope(budget_s)`); it rides
in a contextvar, so every upstream call made for that operation, in any task spawned from
it (DataLoader batches, single-flight calls), sees the same deadline. A call's timeout is
`min(source timeout, remaining budget)` and no call starts once the budget is spent. Sources
record here which entities they served from the stale cache, so the graph can say so in
`extensions.stale`.

Without a scope (the orchestrator's durable workflows, scripts) there is no deadline and no
stale serving: a workflow must act on fresh data and may outlive any request.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

Clock = Callable[[], float]


@dataclass(slots=True)
class RequestScope:
    """One operation's deadline (on `clock`) and the staleness of what it was served."""

    expires_at: float | None
    clock: Clock = time.monotonic
    allow_stale: bool = True
    stale: dict[str, float] = field(default_factory=dict)  # source → oldest age served, s

    def remaining(self) -> float | None:
        """Seconds left in the budget (never negative); None when there is no deadline."""
        if self.expires_at is None:
            return None
        return max(0.0, self.expires_at - self.clock())

    @property
    def expired(self) -> bool:
        """True once the budget is spent."""
        left = self.remaining()
        return left is not None and left <= 0.0

    def note_stale(self, source: str, age_s: float) -> None:
        """Remember that a value `age_s` old was served from `source`'s stale cache."""
        self.stale[source] = max(self.stale.get(source, 0.0), age_s)


_SCOPE: ContextVar[RequestScope | None] = ContextVar("retailgraph_request_scope", default=None)


def current_scope() -> RequestScope | None:
    """The scope of the operation running in this context, if any."""
    return _SCOPE.get()


def remaining_budget() -> float | None:
    """Seconds left for the current operation; None outside a scope."""
    scope = _SCOPE.get()
    return None if scope is None else scope.remaining()


@contextmanager
def request_scope(
    budget_s: float | None,
    *,
    clock: Clock = time.monotonic,
    allow_stale: bool = True,
) -> Iterator[RequestScope]:
    """Run the body under a deadline of `budget_s` seconds (None: no deadline)."""
    expires_at = None if budget_s is None else clock() + max(0.0, budget_s)
    scope = RequestScope(expires_at=expires_at, clock=clock, allow_stale=allow_stale)
    token = _SCOPE.set(scope)
    try:
        yield scope
    finally:
        _SCOPE.reset(token)
