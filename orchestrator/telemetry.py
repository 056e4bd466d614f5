"""Business telemetry of the workflows: Prometheus metrics as things happen, and the journal
statistics the graph's `operationsSummary` reads.

Metrics (recorded where the journal and the event log change, so a workflow replayed after a
crash is not counted twice, except for step outcomes re-journaled by a replay):

    retailgraph_workflows_started_total{kind}
    retailgraph_workflows_finished_total{kind, outcome}       completed|compensated|failed|cancelled
    retailgraph_workflow_duration_seconds{kind, outcome}      start → end state, approval waits included
    retailgraph_workflow_exceptions_total{kind, channel, region}   compensated or failed workflows
    retailgraph_workflow_steps_total{system, step, outcome}   succeeded|failed|attempt_failed|compensated
    retailgraph_refund_approval_wait_seconds{decision}        refund requested → supervisor decision
    retailgraph_refund_posting_delay_seconds                  cleared to post → credit memo posted

Telemetry never fails a workflow: every observer swallows (and logs) its own errors.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from prometheus_client import Counter, Histogram
from sqlalchemy.engine import Connection

from .db import Database, refunds, steps, workflows

logger = logging.getLogger("retailgraph.orchestrator.telemetry")

UNKNOWN = "UNKNOWN"
FINISHED_EVENTS = {
    "WorkflowCompleted": "completed",
    "WorkflowCompensated": "compensated",
    "WorkflowFailed": "failed",
    "WorkflowCancelled": "cancelled",
}
EXCEPTION_OUTCOMES = frozenset({"compensated", "failed"})
_DURATION_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 86400, 3 * 86400, 7 * 86400)

WORKFLOWS_STARTED = Counter(
    "retailgraph_workflows_started_total", "Workflows started, by kind.", ["kind"]
)
WORKFLOWS_FINISHED = Counter(
    "retailgraph_workflows_finished_total",
    "Workflows that reached an end state, by kind and outcome.",
    ["kind", "outcome"],
)
WORKFLOW_SECONDS = Histogram(
    "retailgraph_workflow_duration_seconds",
    "End-to-end workflow duration (approval waits included), by kind and outcome.",
    ["kind", "outcome"],
    buckets=_DURATION_BUCKETS,
)
WORKFLOW_EXCEPTIONS = Counter(
    "retailgraph_workflow_exceptions_total",
    "Workflows that ended compensated or failed, by kind and the order's channel and region.",
    ["kind", "channel", "region"],
)
WORKFLOW_STEPS = Counter(
    "retailgraph_workflow_steps_total",
    "Workflow step outcomes by system of record and step (attempt_failed: one failed attempt).",
    ["system", "step", "outcome"],
)
APPROVAL_WAIT = Histogram(
    "retailgraph_refund_approval_wait_seconds",
    "Time a refund waited for a supervisor's decision, by decision.",
    ["decision"],
    buckets=(60, 300, 900, 1800, 3600, 4 * 3600, 8 * 3600, 86400, 3 * 86400, 7 * 86400),
)
POSTING_DELAY = Histogram(
    "retailgraph_refund_posting_delay_seconds",
    "Time from a refund being cleared to post (requested, or approved) to its credit memo posted.",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 86400),
)

_LINE_SUFFIX = re.compile(r"\.\d+$")


def step_labels(name: str) -> tuple[str, str]:
    """(system, step) of a journal step name such as `wms.reserve_replacement.10000`."""
    step = _LINE_SUFFIX.sub("", name)
    system = step.split(".", 1)[0] if "." in step else "workflow"
    return system, step


def workflow_started(kind: str) -> None:
    """A workflow was claimed for the first time."""
    WORKFLOWS_STARTED.labels(kind).inc()


def step_changed(name: str, status: str, error: str | None) -> None:
    """A step's journaled state changed (`status` is a StepState value)."""
    outcome = {"COMPLETED": "succeeded", "FAILED": "failed", "COMPENSATED": "compensated"}.get(status)
    if outcome is None and status == "RUNNING" and error is not None:
        outcome = "attempt_failed"  # retried unless it was the last attempt allowed
    if outcome is not None:
        WORKFLOW_STEPS.labels(*step_labels(name), outcome).inc()


async def observe_event(db: Database, event: Any) -> None:
    """Metrics of a domain event that was just stored for the first time."""
    try:
        if event.type in FINISHED_EVENTS:
            await _finished(db, event, FINISHED_EVENTS[event.type])
        elif event.type in ("RefundApproved", "RefundRejected", "RefundPosted"):
            await _refund(db, event)
    except Exception:
        logger.exception("could not record metrics for %s", event.type)


async def _finished(db: Database, event: Any, outcome: str) -> None:
    kind = str(event.data.get("kind") or UNKNOWN)
    WORKFLOWS_FINISHED.labels(kind, outcome).inc()
    query = sa.select(workflows.c.started_at, workflows.c.input_json).where(
        workflows.c.id == event.workflow_id
    )
    row = await db.run(lambda c: c.execute(query).first())
    if row is None:
        return
    WORKFLOW_SECONDS.labels(kind, outcome).observe(_seconds(row.started_at, event.occurred_at))
    if outcome in EXCEPTION_OUTCOMES:
        channel, region = channel_region(row.input_json)
        WORKFLOW_EXCEPTIONS.labels(kind, channel, region).inc()


async def _refund(db: Database, event: Any) -> None:
    refund_id = event.data.get("refundId")
    query = sa.select(refunds.c.requested_at, refunds.c.decided_at).where(refunds.c.id == refund_id)
    row = await db.run(lambda c: c.execute(query).first())
    if row is None:
        return
    if event.type == "RefundPosted":
        cleared = row.decided_at or row.requested_at
        POSTING_DELAY.observe(_seconds(cleared, event.occurred_at))
    else:
        decided = row.decided_at or event.occurred_at
        decision = "approved" if event.type == "RefundApproved" else "rejected"
        APPROVAL_WAIT.labels(decision).observe(_seconds(row.requested_at, decided))


def channel_region(input_json: str | Mapping[str, Any] | None) -> tuple[str, str]:
    """The order channel and sales region a workflow's input names (UNKNOWN when absent)."""
    data: Any = input_json
    if isinstance(input_json, str):
        try:
            data = json.loads(input_json)
        except ValueError:
            data = {}
    if not isinstance(data, Mapping):
        data = {}
    channel = str(data.get("channel") or UNKNOWN).upper()
    region = str(data.get("region") or UNKNOWN).upper()
    return channel, region


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _seconds(start: datetime, end: datetime) -> float:
    return max(0.0, (_aware(end) - _aware(start)).total_seconds())


# -- journal statistics for the ops view -------------------------------------------------------


@dataclass(frozen=True)
class KindStats:
    """Workflows of one kind started in the window, by where they are now."""

    kind: str
    started: int = 0
    completed: int = 0
    compensated: int = 0
    failed: int = 0
    cancelled: int = 0
    in_progress: int = 0
    awaiting_approval: int = 0


@dataclass(frozen=True)
class StepStats:
    """Outcomes of one (system, step) in the window."""

    system: str
    step: str
    succeeded: int = 0
    failed: int = 0
    retried: int = 0  # succeeded, but not at the first attempt


@dataclass(frozen=True)
class Hotspot:
    """Exceptions (compensated or failed workflows) of one channel and region."""

    channel: str
    region: str
    exceptions: int
    kinds: tuple[str, ...]
    error_codes: tuple[str, ...]
    last_at: datetime | None


@dataclass(frozen=True)
class RefundStats:
    """Refunds requested in the window."""

    requested: int = 0
    awaiting_approval: int = 0
    oldest_awaiting_since: datetime | None = None
    approved: int = 0
    posted: int = 0
    rejected: int = 0
    failed: int = 0
    approval_waits: tuple[float, ...] = ()
    posting_delays: tuple[float, ...] = ()


@dataclass(frozen=True)
class WorkflowStats:
    """What the journal says about the workflows started since `since`."""

    since: datetime
    kinds: tuple[KindStats, ...] = ()
    return_cycle_times: tuple[float, ...] = ()  # completed initiate_return workflows, seconds
    returns_in_progress: int = 0
    steps: tuple[StepStats, ...] = ()
    hotspots: tuple[Hotspot, ...] = ()
    refunds: RefundStats = field(default_factory=RefundStats)


async def workflow_stats(db: Database, since: datetime) -> WorkflowStats:
    """Aggregate the journal, its steps and the refunds since `since` (one transaction)."""

    def read(c: Connection) -> tuple[list[Any], list[Any], list[Any]]:
        heads = c.execute(
            sa.select(
                workflows.c.id, workflows.c.kind, workflows.c.status, workflows.c.input_json,
                workflows.c.error_code, workflows.c.started_at, workflows.c.finished_at,
            ).where(workflows.c.started_at >= since)
        ).all()
        step_rows = c.execute(
            sa.select(steps.c.name, steps.c.status, steps.c.attempts)
            .join(workflows, workflows.c.id == steps.c.workflow_id)
            .where(workflows.c.started_at >= since)
        ).all()
        refund_rows = c.execute(
            sa.select(refunds.c.status, refunds.c.requested_at, refunds.c.decided_at,
                      refunds.c.posted_at, refunds.c.approved_by)
            .where(refunds.c.requested_at >= since)
        ).all()
        return list(heads), list(step_rows), list(refund_rows)

    heads, step_rows, refund_rows = await db.run(read)
    return WorkflowStats(
        since=since,
        kinds=_kinds(heads),
        return_cycle_times=tuple(
            _seconds(h.started_at, h.finished_at) for h in heads
            if h.kind == "initiate_return" and h.status == "COMPLETED" and h.finished_at is not None
        ),
        returns_in_progress=sum(
            1 for h in heads if h.kind == "initiate_return" and h.status in ("RUNNING", "AWAITING_APPROVAL")
        ),
        steps=_steps(step_rows),
        hotspots=_hotspots(heads),
        refunds=_refunds(refund_rows),
    )


def _kinds(heads: Iterable[Any]) -> tuple[KindStats, ...]:
    counts: dict[str, dict[str, int]] = {}
    for head in heads:
        tally = counts.setdefault(head.kind, {})
        tally[head.status] = tally.get(head.status, 0) + 1
    return tuple(
        KindStats(
            kind=kind, started=sum(tally.values()), completed=tally.get("COMPLETED", 0),
            compensated=tally.get("COMPENSATED", 0), failed=tally.get("FAILED", 0),
            cancelled=tally.get("CANCELLED", 0),
            in_progress=tally.get("RUNNING", 0) + tally.get("AWAITING_APPROVAL", 0),
            awaiting_approval=tally.get("AWAITING_APPROVAL", 0),
        )
        for kind, tally in sorted(counts.items())
    )


def _steps(rows: Sequence[Any]) -> tuple[StepStats, ...]:
    counts: dict[tuple[str, str], list[int]] = {}
    for row in rows:
        labels = step_labels(row.name)
        if row.status in ("COMPLETED", "COMPENSATING", "COMPENSATED", "COMPENSATION_FAILED"):
            tally = counts.setdefault(labels, [0, 0, 0])
            tally[0] += 1  # the step itself went through, whatever happened after
            # A compensation adds attempts to the same row: only a completed step's count is its own.
            tally[2] += int(row.status == "COMPLETED" and row.attempts > 1)
        elif row.status == "FAILED":
            counts.setdefault(labels, [0, 0, 0])[1] += 1
    return tuple(StepStats(sys, step, *tally) for (sys, step), tally in sorted(counts.items()))


def _hotspots(heads: Iterable[Any]) -> tuple[Hotspot, ...]:
    groups: dict[tuple[str, str], list[Any]] = {}
    for head in heads:
        if head.status in ("COMPENSATED", "FAILED"):
            groups.setdefault(channel_region(head.input_json), []).append(head)
    spots = [
        Hotspot(
            channel=channel, region=region, exceptions=len(items),
            kinds=tuple(sorted({h.kind for h in items})),
            error_codes=tuple(sorted({h.error_code for h in items if h.error_code})),
            last_at=max((_aware(h.finished_at) for h in items if h.finished_at), default=None),
        )
        for (channel, region), items in groups.items()
    ]
    return tuple(sorted(spots, key=lambda s: (-s.exceptions, s.channel, s.region)))


def _refunds(rows: Sequence[Any]) -> RefundStats:
    status = [row.status for row in rows]
    waiting = [_aware(row.requested_at) for row in rows if row.status == "PENDING_APPROVAL"]
    return RefundStats(
        requested=len(rows),
        awaiting_approval=len(waiting),
        oldest_awaiting_since=min(waiting, default=None),
        approved=status.count("APPROVED"),
        posted=status.count("POSTED"),
        rejected=status.count("REJECTED"),
        failed=status.count("FAILED"),
        approval_waits=tuple(
            _seconds(row.requested_at, row.decided_at) for row in rows if row.decided_at is not None
        ),
        posting_delays=tuple(
            _seconds(row.decided_at or row.requested_at, row.posted_at)
            for row in rows if row.posted_at is not None
        ),
    )
