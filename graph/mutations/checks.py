"""Validation against live data shared by the mutations: orders, lines, cases, stock, invoices.

Each check answers either the thing it looked up or a coded `UserError`; ids that are not
even ids of the right type are BAD_USER_INPUT errors, like everywhere else in the graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from graph.context import GraphInfo
from graph.types.common import decode_global_id
from resolvers import cases as case_resolvers
from resolvers.nodes import InvalidNodeKey, int_key, split_key
from sources.records import (
    CreditMemoStatus,
    InventoryLevel,
    Invoice,
    InvoiceStatus,
    LocationKind,
    Order,
    OrderLine,
)

from .common import UserError, UserErrorCode, error

# Credit memos that still hold part of an invoice's value (a cancelled one gave it back).
_HOLDING = frozenset({CreditMemoStatus.DRAFT, CreditMemoStatus.POSTED, CreditMemoStatus.PAID})


async def order_by_id(info: GraphInfo, order_id: str, *path: str | int) -> tuple[Order | None, UserError | None]:
    """The order an `Order` id names, or ORDER_NOT_FOUND."""
    number = decode_global_id(order_id, "Order")[1]
    order = await info.context.loaders.order_by_number.load(number)
    if order is None:
        return None, error(UserErrorCode.ORDER_NOT_FOUND, f"Order {number} does not exist.", *path)
    return order, None


async def line_by_id(
    info: GraphInfo, line_id: str, *path: str | int, order: Order | None = None
) -> tuple[Order | None, OrderLine | None, UserError | None]:
    """The order line an `OrderLine` id names (on `order` when given), or LINE_NOT_FOUND."""
    key = decode_global_id(line_id, "OrderLine")[1]
    missing = error(UserErrorCode.LINE_NOT_FOUND, f"Order line {key} does not exist.", *path)
    try:
        order_number, line_text = split_key("OrderLine", key)
        line_number = int_key("OrderLine", line_text)
    except InvalidNodeKey:
        return None, None, missing
    if order is not None and order_number != order.number:
        return order, None, error(UserErrorCode.LINE_NOT_FOUND,
                                  f"Order line {key} is not on order {order.number}.", *path)
    found = order or await info.context.loaders.order_by_number.load(order_number)
    if found is None:
        return None, None, missing
    line = next((item for item in found.lines if item.line_number == line_number), None)
    return found, line, None if line is not None else missing


async def case_for_customer(
    info: GraphInfo, case_id: str | None, customer_number: str, *path: str | int
) -> tuple[int | None, UserError | None]:
    """The ticket id of a case of this customer; CASE_NOT_FOUND for unknown or foreign cases."""
    if case_id is None:
        return None, None
    key = decode_global_id(case_id, "Case")[1]
    loaders = info.context.loaders
    case = await loaders.case_by_id.load(int(key)) if key.isdigit() else None
    owner = None if case is None else await case_resolvers.resolve_case_customer_number(loaders, case)
    if case is None or owner != customer_number:
        # A foreign case is reported exactly like a missing one: ids must not leak other customers.
        return None, error(UserErrorCode.CASE_NOT_FOUND, f"Case {key} does not exist for this customer.", *path)
    return case.id, None


async def stock(info: GraphInfo, sku: str) -> list[InventoryLevel]:
    """Live WMS stock of a SKU at every location (no request loader, the short cache dropped)."""
    wms = info.context.sources.wms
    wms.invalidate("inventory", [sku])
    return list((await wms.inventory_levels([sku])).get(sku, []))


def decode_location(location_id: str) -> str:
    """The WMS location id inside a `Location` global id."""
    return decode_global_id(location_id, "Location")[1]


async def location_exists(info: GraphInfo, location_id: str) -> bool:
    """Whether the WMS knows a location id."""
    return await info.context.loaders.location_by_id.load(location_id) is not None


async def replacement_location(info: GraphInfo, needs: dict[str, int], preferred: str | None) -> str | None:
    """A location able to supply every SKU in `needs`: `preferred` if it can, else a warehouse, else a store."""
    levels = {sku: {lv.location_id: lv.available for lv in await stock(info, sku)} for sku in needs}

    def can_supply(location_id: str) -> bool:
        return all(levels[sku].get(location_id, 0) >= qty for sku, qty in needs.items())

    if preferred is not None:
        return preferred if can_supply(preferred) else None
    locations = await info.context.sources.wms.locations()
    ordered = sorted(locations, key=lambda loc: (loc.kind is not LocationKind.WAREHOUSE, loc.id))
    return next((loc.id for loc in ordered if can_supply(loc.id)), None)


async def return_location(info: GraphInfo, order: Order, line_numbers: Sequence[int]) -> str:
    """Where goods come back: the location that shipped them, else the first warehouse."""
    shipments = await info.context.loaders.shipments_by_order_number.load(order.number)
    for shipment in shipments:
        if shipment.location_id and any(l.order_line_number in line_numbers for l in shipment.lines):
            return shipment.location_id
    locations = await info.context.sources.wms.locations()
    warehouses = sorted(loc.id for loc in locations if loc.kind is LocationKind.WAREHOUSE)
    return warehouses[0] if warehouses else min(loc.id for loc in locations)


async def invoice_for(
    info: GraphInfo, order: Order, line_numbers: Sequence[int], *path: str | int
) -> tuple[Invoice | None, UserError | None]:
    """The one live invoice carrying these lines (all of the order's lines when none given)."""
    invoices = [
        inv for inv in await info.context.loaders.invoices_by_order_number.load(order.number)
        if inv.status is not InvoiceStatus.CANCELLED
    ]
    if line_numbers:
        invoices = [inv for inv in invoices if any(l.line_number in line_numbers for l in inv.lines)]
    if not invoices:
        return None, error(UserErrorCode.NOT_INVOICED, f"Order {order.number} has no invoice to credit.", *path)
    if len(invoices) > 1 and line_numbers:
        return None, error(UserErrorCode.NOT_INVOICED,
                           "These lines are on different invoices; return them separately.", *path)
    return invoices[0], None


async def refundable(info: GraphInfo, invoice: Invoice) -> Decimal:
    """What may still be credited on an invoice: its total less credit memos holding value."""
    memos = await info.context.loaders.credit_memos_by_invoice_number.load(invoice.number)
    held = sum((m.total.amount for m in memos if m.status in _HOLDING), Decimal(0))
    return max(Decimal(0), invoice.total.amount - held)
