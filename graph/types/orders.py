"""Order and OrderLine: the ERP's sales order with WMS fulfilment and ERP money state."""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from datetime import date
from operator import attrgetter
from typing import TYPE_CHECKING, Annotated, Self

import strawberry
from strawberry import relay

from graph.context import GraphInfo
from graph.types import cases as case_types
from graph.types import customers as customer_types
from graph.types import inventory as inventory_types
from graph.types import invoices as invoice_types
from graph.types import returns as return_types
from graph.types import shipments as shipment_types
from graph.permissions import readable_fields
from graph.types.common import (
    DEFAULT_PAGE_SIZE,
    Connection,
    Money,
    PageRequest,
    Selection,
    child_fields,
    connection_nodes,
    selected_names,
)
from graph.errors import BadUserInput
from graph.types.enums import FinancialStatus, FulfillmentStatus, OrderStatus
from resolvers import cases as case_resolvers
from resolvers import customers as customer_resolvers
from resolvers import inventory as inventory_resolvers
from resolvers import invoices as invoice_resolvers
from resolvers import orders as order_resolvers
from resolvers import returns as return_resolvers
from resolvers import shipments as shipment_resolvers
from resolvers.prefetch import OrderWants, and_then, prefetch_orders, prefetch_stock, preload_orders
from sources import records

if TYPE_CHECKING:
    from graph.types.cases import Case
    from graph.types.customers import Customer
    from graph.types.inventory import Product
    from graph.types.invoices import Invoice
    from graph.types.returns import Return
    from graph.types.shipments import Shipment

__all__ = [
    "FinancialStatus",
    "FulfillmentStatus",
    "Order",
    "OrderConnection",
    "OrderLine",
    "OrderStatus",
]

# Where `preload` leaves an order's future of its lines' reads in flight (`Order.lines`): an
# instance attribute, not a dataclass field, so strawberry never sees it.
_LINES_READY = "_lines_ready"

CustomerRef = Annotated["Customer", strawberry.lazy("graph.types.customers")]
ProductRef = Annotated["Product", strawberry.lazy("graph.types.inventory")]
InvoiceRef = Annotated["Invoice", strawberry.lazy("graph.types.invoices")]
ShipmentRef = Annotated["Shipment", strawberry.lazy("graph.types.shipments")]
ReturnRef = Annotated["Return", strawberry.lazy("graph.types.returns")]
CaseRef = Annotated["Case", strawberry.lazy("graph.types.cases")]


@strawberry.type(
    description="A sales order from the ERP, with fulfilment from WMS shipments and money state "
    "from invoices and credit memos. Id key: the order number."
)
class Order(relay.Node):
    """A sales order (live in the ERP, or archived and rebuilt from its invoices)."""

    record: strawberry.Private[records.Order]
    number: str = strawberry.field(description="Order number in the ERP, e.g. SO-100001.")
    channel: str | None = strawberry.field(
        description="Sales channel the order came through: WEB, STORE, PHONE or MARKETPLACE."
    )
    region: str | None = strawberry.field(description="Sales region (ERP dimension 2).")
    placed_at: date = strawberry.field(description="Date the order was placed (ERP order date).")
    status: OrderStatus = strawberry.field(
        description="Canonical order status, derived from the ERP status and line quantities."
    )
    source_status: str = strawberry.field(
        description="The order status exactly as the ERP reports it (Draft, In Review, Open); "
        "for an archived order, the status its rebuilt record carries."
    )
    archived: bool = strawberry.field(
        description="True when the ERP archived the order (shipped and invoiced in full) and it "
        "was rebuilt from its invoices."
    )
    currency_code: str = strawberry.field(description="ISO 4217 currency of the order.")
    subtotal: Money = strawberry.field(description="Total before tax.")
    tax: Money = strawberry.field(description="Tax.")
    total: Money = strawberry.field(description="Total including tax.")

    @classmethod
    def resolve_id(cls, root: Self, *, info: strawberry.Info) -> str:
        """The natural key behind the global id."""
        return root.number

    @classmethod
    def from_record(cls, record: records.Order) -> Order:
        """Wrap a canonical order."""
        return cls(
            record=record,
            number=record.number,
            channel=record.channel,
            region=record.region,
            placed_at=record.placed_at,
            status=record.status,
            source_status=record.source_status,
            archived=record.archived,
            currency_code=record.currency_code,
            subtotal=Money.from_record(record.subtotal),
            tax=Money.from_record(record.tax),
            total=Money.from_record(record.total),
        )

    @strawberry.field(
        description="Money state, derived across documents: the order's invoices (remaining "
        "amounts) and the credit memos posted against them. There is no single upstream value; "
        "see each invoice's and credit memo's sourceStatus."
    )
    def financial_status(self, info: GraphInfo) -> FinancialStatus | None:
        return order_resolvers.resolve_financial_status(info.context.loaders, self.record)

    @strawberry.field(
        description="Shipping state, derived across systems: ERP shipped quantities per line and "
        "the WMS's shipments. There is no single upstream value; see each shipment's sourceStatus."
    )
    def fulfillment_status(self, info: GraphInfo) -> FulfillmentStatus | None:
        return order_resolvers.resolve_fulfillment_status(info.context.loaders, self.record)

    @strawberry.field(description="The customer who placed the order.")
    async def customer(self, info: GraphInfo) -> CustomerRef | None:
        found = await customer_resolvers.resolve_customer(
            info.context.loaders, number=self.record.customer_number
        )
        return None if found is None else customer_types.Customer.from_record(found)

    @strawberry.field(description="The order's lines in ERP line order.")
    def lines(self) -> list[OrderLine]:
        ready = self.__dict__.get(_LINES_READY)  # set by `preload` while reads are in flight
        if ready is not None and not ready.done():
            return self._lines_when(ready)  # type: ignore[return-value]
        return self._line_objects()

    async def _lines_when(self, ready: Awaitable[object]) -> list[OrderLine]:
        """The lines once what their selected fields read has arrived: one await for the
        order's lines instead of one for each of their quantity, product and stock fields."""
        await ready
        return self._line_objects()

    def _line_objects(self) -> list[OrderLine]:
        return [OrderLine.from_record(self.record, line) for line in self.record.lines]

    @strawberry.field(description="Invoices raised for the order.")
    def invoices(self, info: GraphInfo) -> list[InvoiceRef] | None:
        return and_then(
            invoice_resolvers.resolve_order_invoices(info.context.loaders, self.number),
            lambda found: [invoice_types.Invoice.from_record(invoice) for invoice in found],
        )

    @strawberry.field(description="WMS shipments of the order.")
    def shipments(self, info: GraphInfo) -> list[ShipmentRef] | None:
        return and_then(
            shipment_resolvers.resolve_order_shipments(info.context.loaders, self.number),
            lambda found: [shipment_types.Shipment.from_record(shipment) for shipment in found],
        )

    @strawberry.field(description="Returns raised against the order.")
    def returns(self, info: GraphInfo) -> list[ReturnRef] | None:
        return and_then(
            return_resolvers.resolve_order_returns(info.context.loaders, self.number),
            lambda found: [return_types.Return.from_record(rma) for rma in found],
        )

    @strawberry.field(description="Service cases about the order, newest first.")
    async def cases(self, info: GraphInfo) -> list[CaseRef] | None:
        found = await case_resolvers.resolve_order_cases(info.context.loaders, self.record)
        return [
            case_types.Case.from_record(case, customer_number=self.record.customer_number)
            for case in found
        ]


@strawberry.type(
    description="One line of an order, with what shipped and came back. Id key: "
    "`<order number>:<line number>`, e.g. SO-100001:10000."
)
class OrderLine(relay.Node):
    """One line of an order."""

    order_record: strawberry.Private[records.Order]
    record: strawberry.Private[records.OrderLine]
    line_number: int = strawberry.field(description="ERP line sequence: 10000, 20000, …")
    sku: str = strawberry.field(description="The item's SKU.")
    description: str = strawberry.field(description="Line description as ordered.")
    quantity: int = strawberry.field(description="Units ordered.")
    unit_price: Money = strawberry.field(description="Price of one unit before tax.")
    amount: Money = strawberry.field(description="Line amount before tax.")
    quantity_invoiced: int = strawberry.field(description="Units invoiced (ERP).")

    @classmethod
    def resolve_id(cls, root: Self, *, info: strawberry.Info) -> str:
        """The natural key behind the global id."""
        return f"{root.record.order_number}:{root.line_number}"

    @classmethod
    def from_record(cls, order: records.Order, line: records.OrderLine) -> OrderLine:
        """Wrap a canonical order line with its order."""
        return cls(
            order_record=order,
            record=line,
            line_number=line.line_number,
            sku=line.sku,
            description=line.description,
            quantity=line.quantity,
            unit_price=Money.from_record(line.unit_price),
            amount=Money.from_record(line.amount),
            quantity_invoiced=line.quantity_invoiced,
        )

    @strawberry.field(description="The order this line belongs to.")
    def order(self) -> Order:
        return Order.from_record(self.order_record)

    @strawberry.field(description="The catalogue item; null when the ERP no longer has it.")
    def product(self, info: GraphInfo) -> ProductRef | None:
        prefetch_stock(info.context.loaders, self.sku, selected_names(info))
        return and_then(
            inventory_resolvers.resolve_product_now(info.context.loaders, self.sku),
            lambda found: None if found is None else inventory_types.Product.from_record(found),
        )

    @strawberry.field(
        description="Units that have left the warehouse: the WMS's shipments when it knows the "
        "order, else the ERP's shipped quantity."
    )
    def quantity_shipped(self, info: GraphInfo) -> int | None:
        return and_then(self._quantities(info), attrgetter("shipped"))

    @strawberry.field(
        description="Units back or settled: on returns that were received or completed."
    )
    def quantity_returned(self, info: GraphInfo) -> int | None:
        return and_then(self._quantities(info), attrgetter("returned"))

    @strawberry.field(
        description="Units on returns that are requested or authorized but not received yet."
    )
    def quantity_in_open_returns(self, info: GraphInfo) -> int | None:
        return and_then(self._quantities(info), attrgetter("in_open_returns"))

    @strawberry.field(
        description="Units that may still be returned: shipped − returned − in open returns. "
        "Whether they may be returned today (delivery, window) is in returnEligibility."
    )
    def returnable_quantity(self, info: GraphInfo) -> int | None:
        return and_then(self._quantities(info), attrgetter("returnable"))

    def _quantities(self, info: GraphInfo) -> order_resolvers.LineQuantities:
        known = self.__dict__.get("_known_quantities")
        if known is not None:  # the line's other quantity fields computed them already
            return known  # type: ignore[no-any-return]
        found = order_resolvers.resolve_line_quantities(
            info.context.loaders, self.order_record, self.record
        )
        if isinstance(found, order_resolvers.LineQuantities):
            self.__dict__["_known_quantities"] = found
        return found


@strawberry.type(description="A page of orders.")
class OrderConnection(Connection[Order]):
    """A page of orders."""


QUANTITY_FIELDS = frozenset(
    {"quantityShipped", "quantityReturned", "quantityInOpenReturns", "returnableQuantity"}
)


def order_wants(tree: Selection, context: object) -> OrderWants:
    """What the children selected under an order (`tree`) will read, within the caller's
    role gates: the preload of resolvers/prefetch.py fetches nothing a gate would refuse."""
    lines = tree.get("lines", {})
    quantities = bool(QUANTITY_FIELDS & lines.keys())
    product = lines.get("product")
    invoices_readable = bool(readable_fields("Order", ("invoices",), context))
    memos_readable = invoices_readable and bool(readable_fields("Invoice", ("creditMemos",), context))
    return OrderWants(
        shipments="shipments" in tree or "fulfillmentStatus" in tree or quantities,
        returns="returns" in tree or quantities,
        invoices=("invoices" in tree and invoices_readable) or "financialStatus" in tree,
        credit_memos="financialStatus" in tree
        or (memos_readable and "creditMemos" in tree.get("invoices", {})),
        quantities=quantities,
        products=product is not None,
        stock=product is not None and bool({"totalAvailable", "inventory"} & product.keys()),
    )


async def preload(info: GraphInfo, orders: Sequence[Order], tree: Selection) -> None:
    """Start what these orders' selected children need before they resolve; the lines of an
    order whose reads are in flight wait for them together (resolvers/prefetch.py)."""
    wants = order_wants(tree, info.context)
    lines_ready = await preload_orders(info.context.loaders, [o.record for o in orders], wants)
    for order in orders:
        ready = lines_ready.get(order.number)
        if ready is not None:
            order.__dict__[_LINES_READY] = ready


def prefetch_customer_orders(info: GraphInfo, customer_number: str) -> None:
    """For each selection of the customer's `orders`, start what its page of orders will need
    the moment the orders arrive (resolvers/prefetch.py `prefetch_orders`): the second upstream
    level of a customer-360 then leaves before GraphQL has walked down to the orders."""
    for arguments, tree in child_fields(info, "orders"):
        try:
            page = PageRequest.parse(arguments.get("first", DEFAULT_PAGE_SIZE), arguments.get("after"))
        except (BadUserInput, TypeError, ValueError):
            continue  # the orders' resolver reports it
        status = arguments.get("status")

        def pick(
            orders: list[records.Order], page: PageRequest = page, status: object = status
        ) -> list[records.Order]:
            chosen = [o for o in orders if status is None or o.status.name == status]
            return chosen[page.offset : page.offset + page.first]

        wants = order_wants(connection_nodes(tree), info.context)
        prefetch_orders(info.context.loaders, customer_number, pick, wants)
