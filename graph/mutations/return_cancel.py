"""cancelReturn: stop a return that has not been received or settled, across every system."""

from __future__ import annotations

from typing import Any

import strawberry

from graph.context import GraphInfo
from graph.types.common import decode_global_id
from graph.types.returns import Return
from graph.types.workflows import Workflow
from orchestrator import WorkflowState
from sources.records import ReturnStatus

from .common import (
    Cleaned,
    UserError,
    UserErrorCode,
    error,
    hand_off,
    orchestrator,
    permitted,
    plain,
    principal,
    workflow_type,
)

_CANCELLABLE = frozenset({ReturnStatus.REQUESTED, ReturnStatus.AUTHORIZED})


@strawberry.input(description="Cancel a return that has not been received or settled.")
class CancelReturnInput:
    """Input of cancelReturn."""

    return_id: strawberry.ID = strawberry.field(
        description="The Return's global id; cancelling the same return again answers the first cancellation."
    )


@strawberry.type(description="The result of cancelReturn.")
class CancelReturnPayload:
    """Payload of cancelReturn."""

    return_: Return | None = strawberry.field(name="return", description="The return after cancelling.")
    workflow: Workflow | None = strawberry.field(description="The workflow as it stands after a short wait.")
    user_errors: list[UserError] = strawberry.field(description="Why nothing was started, if so.")


async def clean_cancel_return(info: GraphInfo, rma_number: str) -> Cleaned:
    """The return must exist, be open, and not be in the middle of its own workflow."""
    loaders = info.context.loaders
    found = await loaders.return_by_number.load(rma_number)
    if found is None:
        return None, [error(UserErrorCode.RETURN_NOT_FOUND, f"Return {rma_number} does not exist.", "returnId")], {}
    if found.status not in _CANCELLABLE:
        return None, [error(UserErrorCode.RETURN_NOT_CANCELLABLE,
                            f"Return {rma_number} is {found.status.value} and can no longer be cancelled.",
                            "returnId")], {}
    engine = orchestrator(info)
    origin = None
    for workflow_id in await engine.journal.workflows_for("Return", rma_number):
        record = await engine.workflow(workflow_id)
        if record is not None and record.kind == "initiate_return":
            origin = record
    if origin is not None and origin.status is WorkflowState.RUNNING:
        return None, [error(UserErrorCode.WORKFLOW_IN_PROGRESS,
                            f"Return {rma_number} is still being set up; try again shortly.", "returnId")], {}
    replacement_erp_id = None
    if origin is not None and origin.subjects.get("replacementOrder"):
        order = await loaders.order_by_number.load(origin.subjects["replacementOrder"])
        replacement_erp_id = None if order is None else order.erp_id
    who = principal(info)
    payload: dict[str, Any] = {
        "rmaNumber": found.rma_number, "erpId": found.erp_id, "orderNumber": found.order_number,
        "returnWorkflowId": None if origin is None else origin.id,
        "awaitingApproval": origin is not None and origin.status is WorkflowState.AWAITING_APPROVAL,
        "replacementOrderErpId": replacement_erp_id,
        "caseId": None if origin is None else origin.input.get("caseId"),
        "requestedBy": None if who is None else who.sub,
    }
    return payload, [], {"return": found.rma_number, "order": found.order_number, "case": payload["caseId"]}


async def cancel_return(info: GraphInfo, data: CancelReturnInput) -> CancelReturnPayload:
    """Resolver of Mutation.cancelReturn."""
    denied = permitted(info, "cancelReturn")
    if denied:
        return CancelReturnPayload(return_=None, workflow=None, user_errors=[denied])
    rma_number = decode_global_id(data.return_id, "Return")[1]
    record, errors = await hand_off(
        info, kind="cancel_return", operation="cancelReturn", key=rma_number,
        client_input=plain(data), clean=lambda: clean_cancel_return(info, rma_number),
    )
    if record is None:
        return CancelReturnPayload(return_=None, workflow=None, user_errors=errors)
    info.context.sources.erp.invalidate("return", [rma_number])
    found = await info.context.sources.erp.returns_by_numbers([rma_number])
    current = found.get(rma_number)
    return CancelReturnPayload(
        return_=None if current is None else Return.from_record(current),
        workflow=workflow_type(record), user_errors=[],
    )
