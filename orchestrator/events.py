"""Versioned domain events: written once to the event log, then fanned out in process.

An event's id is derived from the workflow and the state change it records, so a workflow
step that runs again after a crash writes nothing new and publishes nothing twice. The bus
is in-process; with Redis, `relay` forwards each publication to the other replicas, whose
relays hand it to `deliver` (graph/scaleout.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from . import telemetry
from .db import Database, events

logger = logging.getLogger("retailgraph.orchestrator.events")

# type → (schema version, fields every event of that type carries)
EVENT_SCHEMAS: Mapping[str, tuple[int, frozenset[str]]] = {
    "ReturnRequested": (1, frozenset({"rmaNumber", "orderNumber", "resolution", "lines"})),
    "ReturnAuthorized": (1, frozenset({"rmaNumber", "orderNumber", "resolution"})),
    "InboundReturnExpected": (1, frozenset({"rmaNumber", "inboundId", "locationId"})),
    "ReturnCancelled": (1, frozenset({"rmaNumber", "orderNumber"})),
    "RefundRequested": (1, frozenset({"refundId", "orderNumber", "amount", "currencyCode", "needsApproval"})),
    "RefundApproved": (1, frozenset({"refundId", "approvedBy"})),
    "RefundRejected": (1, frozenset({"refundId", "rejectedBy", "note"})),
    "RefundPosted": (1, frozenset({"refundId", "creditMemoNumber", "amount", "currencyCode"})),
    "ReplacementReserved": (1, frozenset({"reservationId", "sku", "quantity", "locationId"})),
    "ReplacementOrdered": (1, frozenset({"orderNumber", "replacesOrderNumber"})),
    "CaseNoteAdded": (1, frozenset({"caseId", "public"})),
    "WorkflowCompleted": (1, frozenset({"kind"})),
    "WorkflowCompensated": (1, frozenset({"kind", "failedStep", "error"})),
    "WorkflowCancelled": (1, frozenset({"kind"})),
    "WorkflowFailed": (1, frozenset({"kind", "failedStep", "error"})),
}


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """One state change, in a versioned shape (`type` + `version` fix `data`'s fields)."""

    id: str
    type: str
    version: int
    workflow_id: str | None
    subject: str | None
    occurred_at: datetime
    data: Mapping[str, Any] = field(default_factory=dict)
    seq: int | None = None

    def as_json(self) -> dict[str, Any]:
        """The wire shape (for logs and subscriptions)."""
        return {
            "id": self.id,
            "type": self.type,
            "version": self.version,
            "workflowId": self.workflow_id,
            "subject": self.subject,
            "occurredAt": self.occurred_at.isoformat(),
            "data": dict(self.data),
        }


def make_event(
    event_type: str, *, workflow_id: str | None, subject: str | None, key: str = "", **data: Any
) -> DomainEvent:
    """Build an event, checking its fields against the registered schema of its type."""
    try:
        version, required = EVENT_SCHEMAS[event_type]
    except KeyError:
        raise ValueError(f"unknown event type {event_type!r}") from None
    missing = required - set(data)
    if missing:
        raise ValueError(f"{event_type} v{version} needs {sorted(missing)}")
    event_id = ":".join(part for part in (workflow_id or "-", event_type, key) if part)
    return DomainEvent(
        id=event_id,
        type=event_type,
        version=version,
        workflow_id=workflow_id,
        subject=subject,
        occurred_at=datetime.now(UTC),
        data=data,
    )


@dataclass(frozen=True, slots=True)
class BusMessage:
    """What subscribers receive: a topic and its payload."""

    topic: str
    payload: Any


class EventBus:
    """In-process fan-out by topic; a slow subscriber loses its oldest messages, not the bus."""

    def __init__(self, queue_size: int = 256) -> None:
        self._queue_size = queue_size
        self._subscribers: dict[str, set[asyncio.Queue[BusMessage]]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        # Called on the bus's loop with every local publication (cross-replica fan-out).
        self.relay: Callable[[BusMessage], None] | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Remember the loop subscribers live on, so other threads can publish safely."""
        self._loop = loop

    def publish(self, topic: str, payload: Any = None) -> None:
        """Deliver to every subscriber of `topic` (and of `*`)."""
        message = BusMessage(topic, payload)
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if self._loop is not None and running is not self._loop:
            self._loop.call_soon_threadsafe(self._publish, message)
        else:
            self._publish(message)

    def deliver(self, topic: str, payload: Any = None) -> None:
        """Deliver a peer replica's publication to local subscribers only (not relayed again)."""
        self._deliver(BusMessage(topic, payload))

    def _publish(self, message: BusMessage) -> None:
        self._deliver(message)
        if self.relay is not None:
            self.relay(message)

    def _deliver(self, message: BusMessage) -> None:
        for queue in (*self._subscribers.get(message.topic, ()), *self._subscribers.get("*", ())):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(message)

    @contextlib.asynccontextmanager
    async def subscribe(self, topics: Iterable[str]) -> AsyncIterator[asyncio.Queue[BusMessage]]:
        """A queue receiving every message on `topics` until the context exits."""
        queue: asyncio.Queue[BusMessage] = asyncio.Queue(self._queue_size)
        names = list(topics)
        for topic in names:
            self._subscribers.setdefault(topic, set()).add(queue)
        try:
            yield queue
        finally:
            for topic in names:
                subscribers = self._subscribers.get(topic)
                if subscribers is not None:
                    subscribers.discard(queue)
                    if not subscribers:
                        del self._subscribers[topic]

    def subscriber_count(self, topic: str) -> int:
        """How many subscribers listen on `topic` (for tests and metrics)."""
        return len(self._subscribers.get(topic, ()))


class EventLog:
    """The durable event log; `append` writes once and publishes what it wrote."""

    def __init__(self, db: Database, bus: EventBus) -> None:
        self._db = db
        self._bus = bus

    async def append(self, event: DomainEvent) -> bool:
        """Store `event` unless an event with its id exists; publish only when stored."""
        row = {
            "id": event.id,
            "type": event.type,
            "version": event.version,
            "workflow_id": event.workflow_id,
            "subject": event.subject,
            "occurred_at": event.occurred_at,
            "data_json": json.dumps(dict(event.data), sort_keys=True, default=str),
        }
        try:
            await self._db.run(lambda c: c.execute(sa.insert(events).values(**row)))
        except sa.exc.IntegrityError:
            return False
        logger.debug("event %s %s", event.type, event.id)
        self._bus.publish(f"event:{event.type}", event)
        if event.workflow_id:
            self._bus.publish(f"events:{event.workflow_id}", event)
        await telemetry.observe_event(self._db, event)
        return True

    async def list(
        self,
        *,
        workflow_id: str | None = None,
        types: Iterable[str] | None = None,
        after_seq: int = 0,
        limit: int = 100,
    ) -> list[DomainEvent]:
        """Events in log order, optionally for one workflow or of some types."""
        query = sa.select(events).where(events.c.seq > after_seq).order_by(events.c.seq).limit(limit)
        if workflow_id is not None:
            query = query.where(events.c.workflow_id == workflow_id)
        wanted = list(types or ())
        if wanted:
            query = query.where(events.c.type.in_(wanted))
        rows = await self._db.run(lambda c: c.execute(query).mappings().all())
        return [
            DomainEvent(
                id=row["id"],
                type=row["type"],
                version=row["version"],
                workflow_id=row["workflow_id"],
                subject=row["subject"],
                occurred_at=_aware(row["occurred_at"]),
                data=json.loads(row["data_json"]),
                seq=row["seq"],
            )
            for row in rows
        ]


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything here is stored in UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)
