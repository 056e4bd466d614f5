"""What every mutation shares: coded user errors, the role check, and the idempotent hand-off.

A mutation validates (`clean_*`) against live data and answers business failures as
`userErrors` without starting anything; only then does it claim its idempotency key and
start the workflow, waiting up to `mutation_wait_s` before answering with the workflow as
it stands. A repeated key with the same input skips validation and replays the first answer.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from enum import Enum
from typing import Any, cast

import strawberry
from strawberry.types.unset import UnsetType

from graph.auth import ANONYMOUS_DEVELOPER, AuthenticationError, Principal, principal_of
from graph.context import GraphInfo, WorkflowView
from graph.permissions import ROLE_GATES
from graph.types.common import describe_enum
from graph.types.workflows import Workflow
from orchestrator import (
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
    Orchestrator,
    WorkflowRecord,
)
from orchestrator.idempotency import check_key


class UserErrorCode(Enum):
    """Why a mutation refused its input."""

    ORDER_NOT_FOUND = "ORDER_NOT_FOUND"
    LINE_NOT_FOUND = "LINE_NOT_FOUND"
    NOT_DELIVERED = "NOT_DELIVERED"
    RETURN_WINDOW_EXPIRED = "RETURN_WINDOW_EXPIRED"
    QUANTITY_EXCEEDS_RETURNABLE = "QUANTITY_EXCEEDS_RETURNABLE"
    INSUFFICIENT_INVENTORY = "INSUFFICIENT_INVENTORY"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    NOT_PERMITTED = "NOT_PERMITTED"
    CASE_NOT_FOUND = "CASE_NOT_FOUND"
    RETURN_NOT_FOUND = "RETURN_NOT_FOUND"
    REFUND_NOT_FOUND = "REFUND_NOT_FOUND"
    LOCATION_NOT_FOUND = "LOCATION_NOT_FOUND"
    NOT_INVOICED = "NOT_INVOICED"
    AMOUNT_EXCEEDS_REFUNDABLE = "AMOUNT_EXCEEDS_REFUNDABLE"
    REFUND_NOT_PENDING = "REFUND_NOT_PENDING"
    RETURN_NOT_CANCELLABLE = "RETURN_NOT_CANCELLABLE"
    WORKFLOW_IN_PROGRESS = "WORKFLOW_IN_PROGRESS"
    INVALID = "INVALID"


describe_enum(
    UserErrorCode,
    "Why a mutation refused its input; nothing was written anywhere.",
    {
        "ORDER_NOT_FOUND": "No order with that id.",
        "LINE_NOT_FOUND": "The order line does not exist (or belongs to another order).",
        "NOT_DELIVERED": "The line has not been delivered, so it cannot come back yet.",
        "RETURN_WINDOW_EXPIRED": "The line was delivered longer ago than the return window.",
        "QUANTITY_EXCEEDS_RETURNABLE": "More units than shipped − returned − in open returns.",
        "INSUFFICIENT_INVENTORY": "Not enough available stock at the location.",
        "IDEMPOTENCY_KEY_REUSED": "The idempotency key was first used with a different input.",
        "NOT_PERMITTED": "The caller may not do this to this object (e.g. approve their own refund).",
        "CASE_NOT_FOUND": "No such case, or the case belongs to another customer.",
        "RETURN_NOT_FOUND": "No return with that id.",
        "REFUND_NOT_FOUND": "No refund with that id waiting in retailgraph.",
        "LOCATION_NOT_FOUND": "No WMS location with that id.",
        "NOT_INVOICED": "The order (line) has no invoice to credit, or lines are on several.",
        "AMOUNT_EXCEEDS_REFUNDABLE": "More than the invoice total less credits already given.",
        "REFUND_NOT_PENDING": "The refund is not waiting for approval (already decided).",
        "RETURN_NOT_CANCELLABLE": "The return is received, completed or already closed.",
        "WORKFLOW_IN_PROGRESS": "The return's workflow is still running; try again shortly.",
        "INVALID": "A field's value is not usable (blank, out of range, malformed).",
    },
)


@strawberry.type(description="A business-rule failure of a mutation, with the input field at fault.")
class UserError:
    """One coded user error."""

    field: list[str] | None = strawberry.field(
        description="Path to the input field at fault, e.g. [\"input\", \"lines\", \"0\", \"quantity\"]."
    )
    message: str = strawberry.field(description="What is wrong, for people.")
    code: UserErrorCode = strawberry.field(description="What is wrong, for programs.")


def error(code: UserErrorCode, message: str, *path: str | int) -> UserError:
    """A user error at `input.<path>`."""
    return UserError(field=["input", *(str(part) for part in path)] if path else None,
                     message=message, code=code)


def principal(info: GraphInfo) -> Principal | None:
    """The caller; absent in development means the anonymous developer, in production nobody."""
    try:
        return principal_of(info.context)
    except AuthenticationError:
        settings = info.context.settings
        return None if getattr(settings, "is_production", False) else ANONYMOUS_DEVELOPER


def permitted(info: GraphInfo, mutation: str) -> UserError | None:
    """The role check, read from the one table of role gates (graph/permissions.py)."""
    gates = ROLE_GATES.get("Mutation", {})
    roles = [str(role.value) for role in gates.get(mutation, gates.get("*", ()))]
    caller = principal(info)
    if caller is not None and caller.has_any_role(roles):
        return None
    return error(UserErrorCode.NOT_PERMITTED, f"{mutation} needs one of the roles {', '.join(roles)}.")


def orchestrator(info: GraphInfo) -> Orchestrator:
    """The orchestrator the app's lifespan started (it is also the context's workflow lookup)."""
    found = info.context.workflows
    if isinstance(found, Orchestrator):
        return found
    raise RuntimeError("the orchestrator is not running in this app (app.state.workflows)")


def plain(value: Any) -> Any:
    """A strawberry input as JSON-able data (enums by value, unset as None) for hashing."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, UnsetType):
        return None
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    return value


Cleaned = tuple[dict[str, Any] | None, list[UserError], dict[str, Any]]


async def hand_off(
    info: GraphInfo,
    *,
    kind: str,
    operation: str,
    key: str,
    client_input: Mapping[str, Any],
    clean: Callable[[], Awaitable[Cleaned]],
) -> tuple[WorkflowRecord | None, list[UserError]]:
    """Replay the key's workflow, or validate, claim the key and start; then wait briefly."""
    engine = orchestrator(info)
    try:
        key = check_key(key)
    except InvalidIdempotencyKey as exc:
        return None, [error(UserErrorCode.INVALID, str(exc), "idempotencyKey")]
    reused = error(UserErrorCode.IDEMPOTENCY_KEY_REUSED,
                   "This idempotency key was already used with a different input.", "idempotencyKey")
    try:
        record = await engine.existing(operation, key, client_input)
    except IdempotencyKeyReused:
        return None, [reused]
    if record is None:
        payload, errors, subjects = await clean()
        if errors or payload is None:
            return None, errors
        caller = principal(info)
        try:
            record = await engine.start(kind, key=key, client_input=client_input, payload=payload,
                                        principal=None if caller is None else caller.sub, subjects=subjects)
        except IdempotencyKeyReused:
            return None, [reused]
    return await settle(info, record.id), []


async def settle(
    info: GraphInfo, workflow_id: str, until: Callable[[WorkflowRecord], bool] | None = None
) -> WorkflowRecord | None:
    """The workflow after waiting up to `mutation_wait_s` for it to settle."""
    wait_s = float(getattr(info.context.settings, "mutation_wait_s", 2.0))
    if until is None:
        return await orchestrator(info).wait(workflow_id, wait_s)
    return await orchestrator(info).wait(workflow_id, wait_s, until)


def workflow_type(record: WorkflowRecord | None) -> Workflow | None:
    """The graph's Workflow for a journal record (a journal record is a `WorkflowView`)."""
    return None if record is None else Workflow.from_view(cast("WorkflowView", record))

