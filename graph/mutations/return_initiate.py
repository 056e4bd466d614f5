"""initiateReturn: validate a return against the policy and live data, then start its workflow."""

from __future__ import annotations

from typing import Any

import strawberry

from graph.context import GraphInfo
from graph.types.enums import ReturnReason, ReturnResolution
from graph.types.returns import Refund, Return
from graph.types.workflows import Workflow
from resolvers.eligibility import resolve_return_eligibility
from sources.records import Order
from sources.records import ReturnResolution as Resolution

from . import checks
from .common import (
    Cleaned,
    UserError,
    UserErrorCode,
    error,
    hand_off,
    permitted,
    plain,
    principal,
    workflow_type,
)
from .refunds import refund_of_workflow

_REASON_CODES = {
    "NOT_DELIVERED": UserErrorCode.NOT_DELIVERED,
    "RETURN_WINDOW_EXPIRED": UserErrorCode.RETURN_WINDOW_EXPIRED,
    "NOTHING_RETURNABLE": UserErrorCode.QUANTITY_EXCEEDS_RETURNABLE,
}


@strawberry.input(description="One order line to return.")
class InitiateReturnLineInput:
    """One line of a return."""

    order_line_id: strawberry.ID = strawberry.field(description="The OrderLine's global id.")
    quantity: int = strawberry.field(description="Units coming back (at most the returnable quantity).")
    reason: ReturnReason = strawberry.field(description="Why they come back.")


@strawberry.input(description="Start a return of delivered order lines.")
class InitiateReturnInput:
    """Input of initiateReturn."""

    order_id: strawberry.ID = strawberry.field(description="The Order's global id.")
    lines: list[InitiateReturnLineInput] = strawberry.field(description="The lines coming back.")
    resolution: ReturnResolution = strawberry.field(description="Refund, replacement or store credit.")
    idempotency_key: str = strawberry.field(
        description="Client-chosen key (≤ 255 chars): the same key and input never start a second return."
    )
    case_id: strawberry.ID | None = strawberry.field(
        default=None, description="The customer's Case to note each milestone on."
    )
    return_location_id: strawberry.ID | None = strawberry.field(
        default=None, description="Location receiving the goods; default: the one that shipped them."
    )
    replacement_location_id: strawberry.ID | None = strawberry.field(
        default=None, description="REPLACEMENT only: where to reserve stock; default: any location with stock."
    )


@strawberry.type(description="The result of initiateReturn.")
class InitiateReturnPayload:
    """Payload of initiateReturn."""

    return_: Return | None = strawberry.field(
        name="return", description="The return (RMA) once the ERP created it; null on user errors."
    )
    refund: Refund | None = strawberry.field(
        description="REFUND / STORE_CREDIT: the refund once its credit memo exists, with its approval state."
    )
    workflow: Workflow | None = strawberry.field(description="The workflow as it stands after a short wait.")
    user_errors: list[UserError] = strawberry.field(description="Why nothing was started, if so.")


async def clean_initiate_return(info: GraphInfo, data: InitiateReturnInput) -> Cleaned:
    """Check order, lines, policy, case, invoice and stock; build the workflow's input."""
    order, missing = await checks.order_by_id(info, data.order_id, "orderId")
    if order is None:
        return None, [missing] if missing else [], {}
    lines, errors = await _check_lines(info, data, order)
    case_id, case_error = await checks.case_for_customer(info, data.case_id, order.customer_number, "caseId")
    errors += [case_error] if case_error else []
    if errors:
        return None, errors, {}
    resolution = Resolution(data.resolution.value)
    payload: dict[str, Any] = {
        "orderNumber": order.number, "customerNumber": order.customer_number, "channel": order.channel,
        "region": order.region,  # exception hotspots (ops view)
        "currencyCode": order.currency_code, "resolution": resolution.value, "lines": lines,
        "caseId": case_id, "requestedBy": _caller(info),
    }
    numbers = [entry["lineNumber"] for entry in lines]
    if data.return_location_id is not None:
        location = checks.decode_location(data.return_location_id)
        if not await checks.location_exists(info, location):
            return None, [error(UserErrorCode.LOCATION_NOT_FOUND, f"No location {location}.", "returnLocationId")], {}
        payload["returnLocationId"] = location
    else:
        payload["returnLocationId"] = await checks.return_location(info, order, numbers)
    if resolution is Resolution.REPLACEMENT:
        extra, failure = await _replacement(info, data, lines)
    else:
        extra, failure = await _credit(info, order, lines)
    if failure is not None:
        return None, [failure], {}
    return {**payload, **extra}, [], {"order": order.number, "case": case_id}


async def _replacement(
    info: GraphInfo, data: InitiateReturnInput, lines: list[dict[str, Any]]
) -> tuple[dict[str, Any], UserError | None]:
    """Where replacement stock will be reserved: the chosen location if it can, else any that can."""
    preferred = None
    if data.replacement_location_id is not None:
        preferred = checks.decode_location(data.replacement_location_id)
        if not await checks.location_exists(info, preferred):
            return {}, error(UserErrorCode.LOCATION_NOT_FOUND, f"No location {preferred}.", "replacementLocationId")
    needs: dict[str, int] = {}
    for entry in lines:
        needs[entry["sku"]] = needs.get(entry["sku"], 0) + int(entry["quantity"])
    chosen = await checks.replacement_location(info, needs, preferred)
    if chosen is None:
        return {}, error(UserErrorCode.INSUFFICIENT_INVENTORY, "No location has enough stock to replace these "
                         "lines.", "replacementLocationId" if preferred else "lines")
    return {"replacementLocationId": chosen}, None


async def _credit(
    info: GraphInfo, order: Order, lines: list[dict[str, Any]]
) -> tuple[dict[str, Any], UserError | None]:
    """The invoice to credit and the credit memo lines, priced as invoiced."""
    invoice, failure = await checks.invoice_for(info, order, [entry["lineNumber"] for entry in lines], "lines")
    if invoice is None:
        return {}, failure or error(UserErrorCode.NOT_INVOICED, "Nothing to credit.", "lines")
    invoiced = {line.line_number: line for line in invoice.lines}
    credit_lines = [
        {"sku": entry["sku"], "description": f"Return: {invoiced[entry['lineNumber']].description}",
         "quantity": entry["quantity"], "unitPrice": str(invoiced[entry["lineNumber"]].unit_price.amount)}
        for entry in lines
    ]
    return {"invoiceNumber": invoice.number, "creditLines": credit_lines}, None


async def _check_lines(
    info: GraphInfo, data: InitiateReturnInput, order: Order
) -> tuple[list[dict[str, Any]], list[UserError]]:
    """Each line: on the order, once, a positive quantity within what the policy lets come back."""
    errors: list[UserError] = []
    if not data.lines:
        errors.append(error(UserErrorCode.INVALID, "Give at least one line.", "lines"))
    context = info.context
    eligibility = await resolve_return_eligibility(context.loaders, order.number, context.today, context.return_policy)
    by_number = {check.line.line_number: check for check in eligibility.lines}
    lines: list[dict[str, Any]] = []
    for i, item in enumerate(data.lines):
        _, line, line_error = await checks.line_by_id(info, item.order_line_id, "lines", i, "orderLineId", order=order)
        if line is None:
            errors.append(line_error or error(UserErrorCode.LINE_NOT_FOUND, "No such line.", "lines", i))
            continue
        if any(seen["lineNumber"] == line.line_number for seen in lines):
            errors.append(error(UserErrorCode.INVALID, "Each line may appear once.", "lines", i, "orderLineId"))
            continue
        check = by_number[line.line_number]
        if item.quantity < 1:
            errors.append(error(UserErrorCode.INVALID, "Quantity must be at least 1.", "lines", i, "quantity"))
        elif not check.eligible:
            code = _REASON_CODES.get(check.reason or "", UserErrorCode.QUANTITY_EXCEEDS_RETURNABLE)
            where = "quantity" if code is UserErrorCode.QUANTITY_EXCEEDS_RETURNABLE else "orderLineId"
            errors.append(error(code, f"Line {line.line_number} cannot be returned ({check.reason}).",
                                "lines", i, where))
        elif item.quantity > check.returnable_quantity:
            errors.append(error(UserErrorCode.QUANTITY_EXCEEDS_RETURNABLE,
                                f"Only {check.returnable_quantity} of line {line.line_number} may be returned.",
                                "lines", i, "quantity"))
        lines.append({"lineNumber": line.line_number, "sku": line.sku, "description": line.description,
                      "quantity": item.quantity, "reason": item.reason.value,
                      "unitPrice": str(line.unit_price.amount)})
    return lines, errors


def _caller(info: GraphInfo) -> str | None:
    who = principal(info)
    return None if who is None else who.sub


async def initiate_return(info: GraphInfo, data: InitiateReturnInput) -> InitiateReturnPayload:
    """Resolver of Mutation.initiateReturn."""
    denied = permitted(info, "initiateReturn")
    if denied:
        return InitiateReturnPayload(return_=None, refund=None, workflow=None, user_errors=[denied])
    record, errors = await hand_off(
        info, kind="initiate_return", operation="initiateReturn", key=data.idempotency_key,
        client_input=plain(data), clean=lambda: clean_initiate_return(info, data),
    )
    if record is None:
        return InitiateReturnPayload(return_=None, refund=None, workflow=None, user_errors=errors)
    rma = record.subjects.get("return")
    found = None if rma is None else await info.context.loaders.return_by_number.load(rma)
    return InitiateReturnPayload(
        return_=None if found is None else Return.from_record(found),
        refund=await refund_of_workflow(info, record.id), workflow=workflow_type(record), user_errors=[],
    )
