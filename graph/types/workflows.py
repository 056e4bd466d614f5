"""Workflow: a durable multi-step action run by the orchestrator, as the graph shows it.

The orchestrator arrives in a later issue; until then `Context.workflows` is None and every
workflow lookup answers null.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self

import strawberry
from strawberry import relay

from graph.context import GraphInfo, WorkflowStepView, WorkflowView
from graph.types.enums import WorkflowStatus, WorkflowStepStatus
from graph.types.events import DomainEvent, events_of_workflow

__all__ = ["Workflow", "WorkflowStatus", "WorkflowStep", "WorkflowStepStatus", "workflow_by_id"]


def _enum_value(enum: type[WorkflowStatus] | type[WorkflowStepStatus], value: object) -> object:
    """Accept an enum member or its name/value from the orchestrator."""
    if isinstance(value, enum):
        return value
    name = getattr(value, "name", value)
    return enum[str(name).upper()]


@strawberry.type(description="One step of a workflow: one call to one system of record.")
class WorkflowStep:
    """One step of a workflow."""

    name: str = strawberry.field(description="What the step does, e.g. create_return_order.")
    status: WorkflowStepStatus = strawberry.field(description="Where the step is.")
    attempts: int = strawberry.field(description="How many times it was tried.")
    started_at: datetime | None = strawberry.field(description="When it first started.")
    finished_at: datetime | None = strawberry.field(description="When it completed or gave up.")
    error: str | None = strawberry.field(description="Why it failed; null unless it failed.")

    @classmethod
    def from_view(cls, step: WorkflowStepView) -> WorkflowStep:
        """Wrap an orchestrator step."""
        return cls(
            name=step.name,
            status=_enum_value(WorkflowStepStatus, step.status),  # type: ignore[arg-type]
            attempts=step.attempts,
            started_at=step.started_at,
            finished_at=step.finished_at,
            error=step.error,
        )


@strawberry.type(
    description="A durable multi-step action (a return, a refund, a replacement) run by the "
    "orchestrator; each step calls one system of record. Id key: the workflow id."
)
class Workflow(relay.Node):
    """An orchestrator workflow."""

    workflow_id: str = strawberry.field(description="The orchestrator's workflow id.")
    kind: str = strawberry.field(
        description="What the workflow does: initiate_return, request_refund, "
        "reserve_replacement, cancel_return, …"
    )
    status: WorkflowStatus = strawberry.field(description="Where the workflow is.")
    steps: list[WorkflowStep] = strawberry.field(description="Its steps in execution order.")
    started_at: datetime | None = strawberry.field(description="When it started.")
    finished_at: datetime | None = strawberry.field(description="When it reached a final status.")
    error: str | None = strawberry.field(description="Why it failed; null unless it failed.")

    @classmethod
    def resolve_id(cls, root: Self, *, info: strawberry.Info) -> str:
        """The natural key behind the global id."""
        return root.workflow_id

    @strawberry.field(description="The domain events it wrote to the event log, oldest first.")
    async def events(
        self,
        info: GraphInfo,
        first: Annotated[int, strawberry.argument(description="At most this many (≤ 100).")] = 100,
    ) -> list[DomainEvent]:
        return await events_of_workflow(info, self.workflow_id, max(0, min(first, 100)))

    @classmethod
    def from_view(cls, view: WorkflowView) -> Workflow:
        """Wrap an orchestrator workflow."""
        return cls(
            workflow_id=view.id,
            kind=view.kind,
            status=_enum_value(WorkflowStatus, view.status),  # type: ignore[arg-type]
            steps=[WorkflowStep.from_view(step) for step in view.steps],
            started_at=view.started_at,
            finished_at=view.finished_at,
            error=view.error,
        )


async def workflow_by_id(info: GraphInfo, workflow_id: str) -> Workflow | None:
    """A workflow by id; null while no orchestrator is wired or when it is unknown."""
    lookup = info.context.workflows
    if lookup is None:
        return None
    view = await lookup.workflow(workflow_id)
    return None if view is None else Workflow.from_view(view)


async def workflow_for_subject(info: GraphInfo, subject: str) -> Workflow | None:
    """The latest workflow acting on a subject such as `Return:RMA-100001`; null if none."""
    lookup = info.context.workflows
    if lookup is None:
        return None
    view = await lookup.workflow_for(subject)
    return None if view is None else Workflow.from_view(view)
