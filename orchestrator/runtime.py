"""What running workflows reach: sources, write clients, journal, events, refunds, policy.

DBOS is a process-wide singleton and its workflow functions are module-level, so the
runtime they use is process-wide too: `install()` is called by the orchestrator's start
and `current()` by workflow code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sources.policy import ReturnPolicy

from .events import EventBus, EventLog
from .journal import WorkflowJournal
from .refunds import RefundStore
from .upstreams import Upstreams


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often a step is tried before the saga gives up on it."""

    max_attempts: int = 4
    compensation_attempts: int = 6
    interval_s: float = 0.2
    backoff_rate: float = 2.0


@dataclass(frozen=True)
class Runtime:
    """Everything a workflow step may touch."""

    sources: Any
    upstreams: Upstreams
    journal: WorkflowJournal
    events: EventLog
    bus: EventBus
    refunds: RefundStore
    policy: ReturnPolicy
    retry: RetryPolicy
    approval_timeout_s: float = 7 * 24 * 3600.0


_current: Runtime | None = None


def install(runtime: Runtime | None) -> None:
    """Make `runtime` the one workflows use (None on shutdown)."""
    global _current
    _current = runtime


def current() -> Runtime:
    """The installed runtime; workflows only run between start and close."""
    if _current is None:
        raise RuntimeError("the orchestrator is not running")
    return _current
