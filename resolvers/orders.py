"""Order resolvers: orders, their lines' quantities and the statuses derived across systems."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from sources import policy, statuses
from sources.records import (
    CreditMemo,
    FinancialStatus,
    FulfillmentStatus,
    Order,
    OrderLine,
    OrderStatus,
)

from .loaders import Loaders
from .prefetch import now_or_later, now_or_later_all

RECENT_SCAN_CHUNK = 100
RECENT_SCAN_LIMIT = 1000


@dataclass(frozen=True, slots=True)
class LineQuantities:
    """What happened to one order line so far, from WMS shipments and ERP returns."""

    shipped: int
    returned: int
    in_open_returns: int
    returnable: int


async def resolve_order(loaders: Loaders, number: str) -> Order | None:
    """An order (live or archived) by number; None when unknown."""
    return await loaders.order_by_number.load(number.strip())


async def resolve_customer_orders(
    loaders: Loaders, customer_number: str, status: OrderStatus | None = None
) -> list[Order]:
    """Every order of a customer, newest first, optionally of one status."""
    orders = await loaders.orders_by_customer_number.load(customer_number)
    return [o for o in orders if status is None or o.status is status]


async def resolve_recent_orders(
    loaders: Loaders, offset: int, count: int, status: OrderStatus | None = None
) -> tuple[list[tuple[int, Order]], bool]:
    """Up to `count` company-wide open orders from `offset` on, newest first, each with its
    position in the full list, and whether more follow. A status filter scans ahead in chunks
    (at most RECENT_SCAN_LIMIT orders per call)."""
    if status is None:
        window = await loaders.recent_orders.load((count + 1, offset))
        return list(enumerate(window[:count], start=offset)), len(window) > count
    matches: list[tuple[int, Order]] = []
    position = offset
    while len(matches) <= count and position - offset < RECENT_SCAN_LIMIT:
        chunk = await loaders.recent_orders.load((RECENT_SCAN_CHUNK, position))
        matches += [(position + i, o) for i, o in enumerate(chunk) if o.status is status]
        position += len(chunk)
        if len(chunk) < RECENT_SCAN_CHUNK:
            return matches[:count], len(matches) > count
    return matches[:count], True


async def resolve_order_line(
    loaders: Loaders, order_number: str, line_number: int
) -> tuple[Order, OrderLine] | None:
    """One order line with its order; None when either is unknown."""
    order = await loaders.order_by_number.load(order_number)
    if order is None:
        return None
    line = next((ln for ln in order.lines if ln.line_number == line_number), None)
    return None if line is None else (order, line)


def resolve_fulfillment_status(loaders: Loaders, order: Order) -> FulfillmentStatus:
    """Shipping state from ERP shipped quantities and WMS shipments (now or later)."""
    return now_or_later(
        loaders.shipments_by_order_number.load(order.number),
        lambda shipments: statuses.fulfillment_status(order, shipments),
    )


async def order_credit_memos(loaders: Loaders, order: Order) -> list[CreditMemo]:
    """Every credit memo raised against the order's invoices."""
    invoices = await loaders.invoices_by_order_number.load(order.number)
    memos = await asyncio.gather(
        *(loaders.credit_memos_by_invoice_number.load(i.number) for i in invoices)
    )
    return [memo for batch in memos for memo in batch]


def resolve_financial_status(loaders: Loaders, order: Order) -> FinancialStatus:
    """Money state from the order's invoices (remaining amounts) and posted credit memos,
    now when both are loaded (resolvers/prefetch.py), else later."""
    invoices = loaders.invoices_by_order_number.load(order.number)
    if invoices.done() and not invoices.cancelled() and invoices.exception() is None:
        found = invoices.result()
        return now_or_later_all(
            [loaders.credit_memos_by_invoice_number.load(i.number) for i in found],
            lambda memos: statuses.financial_status(order, found, [m for ms in memos for m in ms]),
        )
    return _financial_status_later(loaders, order)  # type: ignore[return-value]


async def _financial_status_later(loaders: Loaders, order: Order) -> FinancialStatus:
    invoices = await loaders.invoices_by_order_number.load(order.number)
    return statuses.financial_status(order, invoices, await order_credit_memos(loaders, order))


def resolve_line_quantities(loaders: Loaders, order: Order, line: OrderLine) -> LineQuantities:
    """Shipped, returned, held by open returns and still returnable for one line (now or
    later: see resolvers/prefetch.py)."""

    def quantities(found: list[Any]) -> LineQuantities:
        shipments, returns = found
        shipped = policy.shipped_quantity(line, shipments)
        returned = policy.returned_quantity(line, returns)
        in_open_returns = policy.open_return_quantity(line, returns)
        return LineQuantities(
            shipped=shipped,
            returned=returned,
            in_open_returns=in_open_returns,
            returnable=policy.returnable_from(shipped, returned, in_open_returns),
        )

    return now_or_later_all(
        [
            loaders.shipments_by_order_number.load(order.number),
            loaders.returns_by_order_number.load(order.number),
        ],
        quantities,
    )
