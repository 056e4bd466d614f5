"""Refund workflows: a draft credit memo, a supervisor's approval over the threshold, posting.

The refund steps are shared with the return workflow: a Draft credit memo is created first
(so the amount that needs approval is the ERP's own total), a refund over the threshold
parks the workflow in AWAITING_APPROVAL until `approveRefund` sends a decision, and an
approved refund is posted (the pivot: a posted credit memo cannot be undone). A rejection
cancels the draft and notes the case; a cancelled return does the same and ends CANCELLED.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from dbos import DBOS

from sources.erp_writes import CreditLineRequest
from sources.policy import refund_needs_approval
from sources.records import RefundStatus

from .journal import WorkflowState
from .notes import case_note
from .refunds import refund_id_for
from .saga import Gate, SagaRun, Step
from .workflow import WorkflowSpec, execute, register

APPROVAL_TOPIC = "approval"
APPROVE, REJECT, CANCEL = "APPROVE", "REJECT", "CANCEL"
CREATE, APPROVAL, POST = "erp.create_credit_memo", "approval", "erp.post_credit_memo"
Reference = Callable[[SagaRun], str]


def decision(run: SagaRun) -> str:
    """APPROVE, REJECT or CANCEL; a refund that needed no approval is approved by policy."""
    return str(run.output(APPROVAL).get("decision", APPROVE))


def approved(run: SagaRun) -> bool:
    """Step condition: the refund may be posted."""
    return decision(run) == APPROVE


def rejected(run: SagaRun) -> bool:
    """Step condition: a supervisor said no."""
    return decision(run) == REJECT


def cancelled(run: SagaRun) -> bool:
    """Step condition: the return was cancelled while the refund waited."""
    return decision(run) == CANCEL


def needs_approval(run: SagaRun) -> bool:
    """Gate condition: the memo's total is over the threshold."""
    return bool(run.output(CREATE).get("needsApproval"))


Guard = Callable[[SagaRun], Awaitable[None]]


def refund_entries(
    reference: Reference, return_number: Callable[[SagaRun], str | None], before_posting: Guard | None = None
) -> list[Step | Gate]:
    """The refund half of a workflow; `reference` names the document the memo settles and
    `before_posting` may refuse the post (a return cancelled while the refund waited)."""

    async def create(run: SagaRun) -> Mapping[str, Any]:
        rt, payload = run.runtime, run.input
        memo = await rt.upstreams.erp.create_credit_memo(
            customer_number=payload["customerNumber"], invoice_number=payload["invoiceNumber"],
            reference=reference(run), idempotency_key=run.key(CREATE),
            lines=[CreditLineRequest(line["sku"], line["description"], int(line["quantity"]),
                                     Decimal(line["unitPrice"]),
                                     None if line.get("taxPercent") is None else Decimal(line["taxPercent"]))
                   for line in payload["creditLines"]],
        )
        amount = memo.total.amount
        wait = refund_needs_approval(amount, rt.policy)
        refund_id = refund_id_for(run.workflow_id)
        await rt.refunds.create(
            refund_id=refund_id, workflow_id=run.workflow_id, order_number=payload["orderNumber"],
            invoice_number=payload["invoiceNumber"], return_number=return_number(run),
            case_id=payload.get("caseId"), amount=amount, currency_code=memo.total.currency_code,
            reason=payload.get("reason"), requested_by=payload.get("requestedBy"),
            status=RefundStatus.PENDING_APPROVAL if wait else RefundStatus.APPROVED,
            credit_memo_number=memo.number,
        )
        await rt.journal.add_subjects(
            run.workflow_id, {"refund": memo.number, "refundId": refund_id, "creditMemo": memo.number})
        await run.emit("RefundRequested", subject=refund_id, refundId=refund_id,
                       orderNumber=payload["orderNumber"], amount=str(amount),
                       currencyCode=memo.total.currency_code, needsApproval=wait)
        if not wait:
            # At or under the threshold the policy approves; nobody signs for it.
            await run.emit("RefundApproved", subject=refund_id, refundId=refund_id, approvedBy=None)
        return {"refundId": refund_id, "creditMemoNumber": memo.number, "creditMemoId": memo.erp_id,
                "amount": str(amount), "currencyCode": memo.total.currency_code, "needsApproval": wait}

    async def cancel_draft(run: SagaRun) -> None:
        memo = run.output(CREATE)
        await run.runtime.upstreams.erp.cancel_credit_memo(
            memo["creditMemoId"], idempotency_key=run.key(CREATE, "compensate"))
        await run.runtime.refunds.update(memo["refundId"], status=RefundStatus.FAILED)

    async def post(run: SagaRun) -> Mapping[str, Any]:
        rt, memo = run.runtime, run.output(CREATE)
        if before_posting is not None:
            await before_posting(run)
        posted = await rt.upstreams.erp.post_credit_memo(memo["creditMemoId"], idempotency_key=run.key(POST))
        rt.upstreams.erp.invoice_changed(run.input["orderNumber"])
        await rt.refunds.update(memo["refundId"], status=RefundStatus.POSTED, posted_at=datetime.now(UTC))
        await run.emit("RefundPosted", subject=memo["refundId"], refundId=memo["refundId"],
                       creditMemoNumber=posted.number, amount=str(posted.total.amount),
                       currencyCode=posted.total.currency_code)
        return {"creditMemoNumber": posted.number, "status": posted.source_status}

    async def withdraw(run: SagaRun) -> Mapping[str, Any]:
        """A rejected or cancelled refund: the draft memo is cancelled."""
        rt, memo = run.runtime, run.output(CREATE)
        await rt.upstreams.erp.cancel_credit_memo(memo["creditMemoId"], idempotency_key=run.key("erp.withdraw_credit_memo"))
        rt.upstreams.erp.invoice_changed(run.input["orderNumber"])
        return {"creditMemoNumber": memo["creditMemoNumber"]}

    def amount_text(run: SagaRun) -> str:
        memo = run.output(CREATE)
        return f"{memo.get('amount')} {memo.get('currencyCode')}"

    return [
        Step(CREATE, create, cancel_draft),
        Gate(APPROVAL, await_decision, when=needs_approval),
        Step(POST, post, when=approved, pivot=True),
        case_note("servicedesk.note_refund_posted",
                  lambda run: f"Refund {run.output(CREATE)['refundId']} of {amount_text(run)} posted "
                              f"as credit memo {run.output(CREATE)['creditMemoNumber']}.",
                  when=approved),
        Step("erp.withdraw_credit_memo", withdraw, when=lambda run: rejected(run) or cancelled(run)),
        case_note("servicedesk.note_refund_rejected",
                  lambda run: f"Refund {run.output(CREATE)['refundId']} of {amount_text(run)} was "
                              f"rejected by {run.output(APPROVAL).get('by') or 'policy'}"
                              + (f": {run.output(APPROVAL)['note']}" if run.output(APPROVAL).get("note") else "."),
                  when=rejected),
    ]


async def await_decision(run: SagaRun) -> Mapping[str, Any]:
    """Park in AWAITING_APPROVAL until a decision arrives (or the approval window closes)."""
    rt, memo = run.runtime, run.output(CREATE)
    refund_id = memo["refundId"]
    await rt.journal.set_status(run.workflow_id, WorkflowState.AWAITING_APPROVAL)
    message = await DBOS.recv_async(APPROVAL_TOPIC, timeout_seconds=rt.approval_timeout_s)
    if not isinstance(message, Mapping):
        message = {"decision": REJECT, "by": None, "note": "approval window closed", "at": None}
    choice = str(message.get("decision"))
    at = datetime.fromisoformat(message["at"]) if message.get("at") else None
    if choice == APPROVE:
        await rt.refunds.update(refund_id, status=RefundStatus.APPROVED, approved_by=message.get("by"),
                                decision_note=message.get("note"), decided_at=at)
        await run.emit("RefundApproved", subject=refund_id, refundId=refund_id, approvedBy=message.get("by"))
    else:
        note = message.get("note") or ("return cancelled" if choice == CANCEL else None)
        await rt.refunds.update(refund_id, status=RefundStatus.REJECTED, approved_by=message.get("by"),
                                decision_note=note, decided_at=at)
        await run.emit("RefundRejected", subject=refund_id, refundId=refund_id,
                       rejectedBy=message.get("by"), note=note)
    if choice == CANCEL:
        run.outcome = WorkflowState.CANCELLED
    await rt.journal.set_status(run.workflow_id, WorkflowState.RUNNING)
    return {"decision": choice, "by": message.get("by"), "note": message.get("note")}


def goodwill_entries(payload: Mapping[str, Any]) -> Sequence[Step | Gate]:
    """A refund without a return: the memo's external document is the refund's own id."""
    return refund_entries(lambda run: refund_id_for(run.workflow_id), lambda run: None)


@DBOS.workflow(name="request_refund")
async def refund_request_workflow(payload: dict[str, Any]) -> dict[str, Any]:
    """DBOS entry point of `requestRefund`."""
    return await execute("request_refund", payload)


SPEC = register(WorkflowSpec("request_refund", "requestRefund", refund_request_workflow, goodwill_entries))
