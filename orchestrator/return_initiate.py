"""The return workflow: RMA in the ERP, expected goods in the WMS, then refund or replacement.

Steps, each with its compensation:
  erp.create_return_order    Draft return order            → cancel it
  erp.authorize_return       Released (AUTHORIZED)         (undone by the cancel above)
  wms.expect_inbound_return  expected inbound return       → cancel it
  servicedesk.note_return_authorized                       → note the roll-back
then REFUND / STORE_CREDIT: the refund steps (draft memo, approval, post), and on a rejected
refund the RMA is closed without one; REPLACEMENT: stock reserved at the chosen location and
a zero-priced replacement order, each undone on failure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dbos import DBOS

from sources.erp_writes import OrderLineRequest, ReturnLineRequest
from sources.records import ReturnReason, ReturnResolution
from sources.wms_writes import InboundReturnLine

from .notes import case_note, quantity_lines, rolled_back
from .refund_request import refund_entries, rejected
from .saga import Gate, SagaRun, Step, StepFailed
from .workflow import WorkflowSpec, execute, register

CREATE_RMA, AUTHORIZE, INBOUND = "erp.create_return_order", "erp.authorize_return", "wms.expect_inbound_return"
RESERVE, REPLACEMENT_ORDER = "wms.reserve_replacement", "erp.create_replacement_order"


def reference(run: SagaRun) -> str:
    """The ERP's external document number for everything this workflow creates."""
    return "RG-" + run.workflow_id.rsplit("-", 1)[-1][:20].upper()


def rma_number(run: SagaRun) -> str:
    """The RMA number the ERP gave the return."""
    return str(run.output(CREATE_RMA)["rmaNumber"])


async def create_return_order(run: SagaRun) -> Mapping[str, Any]:
    """Draft sales return order for the lines (ReturnRequested)."""
    payload, rt = run.input, run.runtime
    rma = await rt.upstreams.erp.create_return_order(
        customer_number=payload["customerNumber"], order_number=payload["orderNumber"],
        invoice_number=payload.get("invoiceNumber"), reference=reference(run),
        resolution=ReturnResolution(payload["resolution"]), idempotency_key=run.key(CREATE_RMA),
        lines=[ReturnLineRequest(line["sku"], int(line["quantity"]), ReturnReason(line["reason"]),
                                 int(line["lineNumber"])) for line in payload["lines"]],
    )
    await rt.journal.add_subjects(run.workflow_id, {"return": rma.rma_number})
    await run.emit("ReturnRequested", subject=rma.rma_number, rmaNumber=rma.rma_number,
                   orderNumber=rma.order_number, resolution=payload["resolution"],
                   lines=[{"sku": line["sku"], "quantity": line["quantity"]} for line in payload["lines"]])
    return {"rmaNumber": rma.rma_number, "erpId": rma.erp_id, "total": str(rma.total.amount)}


async def cancel_return_order(run: SagaRun) -> None:
    """Compensation: the RMA becomes Canceled."""
    await run.runtime.upstreams.erp.set_return_status(
        run.output(CREATE_RMA)["erpId"], "Canceled", idempotency_key=run.key(CREATE_RMA, "compensate"))


async def authorize_return(run: SagaRun) -> Mapping[str, Any]:
    """Release the RMA: the return is authorized (ReturnAuthorized)."""
    rma = await run.runtime.upstreams.erp.set_return_status(
        run.output(CREATE_RMA)["erpId"], "Released", idempotency_key=run.key(AUTHORIZE))
    await run.emit("ReturnAuthorized", subject=rma.rma_number, rmaNumber=rma.rma_number,
                   orderNumber=rma.order_number, resolution=run.input["resolution"])
    return {"status": rma.source_status}


async def expect_inbound_return(run: SagaRun) -> Mapping[str, Any]:
    """Tell the WMS which goods come back where (InboundReturnExpected)."""
    payload = run.input
    inbound = await run.runtime.upstreams.wms.expect_return(
        rma_number=rma_number(run), order_number=payload["orderNumber"],
        location_id=payload["returnLocationId"], idempotency_key=run.key(INBOUND),
        lines=[InboundReturnLine(line["sku"], int(line["quantity"])) for line in payload["lines"]],
    )
    await run.runtime.journal.add_subjects(run.workflow_id, {"inboundReturn": inbound.id})
    await run.emit("InboundReturnExpected", subject=rma_number(run), rmaNumber=rma_number(run),
                   inboundId=inbound.id, locationId=inbound.location_id)
    for line in payload["lines"]:
        run.runtime.bus.publish(f"inventory:{line['sku']}", payload["returnLocationId"])
    return {"inboundId": inbound.id}


async def cancel_inbound_return(run: SagaRun) -> None:
    """Compensation: the WMS stops expecting the goods."""
    await run.runtime.upstreams.wms.cancel_return(
        run.output(INBOUND)["inboundId"], idempotency_key=run.key(INBOUND, "compensate"))


async def return_still_open(run: SagaRun) -> None:
    """Refuse to post a refund for a return cancelled while the refund waited for approval."""
    rma = await run.runtime.upstreams.erp.return_order(run.output(CREATE_RMA)["erpId"])
    if rma.source_status in ("Canceled", "Rejected"):
        raise StepFailed(f"return {rma.rma_number} is {rma.source_status}; its refund is not posted",
                         "RETURN_CANCELLED")


async def close_without_refund(run: SagaRun) -> Mapping[str, Any]:
    """A rejected refund completes the return without money back."""
    rma = await run.runtime.upstreams.erp.set_return_status(
        run.output(CREATE_RMA)["erpId"], "Closed", idempotency_key=run.key("erp.close_return"))
    return {"status": rma.source_status}


def reserve_step(line: Mapping[str, Any]) -> Step:
    """Hold replacement stock for one returned line (a step per line, each undone alone)."""
    name = f"{RESERVE}.{line['lineNumber']}"

    async def reserve(run: SagaRun) -> Mapping[str, Any]:
        rt = run.runtime
        location_id = run.input["replacementLocationId"]
        reservation = await rt.upstreams.wms.reserve(
            sku=line["sku"], location_id=location_id, quantity=int(line["quantity"]),
            reference=rma_number(run), idempotency_key=run.key(name))
        await rt.journal.add_subjects(run.workflow_id, {f"reservation.{line['lineNumber']}": reservation.id})
        await run.emit("ReplacementReserved", subject=rma_number(run), key=str(line["lineNumber"]),
                       reservationId=reservation.id, sku=reservation.sku, quantity=reservation.quantity,
                       locationId=reservation.location_id)
        rt.bus.publish(f"inventory:{reservation.sku}", reservation.location_id)
        return {"reservationId": reservation.id, "sku": reservation.sku}

    async def release(run: SagaRun) -> None:
        held = run.output(name)
        await run.runtime.upstreams.wms.release(
            held["reservationId"], sku=held["sku"], idempotency_key=run.key(name, "compensate"))
        run.runtime.bus.publish(f"inventory:{held['sku']}", None)

    return Step(name, reserve, release)


async def create_replacement_order(run: SagaRun) -> Mapping[str, Any]:
    """Zero-priced sales order for the returned lines, referencing the RMA."""
    payload, rt = run.input, run.runtime
    order = await rt.upstreams.erp.create_sales_order(
        customer_number=payload["customerNumber"], reference=rma_number(run), channel=payload.get("channel"),
        lines=[OrderLineRequest(line["sku"], int(line["quantity"])) for line in payload["lines"]],
        idempotency_key=run.key(REPLACEMENT_ORDER))
    await rt.journal.add_subjects(run.workflow_id, {"replacementOrder": order.number})
    await run.emit("ReplacementOrdered", subject=rma_number(run), orderNumber=order.number,
                   replacesOrderNumber=payload["orderNumber"])
    return {"orderNumber": order.number, "erpId": order.erp_id}


async def delete_replacement_order(run: SagaRun) -> None:
    """Compensation: delete the replacement order."""
    await run.runtime.upstreams.erp.delete_sales_order(
        run.output(REPLACEMENT_ORDER)["erpId"], idempotency_key=run.key(REPLACEMENT_ORDER, "compensate"))


def entries(payload: Mapping[str, Any]) -> Sequence[Step | Gate]:
    """The steps of one return; the tail depends on the resolution."""
    head: list[Step | Gate] = [
        Step(CREATE_RMA, create_return_order, cancel_return_order),
        Step(AUTHORIZE, authorize_return),
        Step(INBOUND, expect_inbound_return, cancel_inbound_return),
        case_note(
            "servicedesk.note_return_authorized",
            lambda run: f"Return {rma_number(run)} authorized for order {run.input['orderNumber']}: "
                        f"{quantity_lines(run.input['lines'])}; resolution {run.input['resolution']}.",
            undo_text=rolled_back(lambda run: f"Return {rma_number(run)}"),
        ),
    ]
    if payload["resolution"] == ReturnResolution.REPLACEMENT.value:
        return head + [
            *(reserve_step(line) for line in payload["lines"]),
            Step(REPLACEMENT_ORDER, create_replacement_order, delete_replacement_order),
            case_note("servicedesk.note_replacement",
                      lambda run: f"Replacement order {run.output(REPLACEMENT_ORDER)['orderNumber']} created "
                                  f"for return {rma_number(run)}; stock reserved at "
                                  f"{run.input['replacementLocationId']}."),
        ]
    return head + refund_entries(rma_number, rma_number, before_posting=return_still_open) + [
        Step("erp.close_return", close_without_refund, when=rejected),
    ]


@DBOS.workflow(name="initiate_return")
async def return_initiate_workflow(payload: dict[str, Any]) -> dict[str, Any]:
    """DBOS entry point of `initiateReturn`."""
    return await execute("initiate_return", payload)


SPEC = register(WorkflowSpec("initiate_return", "initiateReturn", return_initiate_workflow, entries))
