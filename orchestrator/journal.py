"""The workflow journal the graph reads: status, steps with attempts and times, subjects.

DBOS's checkpoints decide what runs again after a crash; the journal says what happened,
in the terms of the `Workflow` type. Every change is published on the bus under
`workflow:<id>` so waiting mutations and `workflowUpdated` subscribers wake up.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from . import telemetry
from .db import Database, links, steps, workflows
from .events import EventBus


class WorkflowState(str, Enum):
    """Canonical workflow status (DESIGN.md WorkflowStatus)."""

    RUNNING = "RUNNING"
    AWAITING_APPROVAL = "AWAITING_APPROVAL"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    COMPENSATED = "COMPENSATED"
    CANCELLED = "CANCELLED"


class StepState(str, Enum):
    """Where one step of a workflow is."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    WAITING = "WAITING"
    COMPLETED = "COMPLETED"
    SKIPPED = "SKIPPED"
    FAILED = "FAILED"
    COMPENSATING = "COMPENSATING"
    COMPENSATED = "COMPENSATED"
    COMPENSATION_FAILED = "COMPENSATION_FAILED"


# Subject names → the graph type a `workflow_for("Type:key")` lookup uses.
LINKED_TYPES = {
    "order": "Order",
    "return": "Return",
    "refund": "Refund",
    "creditMemo": "CreditMemo",
    "case": "Case",
    "replacementOrder": "Order",
}

FINAL_STATES = frozenset(
    {WorkflowState.COMPLETED, WorkflowState.FAILED, WorkflowState.COMPENSATED, WorkflowState.CANCELLED}
)
# States a mutation stops waiting at: the workflow is done or waits for a person.
SETTLED_STATES = FINAL_STATES | {WorkflowState.AWAITING_APPROVAL}


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One step as the journal knows it."""

    name: str
    status: StepState
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None


@dataclass(frozen=True, slots=True)
class WorkflowRecord:
    """One workflow as the journal knows it."""

    id: str
    kind: str
    operation: str
    status: WorkflowState
    input: Mapping[str, Any]
    input_hash: str
    started_at: datetime
    finished_at: datetime | None
    error: str | None
    error_code: str | None
    principal: str | None
    subjects: Mapping[str, Any] = field(default_factory=dict)
    steps: tuple[StepRecord, ...] = ()

    @property
    def settled(self) -> bool:
        """True when done or waiting for a person."""
        return self.status in SETTLED_STATES


def now() -> datetime:
    """The journal's clock (UTC)."""
    return datetime.now(UTC)


class WorkflowJournal:
    """Reads and writes of the journal tables; writes publish `workflow:<id>`."""

    def __init__(self, db: Database, bus: EventBus) -> None:
        self._db = db
        self._bus = bus

    async def claim(
        self,
        *,
        workflow_id: str,
        kind: str,
        operation: str,
        idempotency_key: str | None,
        input_hash: str,
        input: Mapping[str, Any],
        principal: str | None,
        plan: Sequence[str],
        subjects: Mapping[str, Any] | None = None,
    ) -> tuple[bool, WorkflowRecord]:
        """Insert the workflow with its planned steps unless its id exists; (created, record)."""
        stamp = now()
        row = {
            "id": workflow_id,
            "kind": kind,
            "operation": operation,
            "idempotency_key": idempotency_key,
            "input_hash": input_hash,
            "input_json": json.dumps(dict(input), sort_keys=True, default=str),
            "status": WorkflowState.RUNNING.value,
            "subjects_json": json.dumps(dict(subjects or {}), sort_keys=True, default=str),
            "principal": principal,
            "started_at": stamp,
            "updated_at": stamp,
        }

        def insert(c: Connection) -> None:
            c.execute(sa.insert(workflows).values(**row))
            if plan:
                c.execute(
                    sa.insert(steps),
                    [
                        {"workflow_id": workflow_id, "name": name, "seq": i,
                         "status": StepState.PENDING.value, "attempts": 0}
                        for i, name in enumerate(plan)
                    ],
                )
            for entity, key in _links(subjects or {}):
                c.execute(sa.insert(links).values(
                    entity=entity, entity_key=key, workflow_id=workflow_id, created_at=stamp))

        created = True
        try:
            await self._db.run(insert)
        except sa.exc.IntegrityError:
            created = False
        record = await self.get(workflow_id)
        assert record is not None, "a claimed workflow row must be readable"
        if created:
            telemetry.workflow_started(kind)
            self._bus.publish(f"workflow:{workflow_id}", record)
        return created, record

    async def get(self, workflow_id: str) -> WorkflowRecord | None:
        """The workflow with its steps in plan order, or None."""
        found = await self.get_many([workflow_id])
        return found.get(workflow_id)

    async def get_many(self, workflow_ids: Sequence[str]) -> dict[str, WorkflowRecord]:
        """Workflows by id (missing ids absent)."""
        ids = list(dict.fromkeys(workflow_ids))
        if not ids:
            return {}

        def read(c: Connection) -> tuple[list[Any], list[Any]]:
            heads = c.execute(sa.select(workflows).where(workflows.c.id.in_(ids))).mappings().all()
            rows = c.execute(
                sa.select(steps).where(steps.c.workflow_id.in_(ids)).order_by(steps.c.seq)
            ).mappings().all()
            return list(heads), list(rows)

        heads, rows = await self._db.run(read)
        by_workflow: dict[str, list[StepRecord]] = {}
        for row in rows:
            by_workflow.setdefault(row["workflow_id"], []).append(
                StepRecord(
                    name=row["name"],
                    status=StepState(row["status"]),
                    attempts=row["attempts"],
                    started_at=_aware(row["started_at"]),
                    finished_at=_aware(row["finished_at"]),
                    error=row["error"],
                )
            )
        return {head["id"]: _record(head, by_workflow.get(head["id"], [])) for head in heads}

    async def workflows_for(self, entity: str, key: str) -> list[str]:
        """Ids of workflows that touched an entity (e.g. ("Return", "RMA-100001")), oldest first."""
        query = (
            sa.select(links.c.workflow_id)
            .where(links.c.entity == entity, links.c.entity_key == str(key))
            .order_by(links.c.created_at)
        )
        return [row[0] for row in await self._db.run(lambda c: c.execute(query).all())]

    async def set_status(
        self,
        workflow_id: str,
        status: WorkflowState,
        *,
        error: str | None = None,
        error_code: str | None = None,
    ) -> None:
        """Move the workflow to `status`; final states stamp `finished_at` once."""
        stamp = now()
        values: dict[str, Any] = {"status": status.value, "updated_at": stamp}
        if error is not None:
            values["error"] = error
            values["error_code"] = error_code
        final = status in FINAL_STATES

        def update(c: Connection) -> None:
            c.execute(sa.update(workflows).where(workflows.c.id == workflow_id).values(**values))
            if final:
                c.execute(
                    sa.update(workflows)
                    .where(workflows.c.id == workflow_id, workflows.c.finished_at.is_(None))
                    .values(finished_at=stamp)
                )

        await self._db.run(update)
        await self._changed(workflow_id)

    async def add_subjects(self, workflow_id: str, subjects: Mapping[str, Any]) -> None:
        """Record entities the workflow created or touched, for `Return.workflow` and friends."""
        wanted = {k: v for k, v in subjects.items() if v is not None}
        if not wanted:
            return
        stamp = now()

        def update(c: Connection) -> None:
            raw = c.execute(
                sa.select(workflows.c.subjects_json).where(workflows.c.id == workflow_id)
            ).scalar_one()
            merged = {**json.loads(raw), **wanted}
            c.execute(
                sa.update(workflows).where(workflows.c.id == workflow_id)
                .values(subjects_json=json.dumps(merged, sort_keys=True, default=str), updated_at=stamp)
            )
            for entity, key in _links(wanted):
                exists = c.execute(sa.select(links.c.workflow_id).where(
                    links.c.entity == entity, links.c.entity_key == key,
                    links.c.workflow_id == workflow_id)).first()
                if exists is None:
                    c.execute(sa.insert(links).values(
                        entity=entity, entity_key=key, workflow_id=workflow_id, created_at=stamp))

        await self._db.run(update)
        await self._changed(workflow_id)

    async def step_started(self, workflow_id: str, name: str, *, status: StepState = StepState.RUNNING) -> None:
        """One more attempt of a step begins; `started_at` keeps the first attempt's time."""
        stamp = now()

        await self._db.run(lambda c: c.execute(
            sa.update(steps)
            .where(steps.c.workflow_id == workflow_id, steps.c.name == name)
            .values(status=status.value, attempts=steps.c.attempts + 1, finished_at=None,
                    started_at=sa.func.coalesce(steps.c.started_at, stamp))
        ))
        await self._changed(workflow_id)

    async def step_state(
        self, workflow_id: str, name: str, status: StepState, *, error: str | None = None
    ) -> None:
        """Set a step's state; finishing states stamp `finished_at`."""
        values: dict[str, Any] = {"status": status.value}
        if error is not None:
            values["error"] = error
        if status not in (StepState.RUNNING, StepState.WAITING, StepState.COMPENSATING, StepState.PENDING):
            values["finished_at"] = now()
        await self._db.run(
            lambda c: c.execute(
                sa.update(steps).where(steps.c.workflow_id == workflow_id, steps.c.name == name).values(**values)
            )
        )
        telemetry.step_changed(name, status.value, error)
        await self._changed(workflow_id)

    async def status(self, workflow_id: str) -> WorkflowState | None:
        """Just the status of a workflow (cheap: waiters check it after every change)."""
        query = sa.select(workflows.c.status).where(workflows.c.id == workflow_id)
        value = await self._db.run(lambda c: c.execute(query).scalar_one_or_none())
        return None if value is None else WorkflowState(value)

    async def _changed(self, workflow_id: str) -> None:
        """Tell whoever follows this workflow that it changed; they read what they need."""
        self._bus.publish(f"workflow:{workflow_id}", None)


def _links(subjects: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(graph type, key) pairs of the subjects the graph can look workflows up by."""
    return [(LINKED_TYPES[name], str(key)) for name, key in subjects.items()
            if name in LINKED_TYPES and key is not None]


def _record(head: Mapping[str, Any], step_records: list[StepRecord]) -> WorkflowRecord:
    started = _aware(head["started_at"])
    assert started is not None
    return WorkflowRecord(
        id=head["id"],
        kind=head["kind"],
        operation=head["operation"],
        status=WorkflowState(head["status"]),
        input=json.loads(head["input_json"]),
        input_hash=head["input_hash"],
        started_at=started,
        finished_at=_aware(head["finished_at"]),
        error=head["error"],
        error_code=head["error_code"],
        principal=head["principal"],
        subjects=json.loads(head["subjects_json"] or "{}"),
        steps=tuple(step_records),
    )


def _aware(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; the journal stores UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
