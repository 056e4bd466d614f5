"""The replacement workflow: reserve stock at a location, order the replacement, note the case.

Steps, each with its compensation:
  wms.reserve_replacement        reservation at the chosen location → release it
  erp.create_replacement_order   zero-priced sales order           → delete it
  servicedesk.note_replacement   note on the linked case
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dbos import DBOS

from sources.erp_writes import OrderLineRequest

from .notes import case_note
from .return_initiate import reference
from .saga import Gate, SagaRun, Step
from .workflow import WorkflowSpec, execute, register

RESERVE, ORDER = "wms.reserve_replacement", "erp.create_replacement_order"


async def reserve(run: SagaRun) -> Mapping[str, Any]:
    """Hold the stock at the chosen location (ReplacementReserved)."""
    payload, rt = run.input, run.runtime
    reservation = await rt.upstreams.wms.reserve(
        sku=payload["sku"], location_id=payload["locationId"], quantity=int(payload["quantity"]),
        reference=reference(run), idempotency_key=run.key(RESERVE))
    await rt.journal.add_subjects(run.workflow_id, {"reservation": reservation.id})
    await run.emit("ReplacementReserved", subject=payload["orderNumber"], reservationId=reservation.id,
                   sku=reservation.sku, quantity=reservation.quantity, locationId=reservation.location_id)
    rt.bus.publish(f"inventory:{reservation.sku}", reservation.location_id)
    return {"reservationId": reservation.id, "sku": reservation.sku, "locationId": reservation.location_id}


async def release(run: SagaRun) -> None:
    """Compensation: release the reservation."""
    held = run.output(RESERVE)
    await run.runtime.upstreams.wms.release(
        held["reservationId"], sku=held["sku"], idempotency_key=run.key(RESERVE, "compensate"))
    run.runtime.bus.publish(f"inventory:{held['sku']}", None)


async def create_order(run: SagaRun) -> Mapping[str, Any]:
    """Zero-priced replacement order (ReplacementOrdered)."""
    payload, rt = run.input, run.runtime
    order = await rt.upstreams.erp.create_sales_order(
        customer_number=payload["customerNumber"], reference=reference(run), channel=payload.get("channel"),
        lines=[OrderLineRequest(payload["sku"], int(payload["quantity"]))], idempotency_key=run.key(ORDER))
    await rt.journal.add_subjects(run.workflow_id, {"replacementOrder": order.number})
    await run.emit("ReplacementOrdered", subject=payload["orderNumber"], orderNumber=order.number,
                   replacesOrderNumber=payload["orderNumber"])
    return {"orderNumber": order.number, "erpId": order.erp_id}


async def delete_order(run: SagaRun) -> None:
    """Compensation: delete the replacement order."""
    await run.runtime.upstreams.erp.delete_sales_order(
        run.output(ORDER)["erpId"], idempotency_key=run.key(ORDER, "compensate"))


def entries(payload: Mapping[str, Any]) -> Sequence[Step | Gate]:
    """Reserve, order, note."""
    return [
        Step(RESERVE, reserve, release),
        Step(ORDER, create_order, delete_order),
        case_note(
            "servicedesk.note_replacement",
            lambda run: f"Replacement for order {run.input['orderNumber']} line {run.input['lineNumber']}: "
                        f"{run.input['quantity']} × {run.input['sku']} reserved at {run.input['locationId']} "
                        f"({run.output(RESERVE)['reservationId']}), order {run.output(ORDER)['orderNumber']}.",
        ),
    ]


@DBOS.workflow(name="reserve_replacement")
async def replacement_reserve_workflow(payload: dict[str, Any]) -> dict[str, Any]:
    """DBOS entry point of `reserveReplacement`."""
    return await execute("reserve_replacement", payload)


SPEC = register(
    WorkflowSpec("reserve_replacement", "reserveReplacement", replacement_reserve_workflow, entries)
)
