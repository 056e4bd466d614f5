"""The return policy: what may come back, how much of it, and when a refund needs approval.

Pure functions over canonical records, so the graph (eligibility queries), the mutations
(validation) and the orchestrator (re-checks inside workflows) give the same answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from .records import Order, OrderLine, Return, ReturnStatus, Shipment, ShipmentStatus
from .statuses import shipped_by_line

NOT_DELIVERED = "NOT_DELIVERED"
RETURN_WINDOW_EXPIRED = "RETURN_WINDOW_EXPIRED"
NOTHING_RETURNABLE = "NOTHING_RETURNABLE"

# Returns that no longer hold quantity: the goods stay with the customer.
_RELEASED = frozenset({ReturnStatus.CANCELLED, ReturnStatus.DECLINED})
_OPEN = frozenset({ReturnStatus.REQUESTED, ReturnStatus.AUTHORIZED})
_SETTLED = frozenset(ReturnStatus) - _RELEASED - _OPEN  # received or completed


@dataclass(frozen=True, slots=True)
class ReturnPolicy:
    """Configurable return rules: the window after delivery and the approval threshold."""

    window_days: int = 30
    approval_threshold: Decimal = Decimal("500.00")


def _ships_line(shipment: Shipment, line: OrderLine) -> int:
    """Quantity of `line` in `shipment`, matched by line number, else by SKU."""
    total = 0
    for item in shipment.lines:
        if item.order_line_number is not None:
            if item.order_line_number == line.line_number:
                total += item.quantity
        elif item.sku == line.sku:
            total += item.quantity
    return total


def _returned(
    line: OrderLine, returns: Sequence[Return], statuses: frozenset[ReturnStatus]
) -> int:
    """Quantity of `line` on returns of the given statuses."""
    total = 0
    for rma in returns:
        if rma.order_number != line.order_number or rma.status not in statuses:
            continue
        for item in rma.lines:
            if item.order_line_number is not None:
                if item.order_line_number == line.line_number:
                    total += item.quantity
            elif item.sku == line.sku:
                total += item.quantity
    return total


def shipped_quantity(line: OrderLine, shipments: Sequence[Shipment]) -> int:
    """What left the warehouse for a line: the WMS's word if it knows the order, else the ERP's."""
    mine = [s for s in shipments if s.order_number == line.order_number]
    if not mine:
        return min(line.quantity, line.quantity_shipped)
    by_line = shipped_by_line(mine)
    shipped = by_line.get(line.line_number, 0) + by_line.get(line.sku, 0)
    return min(line.quantity, shipped)


def returned_quantity(line: OrderLine, returns: Sequence[Return]) -> int:
    """Quantity already back or settled (received or completed returns)."""
    return _returned(line, returns, _SETTLED)


def open_return_quantity(line: OrderLine, returns: Sequence[Return]) -> int:
    """Quantity on returns that are requested or authorized but not yet received."""
    return _returned(line, returns, _OPEN)


def returnable_quantity(
    line: OrderLine, shipments: Sequence[Shipment], returns: Sequence[Return]
) -> int:
    """Shipped − returned − in open returns, never below zero."""
    return returnable_from(
        shipped_quantity(line, shipments),
        returned_quantity(line, returns),
        open_return_quantity(line, returns),
    )


def returnable_from(shipped: int, returned: int, in_open_returns: int) -> int:
    """`returnable_quantity` from a line's quantities already computed."""
    return max(0, shipped - returned - in_open_returns)


def delivered_on(line: OrderLine, shipments: Sequence[Shipment]) -> tuple[int, date | None]:
    """Delivered quantity of a line and the latest delivery date among its shipments."""
    quantity = 0
    latest: date | None = None
    for shipment in shipments:
        if shipment.status is not ShipmentStatus.DELIVERED:
            continue
        if shipment.order_number != line.order_number:
            continue
        shipped = _ships_line(shipment, line)
        if shipped <= 0:
            continue
        quantity += shipped
        when = _as_date(shipment.delivered_at or shipment.shipped_at)
        if when is not None and (latest is None or when > latest):
            latest = when
    return min(quantity, line.quantity), latest


def line_eligibility(
    order: Order,
    line: OrderLine,
    shipments: Sequence[Shipment],
    returns: Sequence[Return],
    today: date,
    policy: ReturnPolicy,
) -> tuple[bool, int, str | None]:
    """(eligible, returnable now, reason code) for one order line under `policy`.

    Only delivered quantity within `policy.window_days` of its delivery may come back; an
    ineligible line reports 0 returnable with the first reason that applies.
    """
    if order.number != line.order_number:
        raise ValueError(f"line {line.line_number} is on {line.order_number}, not {order.number}")
    delivered, delivered_at = delivered_on(line, shipments)
    if delivered <= 0:
        return False, 0, NOT_DELIVERED
    if delivered_at is not None and (today - delivered_at).days > policy.window_days:
        return False, 0, RETURN_WINDOW_EXPIRED
    held = returned_quantity(line, returns) + open_return_quantity(line, returns)
    returnable = min(returnable_quantity(line, shipments, returns), max(0, delivered - held))
    if returnable <= 0:
        return False, 0, NOTHING_RETURNABLE
    return True, returnable, None


def refund_needs_approval(amount: Decimal, policy: ReturnPolicy) -> bool:
    """Whether a refund of `amount` must wait for a supervisor (strictly over the threshold)."""
    return amount > policy.approval_threshold


def _as_date(value: datetime | date | None) -> date | None:
    if value is None:
        return None
    return value.date() if isinstance(value, datetime) else value
