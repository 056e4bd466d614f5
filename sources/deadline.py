"""The request scope: one operation's deadline budget and what it was served stale.

The graph opens a `RequestScope` per query operation (`request_scope(budget_s)`); it rides
in a contextvar, so every upstream call made for that operation, in any task spawned from
it (DataLoader batches, single-flight calls), sees the same deadline. A call's timeout is
`min(source timeout, remaining budget)` and no call starts once the budget is spent. Sources
record here which entities they served from the stale cache, so the graph can say so in
`extensions.stale`, and the operation's lookahead listens here for records the moment they
are decoded (`on_decoded`).

Without a scope (the orchestrator's durable workflows, scripts) there is no deadline and no
stale serving: a workflow must act on fresh data and may outlive any request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

Clock = Callable[[], float]
Listener = Callable[[Any], None]
Then = Callable[[], None]
log = logging.getLogger(__name__)


def _call(function: Callable[..., None], *args: Any, what: str) -> None:
    """Run a listener; its failure is logged, not raised into the read that decoded."""
    try:
        function(*args)
    except Exception:  # noqa: BLE001 - a lookahead's bug must not fail the read
        log.exception("decode listener for %s failed", what)


@dataclass(slots=True)
class RequestScope:
    """One operation's deadline (on `clock`) and the staleness of what it was served."""

    expires_at: float | None
    clock: Clock = time.monotonic
    allow_stale: bool = True
    stale: dict[str, float] = field(default_factory=dict)  # source → oldest age served, s
    # (source, kind, key) → what to call the moment that read's records are decoded, and
    # what to call once after all of a decode's listeners
    listeners: dict[tuple[str, str, Hashable], list[tuple[Listener, Then | None]]] = field(
        default_factory=dict
    )

    def on_decoded(
        self, source: str, kind: str, key: Hashable, listener: Listener, *, then: Then | None = None
    ) -> None:
        """Call `listener(value)` the moment `source` has decoded `kind` for `key` in this
        operation: before the value travels back through single-flight tasks and loader
        batches, while other work of the operation waits in the event loop's queue; then
        `then()`, once per decode however many of its listeners named it. The lookahead
        (resolvers/prefetch.py) starts the next upstream level from it."""
        self.listeners.setdefault((source, kind, key), []).append((listener, then))

    def decoded(self, source: str, kind: str, values: Mapping[Any, Any]) -> None:
        """Hand freshly decoded values to their listeners (each called once). A listener
        that fails is logged; the read it listened to goes on."""
        thens: list[Then] = []
        for key, value in values.items():
            for listener, then in self.listeners.pop((source, kind, key), ()):
                _call(listener, value, what=f"{source} {kind} {key!r}")
                if then is not None and then not in thens:  # equal bound methods are one
                    thens.append(then)
        for then in thens:
            _call(then, what=f"{source} {kind}")

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
        # Tasks and timers started in the operation keep its context, and so this scope,
        # alive after it; what the listeners hold (a request's loaders) must not outlive it.
        scope.listeners.clear()
