"""Upstream statuses → canonical statuses, as pure functions of line-level facts.

Header flags lie about partial states (Business Central keeps `fullyShipped` false and an
invoice "Open" while half of it is paid), so partial states are derived from quantities
and amounts. Unknown upstream values raise ValueError; the clients report that as a
malformed upstream record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from enum import Enum
from typing import TypeVar

from .records import (
    CasePriority,
    CaseStatus,
    CreditMemo,
    CreditMemoStatus,
    FinancialStatus,
    FulfillmentStatus,
    Invoice,
    InvoiceStatus,
    Order,
    OrderLine,
    OrderStatus,
    RefundStatus,
    ReturnResolution,
    ReturnStatus,
    Shipment,
    ShipmentStatus,
)

ZERO = Decimal("0")
E = TypeVar("E", bound=Enum)

_ORDER = {
    "Draft": OrderStatus.DRAFT,
    "In Review": OrderStatus.PENDING_APPROVAL,
    "Open": OrderStatus.OPEN,
}
_INVOICE = {
    "Draft": InvoiceStatus.DRAFT,
    "In Review": InvoiceStatus.DRAFT,
    "Open": InvoiceStatus.OPEN,
    "Paid": InvoiceStatus.PAID,
    "Canceled": InvoiceStatus.CANCELLED,
    "Corrective": InvoiceStatus.CORRECTIVE,
}
_CREDIT_MEMO = {
    "Draft": CreditMemoStatus.DRAFT,
    "In Review": CreditMemoStatus.DRAFT,
    "Open": CreditMemoStatus.POSTED,
    "Paid": CreditMemoStatus.PAID,
    "Canceled": CreditMemoStatus.CANCELLED,
}
_RETURN = {
    "Draft": ReturnStatus.REQUESTED,
    "Released": ReturnStatus.AUTHORIZED,
    "Received": ReturnStatus.RECEIVED,
    "Closed": ReturnStatus.COMPLETED,
    "Rejected": ReturnStatus.DECLINED,
    "Canceled": ReturnStatus.CANCELLED,
}
_RESOLUTION = {
    "Refund": ReturnResolution.REFUND,
    "Replacement": ReturnResolution.REPLACEMENT,
    "StoreCredit": ReturnResolution.STORE_CREDIT,
}
_SHIPMENT = {
    "pending": ShipmentStatus.PENDING,
    "picking": ShipmentStatus.IN_PROGRESS,
    "on_hold": ShipmentStatus.ON_HOLD,
    "shipped": ShipmentStatus.SHIPPED,
    "in_transit": ShipmentStatus.IN_TRANSIT,
    "delivered": ShipmentStatus.DELIVERED,
    "exception": ShipmentStatus.EXCEPTION,
    "returned_to_sender": ShipmentStatus.RETURNED,
    "cancelled": ShipmentStatus.CANCELLED,
}
_CASE = {
    "new": CaseStatus.NEW,
    "open": CaseStatus.OPEN,
    "pending": CaseStatus.PENDING,
    "hold": CaseStatus.ON_HOLD,
    "solved": CaseStatus.SOLVED,
    "closed": CaseStatus.CLOSED,
}
_PRIORITY = {
    "urgent": CasePriority.URGENT,
    "high": CasePriority.HIGH,
    "normal": CasePriority.NORMAL,
    "low": CasePriority.LOW,
}

# Shipments whose goods have left the building (counted as shipped quantity).
DEPARTED = frozenset(
    {
        ShipmentStatus.SHIPPED,
        ShipmentStatus.IN_TRANSIT,
        ShipmentStatus.DELIVERED,
        ShipmentStatus.EXCEPTION,
    }
)
POSTED_CREDIT = frozenset({CreditMemoStatus.POSTED, CreditMemoStatus.PAID})


def _lookup(table: Mapping[str, E], value: str, what: str) -> E:
    try:
        return table[value]
    except KeyError:
        raise ValueError(f"unknown {what} status {value!r}") from None


def order_status(
    source_status: str, lines: Sequence[OrderLine], archived: bool, cancelled: bool
) -> OrderStatus:
    """An ERP sales order's canonical status; shipped quantities decide partial states."""
    if cancelled:
        return OrderStatus.CANCELLED
    if archived:
        return OrderStatus.COMPLETED
    status = _lookup(_ORDER, source_status, "sales order")
    if status is not OrderStatus.OPEN:
        return status
    counted = [line for line in lines if line.quantity > 0]
    shipped = [min(line.quantity_shipped, line.quantity) for line in counted]
    if counted and all(s >= line.quantity for s, line in zip(shipped, counted)):
        return OrderStatus.FULFILLED
    if any(s > 0 for s in shipped):
        return OrderStatus.PARTIALLY_FULFILLED
    return OrderStatus.OPEN


def shipped_by_line(shipments: Iterable[Shipment]) -> dict[int | str, int]:
    """Quantities that have left the warehouse, by order line number (or SKU if unknown)."""
    shipped: dict[int | str, int] = {}
    for shipment in shipments:
        if shipment.status not in DEPARTED:
            continue
        for line in shipment.lines:
            key: int | str = line.sku if line.order_line_number is None else line.order_line_number
            shipped[key] = shipped.get(key, 0) + line.quantity
    return shipped


def fulfillment_status(order: Order, shipments: Sequence[Shipment]) -> FulfillmentStatus:
    """How much of an order has shipped, from ERP line quantities and WMS shipments."""
    if order.status is OrderStatus.CANCELLED:
        return FulfillmentStatus.CANCELLED
    if order.archived:
        return FulfillmentStatus.FULFILLED
    from_wms = shipped_by_line(shipments)
    counted = [line for line in order.lines if line.quantity > 0]
    shipped = [
        min(
            line.quantity,
            max(line.quantity_shipped, from_wms.get(line.line_number, from_wms.get(line.sku, 0))),
        )
        for line in counted
    ]
    if counted and all(s >= line.quantity for s, line in zip(shipped, counted)):
        return FulfillmentStatus.FULFILLED
    if any(s > 0 for s in shipped):
        return FulfillmentStatus.PARTIALLY_FULFILLED
    live = {s.status for s in shipments}
    if ShipmentStatus.ON_HOLD in live:
        return FulfillmentStatus.ON_HOLD
    if live & {ShipmentStatus.PENDING, ShipmentStatus.IN_PROGRESS}:
        return FulfillmentStatus.IN_PROGRESS
    return FulfillmentStatus.UNFULFILLED


def financial_status(
    order: Order, invoices: Sequence[Invoice], credit_memos: Sequence[CreditMemo]
) -> FinancialStatus:
    """Money state of an order from its invoices' remaining amounts and posted credit memos."""
    relevant = [i for i in invoices if i.status is not InvoiceStatus.DRAFT]
    if relevant and all(i.status is InvoiceStatus.CANCELLED for i in relevant):
        return FinancialStatus.VOIDED
    posted = [i for i in relevant if i.status is not InvoiceStatus.CANCELLED]
    if not posted:
        return FinancialStatus.PENDING
    invoiced = sum((i.total.amount for i in posted), ZERO)
    refunded = sum((c.total.amount for c in credit_memos if c.status in POSTED_CREDIT), ZERO)
    if refunded > ZERO:
        if refunded >= invoiced:
            return FinancialStatus.REFUNDED
        return FinancialStatus.PARTIALLY_REFUNDED
    remaining = sum((max(i.balance.amount, ZERO) for i in posted), ZERO)
    if remaining >= invoiced:
        return FinancialStatus.PENDING
    if remaining > ZERO or invoiced < order.total.amount:
        return FinancialStatus.PARTIALLY_PAID
    return FinancialStatus.PAID


def invoice_status(source_status: str, total: Decimal, remaining: Decimal) -> InvoiceStatus:
    """A sales invoice's canonical status; an "Open" invoice may be partly or fully paid."""
    status = _lookup(_INVOICE, source_status, "sales invoice")
    if status is InvoiceStatus.OPEN:
        if remaining <= ZERO < total:
            return InvoiceStatus.PAID
        if ZERO < remaining < total:
            return InvoiceStatus.PARTIALLY_PAID
    return status


def credit_memo_status(source_status: str) -> CreditMemoStatus:
    """A sales credit memo's canonical status ("Open" means posted)."""
    return _lookup(_CREDIT_MEMO, source_status, "credit memo")


def return_status(source_status: str, credit_memos: Sequence[CreditMemo]) -> ReturnStatus:
    """A return order's canonical status; a posted credit memo settles it as COMPLETED."""
    status = _lookup(_RETURN, source_status, "return order")
    if status in (ReturnStatus.CANCELLED, ReturnStatus.DECLINED):
        return status
    if any(c.status in POSTED_CREDIT for c in credit_memos):
        return ReturnStatus.COMPLETED
    return status


def return_resolution(source_value: str) -> ReturnResolution:
    """A return order's `returnResolution` as the canonical enum."""
    return _lookup(_RESOLUTION, source_value, "return resolution")


def refund_status_from_credit_memo(cm: CreditMemo) -> RefundStatus:
    """A refund's status as its credit memo shows it (approval itself lives in workflows)."""
    if cm.status in POSTED_CREDIT:
        return RefundStatus.POSTED
    if cm.status is CreditMemoStatus.CANCELLED:
        return RefundStatus.REJECTED
    return RefundStatus.APPROVED


def shipment_status(source_status: str) -> ShipmentStatus:
    """A WMS shipment's canonical status."""
    return _lookup(_SHIPMENT, source_status, "shipment")


def case_status(source_status: str) -> CaseStatus:
    """A Zendesk ticket's canonical status."""
    return _lookup(_CASE, source_status, "ticket")


def case_priority(source_priority: str | None) -> CasePriority | None:
    """A Zendesk ticket's priority (None when unset)."""
    if source_priority is None:
        return None
    return _lookup(_PRIORITY, source_priority, "ticket priority")
