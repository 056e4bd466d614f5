"""The cancel workflow: stop a pending refund, undo the ERP and WMS side of a return, note it.

Cancelling only moves forward (there is nothing sensible to undo a cancellation with), so
the first write is the pivot: if a later step fails for good the workflow ends FAILED with
what was done visible in its steps, rather than pretending to roll back.
  refund.withdraw                 tell a return waiting for approval to drop its refund
  erp.cancel_return_order         the RMA becomes Canceled (refused if it was refunded meanwhile)
  wms.cancel_inbound_return       the warehouse stops expecting the goods
  wms.release_replacement         replacement stock held for the RMA is released
  erp.delete_replacement_order    an unshipped replacement order is deleted
  servicedesk.note_return_cancelled
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from dbos import DBOS

from .notes import case_note
from .refund_request import APPROVAL_TOPIC, CANCEL
from .saga import Gate, SagaRun, Step, StepFailed
from .workflow import WorkflowSpec, execute, register


async def withdraw_refund(run: SagaRun) -> Mapping[str, Any]:
    """Send the return's workflow a CANCEL decision (delivered once, whatever retries)."""
    target = run.input["returnWorkflowId"]
    await DBOS.send_async(
        target,
        {"decision": CANCEL, "by": run.input.get("requestedBy"), "note": "return cancelled",
         "at": datetime.now(UTC).isoformat()},
        APPROVAL_TOPIC,
        idempotency_key=run.key("refund.withdraw"),
    )
    return {"sentTo": target}


async def cancel_inbound(run: SagaRun) -> Mapping[str, Any]:
    """Cancel the inbound returns the WMS still expects for the RMA."""
    wms, rma = run.runtime.upstreams.wms, run.input["rmaNumber"]
    cancelled: list[str] = []
    for inbound in (await wms.inbound_returns([rma])).get(rma, []):
        if inbound.status == "expected":
            await wms.cancel_return(inbound.id, idempotency_key=run.key("wms.cancel_inbound_return", inbound.id))
            cancelled.append(inbound.id)
    return {"cancelled": cancelled}


async def release_replacement(run: SagaRun) -> Mapping[str, Any]:
    """Release active replacement reservations made for the RMA."""
    wms, rma = run.runtime.upstreams.wms, run.input["rmaNumber"]
    released: list[str] = []
    for reservation in await wms.reservations(rma):
        if reservation.status == "active":
            await wms.release(reservation.id, sku=reservation.sku,
                              idempotency_key=run.key("wms.release_replacement", reservation.id))
            run.runtime.bus.publish(f"inventory:{reservation.sku}", None)
            released.append(reservation.id)
    return {"released": released}


async def delete_replacement_order(run: SagaRun) -> Mapping[str, Any]:
    """Delete the replacement order raised for the RMA."""
    erp_id = run.input["replacementOrderErpId"]
    await run.runtime.upstreams.erp.delete_sales_order(erp_id, idempotency_key=run.key("erp.delete_replacement_order"))
    return {"deleted": erp_id}


async def cancel_return_order(run: SagaRun) -> Mapping[str, Any]:
    """Cancel the RMA, unless money went back for it meanwhile (an approval won the race)."""
    erp, rma_number = run.runtime.upstreams.erp, run.input["rmaNumber"]
    posted = [m for m in await erp.credit_memos_for(rma_number) if m.source_status in ("Open", "Paid")]
    if posted:
        raise StepFailed(f"return {rma_number} was refunded by {posted[0].number}; it cannot be cancelled",
                         "RETURN_REFUNDED")
    rma = await erp.set_return_status(
        run.input["erpId"], "Canceled", idempotency_key=run.key("erp.cancel_return_order"))
    await run.emit("ReturnCancelled", subject=rma.rma_number, rmaNumber=rma.rma_number,
                   orderNumber=rma.order_number)
    return {"status": rma.source_status}


def entries(payload: Mapping[str, Any]) -> Sequence[Step | Gate]:
    """Withdraw, cancel inbound, release, delete, cancel RMA, note."""
    return [
        Gate("refund.withdraw", withdraw_refund, when=lambda run: bool(run.input.get("awaitingApproval"))),
        Step("erp.cancel_return_order", cancel_return_order, pivot=True),
        Step("wms.cancel_inbound_return", cancel_inbound),
        Step("wms.release_replacement", release_replacement),
        Step("erp.delete_replacement_order", delete_replacement_order,
             when=lambda run: bool(run.input.get("replacementOrderErpId"))),
        case_note("servicedesk.note_return_cancelled",
                  lambda run: f"Return {run.input['rmaNumber']} for order {run.input['orderNumber']} "
                              f"was cancelled by {run.input.get('requestedBy') or 'an agent'}."),
    ]


@DBOS.workflow(name="cancel_return")
async def return_cancel_workflow(payload: dict[str, Any]) -> dict[str, Any]:
    """DBOS entry point of `cancelReturn`."""
    return await execute("cancel_return", payload)


SPEC = register(WorkflowSpec("cancel_return", "cancelReturn", return_cancel_workflow, entries))
