"""requestRefund: a goodwill refund against an order's invoice, without a return."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import strawberry

from graph.context import GraphInfo
from graph.types.returns import Refund
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
from .refunds import refund_of_workflow

CENT = Decimal("0.01")
MAX_REASON = 1000


@strawberry.input(description="Refund money against an order's invoice without a return (goodwill).")
class RequestRefundInput:
    """Input of requestRefund."""

    order_id: strawberry.ID = strawberry.field(description="The Order's global id.")
    amount: str = strawberry.field(
        description='Amount to refund as a decimal string in the order\'s currency, e.g. "25.00".'
    )
    reason: str = strawberry.field(description="Why; written to the credit memo and the case.")
    idempotency_key: str = strawberry.field(
        description="Client-chosen key (≤ 255 chars): the same key and input never refund twice."
    )
    case_id: strawberry.ID | None = strawberry.field(
        default=None, description="The customer's Case to note the refund on."
    )


@strawberry.type(description="The result of requestRefund.")
class RequestRefundPayload:
    """Payload of requestRefund."""

    refund: Refund | None = strawberry.field(
        description="The refund once its credit memo exists; PENDING_APPROVAL above the threshold."
    )
    workflow: Workflow | None = strawberry.field(description="The workflow as it stands after a short wait.")
    user_errors: list[UserError] = strawberry.field(description="Why nothing was started, if so.")


def parse_amount(text: str) -> Decimal | None:
    """A positive amount with at most two decimals, else None."""
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        return None
    if not value.is_finite() or value <= 0 or value != value.quantize(CENT):
        return None
    return value.quantize(CENT)


async def clean_request_refund(info: GraphInfo, data: RequestRefundInput) -> Cleaned:
    """Check order, amount, reason, case and what the invoice can still credit."""
    order, missing = await checks.order_by_id(info, data.order_id, "orderId")
    if order is None:
        return None, [missing] if missing else [], {}
    errors: list[UserError] = []
    amount = parse_amount(data.amount)
    if amount is None:
        errors.append(error(UserErrorCode.INVALID, "Amount must be a positive decimal with at most two places.",
                            "amount"))
    reason = data.reason.strip()
    if not reason or len(reason) > MAX_REASON:
        errors.append(error(UserErrorCode.INVALID, f"Give a reason of 1 to {MAX_REASON} characters.", "reason"))
    case_id, case_error = await checks.case_for_customer(info, data.case_id, order.customer_number, "caseId")
    errors += [case_error] if case_error else []
    invoice, invoice_error = await checks.invoice_for(info, order, [], "orderId")
    errors += [invoice_error] if invoice_error else []
    if errors or invoice is None or amount is None:
        return None, errors, {}
    room = await checks.refundable(info, invoice)
    if amount > room:
        return None, [error(UserErrorCode.AMOUNT_EXCEEDS_REFUNDABLE,
                            f"At most {room} {invoice.total.currency_code} can still be credited on "
                            f"invoice {invoice.number}.", "amount")], {}
    who = principal(info)
    payload: dict[str, Any] = {
        "orderNumber": order.number, "customerNumber": order.customer_number,
        "channel": order.channel, "region": order.region,  # exception hotspots (ops view)
        "invoiceNumber": invoice.number, "currencyCode": invoice.total.currency_code,
        "amount": str(amount), "reason": reason, "caseId": case_id,
        "requestedBy": None if who is None else who.sub,
        # Goodwill is outside the scope of VAT: one untaxed line for exactly the amount.
        "creditLines": [{"sku": "GOODWILL", "description": f"Goodwill refund: {reason}"[:100],
                         "quantity": 1, "unitPrice": str(amount), "taxPercent": "0"}],
    }
    return payload, [], {"order": order.number, "case": case_id}


async def request_refund(info: GraphInfo, data: RequestRefundInput) -> RequestRefundPayload:
    """Resolver of Mutation.requestRefund."""
    denied = permitted(info, "requestRefund")
    if denied:
        return RequestRefundPayload(refund=None, workflow=None, user_errors=[denied])
    record, errors = await hand_off(
        info, kind="request_refund", operation="requestRefund", key=data.idempotency_key,
        client_input=plain(data), clean=lambda: clean_request_refund(info, data),
    )
    if record is None:
        return RequestRefundPayload(refund=None, workflow=None, user_errors=errors)
    return RequestRefundPayload(
        refund=await refund_of_workflow(info, record.id), workflow=workflow_type(record), user_errors=[]
    )
