"""reserveReplacement: hold stock at a location and raise a zero-priced replacement order."""

from __future__ import annotations

from typing import Any

import strawberry

from graph.context import GraphInfo
from graph.types.inventory import InventoryLevel
from graph.types.orders import Order
from graph.types.workflows import Workflow

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


@strawberry.input(description="Reserve replacement stock for an order line and order it for the customer.")
class ReserveReplacementInput:
    """Input of reserveReplacement."""

    order_line_id: strawberry.ID = strawberry.field(description="The OrderLine being replaced.")
    quantity: int = strawberry.field(description="Units to replace (at most the units ordered).")
    location_id: strawberry.ID = strawberry.field(description="The Location to reserve stock at.")
    idempotency_key: str = strawberry.field(
        description="Client-chosen key (≤ 255 chars): the same key and input never reserve twice."
    )
    case_id: strawberry.ID | None = strawberry.field(
        default=None, description="The customer's Case to note the replacement on."
    )


@strawberry.type(description="The result of reserveReplacement.")
class ReserveReplacementPayload:
    """Payload of reserveReplacement."""

    replacement_order: Order | None = strawberry.field(
        description="The zero-priced replacement order once the ERP created it."
    )
    inventory_level: InventoryLevel | None = strawberry.field(
        description="Stock of the SKU at the location, after the reservation."
    )
    workflow: Workflow | None = strawberry.field(description="The workflow as it stands after a short wait.")
    user_errors: list[UserError] = strawberry.field(description="Why nothing was started, if so.")


async def clean_reserve_replacement(info: GraphInfo, data: ReserveReplacementInput) -> Cleaned:
    """Check the line, quantity, location, live stock and case."""
    order, line, line_error = await checks.line_by_id(info, data.order_line_id, "orderLineId")
    if order is None or line is None:
        return None, [line_error] if line_error else [], {}
    errors: list[UserError] = []
    if data.quantity < 1 or data.quantity > line.quantity:
        errors.append(error(UserErrorCode.INVALID, f"Quantity must be between 1 and {line.quantity}.", "quantity"))
    location = checks.decode_location(data.location_id)
    if not await checks.location_exists(info, location):
        errors.append(error(UserErrorCode.LOCATION_NOT_FOUND, f"No location {location}.", "locationId"))
    case_id, case_error = await checks.case_for_customer(info, data.case_id, order.customer_number, "caseId")
    errors += [case_error] if case_error else []
    if errors:
        return None, errors, {}
    level = next((lv for lv in await checks.stock(info, line.sku) if lv.location_id == location), None)
    available = 0 if level is None else level.available
    if available < data.quantity:
        return None, [error(UserErrorCode.INSUFFICIENT_INVENTORY,
                            f"Only {available} of {line.sku} available at {location}.", "quantity")], {}
    who = principal(info)
    payload: dict[str, Any] = {
        "orderNumber": order.number, "customerNumber": order.customer_number, "channel": order.channel,
        "region": order.region,  # exception hotspots (ops view)
        "lineNumber": line.line_number, "sku": line.sku, "quantity": data.quantity, "locationId": location,
        "caseId": case_id, "requestedBy": None if who is None else who.sub,
    }
    return payload, [], {"order": order.number, "case": case_id}


async def reserve_replacement(info: GraphInfo, data: ReserveReplacementInput) -> ReserveReplacementPayload:
    """Resolver of Mutation.reserveReplacement."""
    denied = permitted(info, "reserveReplacement")
    if denied:
        return ReserveReplacementPayload(replacement_order=None, inventory_level=None, workflow=None,
                                         user_errors=[denied])
    record, errors = await hand_off(
        info, kind="reserve_replacement", operation="reserveReplacement", key=data.idempotency_key,
        client_input=plain(data), clean=lambda: clean_reserve_replacement(info, data),
    )
    if record is None:
        return ReserveReplacementPayload(replacement_order=None, inventory_level=None, workflow=None,
                                         user_errors=errors)
    number = record.subjects.get("replacementOrder")
    order = None if number is None else await info.context.loaders.order_by_number.load(number)
    sku, location = record.input["sku"], record.input["locationId"]
    level = next((lv for lv in await checks.stock(info, sku) if lv.location_id == location), None)
    return ReserveReplacementPayload(
        replacement_order=None if order is None else Order.from_record(order),
        inventory_level=None if level is None else InventoryLevel.from_record(level),
        workflow=workflow_type(record), user_errors=[],
    )
