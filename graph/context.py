"""The per-request context: sources, a fresh set of loaders, settings, principal, today."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

import strawberry

from resolvers.loaders import Loaders
from sources.policy import ReturnPolicy

if TYPE_CHECKING:
    from sources import Sources


class WorkflowStepView(Protocol):
    """What the graph reads from one step of an orchestrator workflow."""

    name: str
    status: str
    attempts: int
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None


class WorkflowView(Protocol):
    """What the graph reads from an orchestrator workflow (status is a WorkflowStatus name)."""

    id: str
    kind: str
    status: str
    steps: Sequence[WorkflowStepView]
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None


class WorkflowLookup(Protocol):
    """Read access to the orchestrator's workflows."""

    async def workflow(self, workflow_id: str) -> WorkflowView | None:
        """A workflow by id; None when unknown."""

    async def workflow_for(self, subject: str) -> WorkflowView | None:
        """The latest workflow acting on a subject such as `Return:RMA-100001`; None if none."""


def utc_today() -> date:
    """Today's date in UTC (the return window is counted in whole UTC days)."""
    return datetime.now(UTC).date()


def policy_from_settings(settings: Any) -> ReturnPolicy:
    """The return policy configured in settings (defaults when settings say nothing)."""
    default = ReturnPolicy()
    return ReturnPolicy(
        window_days=int(getattr(settings, "return_window_days", default.window_days)),
        approval_threshold=Decimal(
            getattr(settings, "refund_approval_threshold", default.approval_threshold)
        ),
    )


@dataclass
class Context:
    """Everything a resolver may use during one request."""

    sources: Sources
    loaders: Loaders
    settings: Any = None
    principal: Any = None
    today: date = field(default_factory=utc_today)
    return_policy: ReturnPolicy = field(default_factory=ReturnPolicy)
    workflows: WorkflowLookup | None = None
    request: Any = None
    response: Any = None


def build_context(
    sources: Sources,
    settings: Any = None,
    *,
    today: date | None = None,
    principal: Any = None,
    workflows: WorkflowLookup | None = None,
    request: Any = None,
    response: Any = None,
) -> Context:
    """A context with fresh loaders; call it inside the running event loop."""
    return Context(
        sources=sources,
        loaders=Loaders(
            sources,
            batching=bool(getattr(settings, "batching", True)),
            prefetch=bool(getattr(settings, "prefetch", True)),
            cache_hits=bool(getattr(settings, "loader_cache_hits", True)),
        ),
        settings=settings,
        principal=principal,
        today=today or utc_today(),
        return_policy=policy_from_settings(settings),
        workflows=workflows,
        request=request,
        response=response,
    )


async def get_context(request: Any, response: Any) -> Context:
    """The strawberry view's context factory, reading what the app's lifespan set up."""
    state = request.app.state
    return build_context(
        state.sources,
        getattr(state, "settings", None),
        principal=getattr(request.state, "principal", None) if hasattr(request, "state") else None,
        workflows=getattr(state, "workflows", None),
        request=request,
        response=response,
    )


GraphInfo = strawberry.Info[Context, None]
