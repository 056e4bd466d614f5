"""approveRefund: a supervisor's decision on a refund waiting in AWAITING_APPROVAL."""

from __future__ import annotations

import strawberry

from graph.context import GraphInfo
from graph.types.common import decode_global_id
from graph.types.returns import Refund
from graph.types.workflows import Workflow
from orchestrator import RefundRecord, WorkflowState
from orchestrator.refund_request import APPROVE, REJECT
from sources.records import RefundStatus

from .common import (
    UserError,
    UserErrorCode,
    error,
    orchestrator,
    permitted,
    principal,
    settle,
    workflow_type,
)
from .refunds import refund_type

MAX_NOTE = 2000


@strawberry.input(description="Approve or reject a refund waiting for a supervisor.")
class ApproveRefundInput:
    """Input of approveRefund."""

    refund_id: strawberry.ID = strawberry.field(description="The Refund's global id.")
    approve: bool = strawberry.field(description="True posts the refund; false rejects it.")
    note: str | None = strawberry.field(default=None, description="Why; written to the case timeline.")


@strawberry.type(description="The result of approveRefund.")
class ApproveRefundPayload:
    """Payload of approveRefund."""

    refund: Refund | None = strawberry.field(description="The refund after the decision took effect.")
    workflow: Workflow | None = strawberry.field(description="The refund's workflow after a short wait.")
    user_errors: list[UserError] = strawberry.field(description="Why no decision was made, if so.")


async def clean_approve_refund(info: GraphInfo, data: ApproveRefundInput) -> tuple[RefundRecord | None, list[UserError]]:
    """The refund must exist here and still wait for approval."""
    number = decode_global_id(data.refund_id, "Refund")[1]
    found = (await orchestrator(info).refunds.by_credit_memo_numbers([number])).get(number)
    if found is None:
        return None, [error(UserErrorCode.REFUND_NOT_FOUND, f"No refund {number} waits in retailgraph.", "refundId")]
    if found.status is not RefundStatus.PENDING_APPROVAL:
        return None, [error(UserErrorCode.REFUND_NOT_PENDING,
                            f"Refund {number} is {found.status.value}, not waiting for approval.", "refundId")]
    if data.note is not None and len(data.note) > MAX_NOTE:
        return None, [error(UserErrorCode.INVALID, f"A note has at most {MAX_NOTE} characters.", "note")]
    return found, []


async def approve_refund(info: GraphInfo, data: ApproveRefundInput) -> ApproveRefundPayload:
    """Resolver of Mutation.approveRefund."""
    denied = permitted(info, "approveRefund")
    if denied:
        return ApproveRefundPayload(refund=None, workflow=None, user_errors=[denied])
    refund, errors = await clean_approve_refund(info, data)
    if refund is None:
        return ApproveRefundPayload(refund=None, workflow=None, user_errors=errors)
    who = principal(info)
    engine = orchestrator(info)
    await engine.decide_refund(refund, APPROVE if data.approve else REJECT,
                               by=None if who is None else who.sub, note=data.note)
    record = await settle(info, refund.workflow_id,
                          until=lambda r: r.settled and r.status is not WorkflowState.AWAITING_APPROVAL)
    current = await engine.refunds.get(refund.id)
    return ApproveRefundPayload(refund=await refund_type(info, current), workflow=workflow_type(record),
                                user_errors=[])
