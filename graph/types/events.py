"""DomainEvent: one versioned state change a workflow recorded (ReturnAuthorized, RefundPosted, …)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import strawberry
from strawberry.scalars import JSON

from graph.context import GraphInfo


@strawberry.type(
    description="A versioned domain event from the event log: `type` and `version` fix the shape of `data`."
)
class DomainEvent:
    """One event of the log."""

    id: str = strawberry.field(description="Stable event id (workflow, type and key): written once.")
    type: str = strawberry.field(description="ReturnRequested, ReturnAuthorized, RefundPosted, …")
    version: int = strawberry.field(description="Schema version of `data` for this type.")
    subject: str | None = strawberry.field(description="What it is about: an RMA, refund, case or workflow.")
    occurred_at: datetime = strawberry.field(description="When it was recorded.")
    data: JSON = strawberry.field(description="The event's fields, as its type and version define them.")

    @classmethod
    def from_event(cls, event: Any) -> DomainEvent:
        """Wrap an orchestrator event."""
        return cls(id=event.id, type=event.type, version=event.version, subject=event.subject,
                   occurred_at=event.occurred_at, data=cast(JSON, dict(event.data)))


async def events_of_workflow(info: GraphInfo, workflow_id: str, limit: int) -> list[DomainEvent]:
    """The events a workflow wrote, oldest first; empty while no orchestrator is wired."""
    lookup = getattr(info.context.workflows, "workflow_events", None)
    if lookup is None:
        return []
    return [DomainEvent.from_event(event) for event in await lookup(workflow_id, limit)]
