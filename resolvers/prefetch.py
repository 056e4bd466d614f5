"""Lookahead: start the reads a field's children will need while the field itself loads.

GraphQL resolves level by level: a customer's orders are asked for only once the customer
has arrived, their products once the orders have. When a child's key is already known at the
parent (the customer number from the query's argument, a line's SKU), waiting costs a whole
upstream round trip for nothing. These functions start such loads early, through the same
per-request DataLoaders, without waiting for them: the child's own `load` of the same key
later joins the load in flight (aiodataloader caches the future), and reads that start
together ride in one ERP `$batch` (sources/erp_coalesce.py). The customer-360 thus needs two
dependency levels instead of four: what is keyed by the customer number, then what is keyed
by the order numbers, SKUs and the service platform's user id.

A prefetch never fails anything: its errors surface, once, where a child awaits the same key.
Off with batching (no loader cache to join) and with `RETAILGRAPH_PREFETCH=false`.

The same idea saves CPU one level down. `preload_orders` starts, at the list's parent,
everything the selected children of a page of orders need (shipments, returns, invoices and
their credit memos, products and their stock); the children answer through `now_or_later`,
which returns a value synchronously when its load has already finished and an awaitable only
when it has not. A synchronous answer skips a coroutine, a task and a future per field; the
customer-360 has a few hundred such fields. When some of those loads must go upstream, the
preload does not hold the orders back for them: it lets the reads leave first, then the
orders and everything they hold already are completed while those reads are in flight, and
only the fields that wait for them are left for when they answer.

Latency is decided by when the second level leaves. The lookahead listens for the customer's
orders at the source (`RequestScope.on_decoded`), so their children's reads start the moment
the orders are decoded, and it dispatches those loaders' batches at once: they go out ahead
of the GraphQL work that the first level's answers set off, not behind it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection, Hashable, Sequence
from dataclasses import dataclass
from types import CoroutineType
from typing import Any, TypeVar, cast

from aiodataloader import DataLoader

from sources.deadline import current_scope
from sources.erp_coalesce import DEFAULT_TURNS
from sources.records import Order

from .loaders import Loaders

V = TypeVar("V")
R = TypeVar("R")

# Event-loop turns a read started now needs to leave: its loader's dispatch, the batch task,
# the source's single-flight task, and an ERP read's coalescing window.
LEAVE_TURNS = DEFAULT_TURNS + 4


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark the outcome seen: the child that awaits the same key reports any error."""
    if not future.cancelled():
        future.exception()


def start(loaders: Loaders, loader: DataLoader[Any, Any], key: Hashable) -> None:
    """Begin loading `key` now; a later `load(key)` in this request joins it."""
    if not loaders.prefetch:
        return
    _watch(loader.load(key))


def _answered(load: Awaitable[Any]) -> bool:
    """True, with its outcome seen, when a load is answered already (a fresh cache hit)."""
    if isinstance(load, asyncio.Future) and load.done():
        _retrieve(load)
        return True
    return False


def _watch(load: Awaitable[Any]) -> None:
    """Let a started load run on; its outcome is seen at once when it is already known, else
    when it finishes."""
    if not _answered(load):
        asyncio.ensure_future(load).add_done_callback(_retrieve)


def prefetch_customer(loaders: Loaders, number: str, selected: Collection[str]) -> None:
    """Start the customer-keyed reads of the selected child fields, beside the customer's own.

    Orders bring their invoices (one read), and the customer's returns with their credit
    memos, which the orders' return quantities and refunds need next. Cases read the service
    platform's profile and then the tickets; loyalty shares that profile read.
    """
    if "orders" in selected:
        start(loaders, loaders.orders_by_customer_number, number)
    elif "invoices" in selected:
        start(loaders, loaders.invoices_by_customer_number, number)
    if "orders" in selected or "returns" in selected:
        start(loaders, loaders.returns_by_customer_number, number)
    if "loyalty" in selected:
        start(loaders, loaders.profile_by_customer_number, number)
    if "cases" in selected:
        start(loaders, loaders.cases_by_customer_number, number)


def prefetch_stock(loaders: Loaders, sku: str, selected: Collection[str]) -> None:
    """Start the WMS stock read of a SKU while its catalogue item loads from the ERP."""
    if "totalAvailable" in selected or "inventory" in selected:
        start(loaders, loaders.inventory_levels_by_sku, sku.strip())


def _finished(future: asyncio.Future[Any]) -> bool:
    return future.done() and not future.cancelled() and future.exception() is None


def now_or_later(future: asyncio.Future[V], then: Callable[[V], R]) -> R:
    """`then(value)` at once when the load has finished, else an awaitable of it.

    For resolvers: graphql-core awaits an awaitable a resolver returns, so a field declared
    synchronous may hand back either; the cast keeps the declared GraphQL type.
    """
    if _finished(future):
        return then(future.result())

    async def later() -> R:
        return then(await future)

    return cast(R, later())


def now_or_later_all(futures: Sequence[asyncio.Future[Any]], then: Callable[[list[Any]], R]) -> R:
    """`now_or_later` over several loads: `then` gets their values in order."""
    if all(_finished(future) for future in futures):
        return then([future.result() for future in futures])

    async def later() -> R:
        return then(list(await asyncio.gather(*futures)))

    return cast(R, later())


def and_then(found: V, then: Callable[[V], R]) -> R:
    """`then` applied to a now-or-later value: at once, or after awaiting it."""
    if isinstance(found, CoroutineType):  # what now_or_later hands out when not ready
        awaitable: Awaitable[V] = found

        async def later() -> R:
            return then(await awaitable)

        return cast(R, later())
    return then(found)


@dataclass(frozen=True, slots=True)
class OrderWants:
    """What the selected children of a list of orders will read."""

    shipments: bool = False
    returns: bool = False
    quantities: bool = False  # the lines' shipped/returned quantities (shipments and returns)
    invoices: bool = False
    credit_memos: bool = False
    products: bool = False
    stock: bool = False


def _order_loads(loaders: Loaders, orders: Sequence[Order], wants: OrderWants) -> list[Awaitable[Any]]:
    """Start, through the request's loaders, every read the orders' wanted children make."""
    numbers = [order.number for order in orders]
    skus = list(dict.fromkeys(line.sku for order in orders for line in order.lines))
    loads: list[Awaitable[Any]] = []
    if wants.shipments:
        loads += [loaders.shipments_by_order_number.load(number) for number in numbers]
    if wants.returns:
        loads += [loaders.returns_by_order_number.load(number) for number in numbers]
    loads += _sku_loads(loaders, skus, wants)
    if wants.invoices or wants.credit_memos:
        loads += _invoices(loaders, numbers, wants.credit_memos)
    return loads


def _sku_loads(loaders: Loaders, skus: Sequence[str], wants: OrderWants) -> list[asyncio.Future[Any]]:
    """The products and stock of these SKUs, as far as the lines' selection reads them."""
    loads = []
    if wants.products:
        loads += [loaders.product_by_sku.load(sku) for sku in skus]
    if wants.stock:
        loads += [loaders.inventory_levels_by_sku.load(sku) for sku in skus]
    return loads


def _line_loads(loaders: Loaders, order: Order, wants: OrderWants) -> list[asyncio.Future[Any]]:
    """The loads an order's selected lines read (loads started already: the loader's memo)."""
    loads = []
    if wants.quantities:
        loads += [loaders.shipments_by_order_number.load(order.number),
                  loaders.returns_by_order_number.load(order.number)]
    return loads + _sku_loads(loaders, list(dict.fromkeys(line.sku for line in order.lines)), wants)


async def preload_orders(
    loaders: Loaders, orders: Sequence[Order], wants: OrderWants
) -> dict[str, asyncio.Future[Any]]:
    """Start, together, what the orders' children will ask for; failures stay in the loaders.
    A warm page (every load a fresh cache hit) returns at once. Else the reads are let leave
    before the orders are completed, and the children that need them await them. Answers,
    by order number, a future of when everything the order's lines read has arrived (only
    for orders still waiting for some of it): the lines wait for it as one, and then every
    field of theirs answers at once instead of awaiting its own load."""
    if not loaders.prefetch or not orders:
        return {}
    pending = [load for load in _order_loads(loaders, orders, wants) if not _answered(load)]
    if not pending:
        return {}
    for load in pending:
        _watch(load)
    for _ in range(LEAVE_TURNS):
        await asyncio.sleep(0)
    lines_ready: dict[str, asyncio.Future[Any]] = {}
    for order in orders:
        waiting = [load for load in _line_loads(loaders, order, wants) if not load.done()]
        if waiting:
            lines_ready[order.number] = asyncio.gather(*waiting, return_exceptions=True)
    return lines_ready


def prefetch_orders(
    loaders: Loaders,
    customer_number: str,
    pick: Callable[[list[Order]], Sequence[Order]],
    wants: OrderWants,
) -> None:
    """Lookahead one level further: the moment a customer's orders arrive, start what the
    orders `pick` chooses (the page a query shows) will need, before GraphQL has walked down
    to them. The orders' own resolver later joins these loads (`preload_orders`)."""
    if not loaders.prefetch:
        return

    started = False

    def start_children(orders: Sequence[Order]) -> None:
        nonlocal started
        if started:
            return
        started = True
        for load in _order_loads(loaders, pick(list(orders)), wants):
            _watch(load)

    def arrived(future: asyncio.Future[list[Order]]) -> None:
        if _finished(future):  # else the orders' resolver reports the failure
            start_children(future.result())

    # The orders decoded from upstream in this operation (the first to come; the batches of
    # every customer decoded together leave at once), else the loader's answer (a cache hit,
    # another request's read in flight, a shared cache).
    scope = current_scope()
    if scope is not None:
        scope.on_decoded(
            "erp", "orders_by_customer", customer_number, start_children, then=loaders.dispatch_now
        )
    loaders.orders_by_customer_number.load(customer_number).add_done_callback(arrived)


def _invoices(loaders: Loaders, numbers: Sequence[str], memos: bool) -> list[Awaitable[Any]]:
    """The orders' invoices, then (if wanted) every credit memo raised against them: started
    at once when the invoices are known already, else after them."""
    invoices = [loaders.invoices_by_order_number.load(number) for number in numbers]
    if not memos:
        return invoices
    if all(future.done() for future in invoices):
        return [*invoices, *_credit_memos(loaders, invoices)]
    return [*invoices, _credit_memos_later(loaders, invoices)]


def _credit_memos(loaders: Loaders, invoices: Sequence[asyncio.Future[Any]]) -> list[Awaitable[Any]]:
    """The credit memo loads of the invoices found (a failed invoice read has none)."""
    numbers = [invoice.number for future in invoices if _finished(future) for invoice in future.result()]
    return [loaders.credit_memos_by_invoice_number.load(number) for number in numbers]


async def _credit_memos_later(loaders: Loaders, invoices: Sequence[asyncio.Future[Any]]) -> None:
    await asyncio.gather(*invoices, return_exceptions=True)
    await asyncio.gather(*_credit_memos(loaders, invoices), return_exceptions=True)
