"""Customer and Loyalty: ERP master data joined with the service platform's profile."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Self

import strawberry
from strawberry import relay

from graph.context import GraphInfo
from graph.types import cases as case_types
from graph.types import invoices as invoice_types
from graph.types import orders as order_types
from graph.types import returns as return_types
from graph.types.common import (
    DEFAULT_PAGE_SIZE,
    After,
    Connection,
    First,
    Money,
    PageRequest,
    connection_nodes,
    selection_tree,
)
from graph.types.enums import CaseStatus, OrderStatus
from resolvers import cases as case_resolvers
from resolvers import customers as customer_resolvers
from resolvers import invoices as invoice_resolvers
from resolvers import orders as order_resolvers
from resolvers import returns as return_resolvers
from sources import records
from sources.errors import SourceUnavailable

if TYPE_CHECKING:
    from graph.types.cases import CaseConnection
    from graph.types.invoices import InvoiceConnection
    from graph.types.orders import OrderConnection
    from graph.types.returns import ReturnConnection

OrderConnectionRef = Annotated["OrderConnection", strawberry.lazy("graph.types.orders")]
InvoiceConnectionRef = Annotated["InvoiceConnection", strawberry.lazy("graph.types.invoices")]
ReturnConnectionRef = Annotated["ReturnConnection", strawberry.lazy("graph.types.returns")]
CaseConnectionRef = Annotated["CaseConnection", strawberry.lazy("graph.types.cases")]


@strawberry.type(description="A customer's membership of the loyalty programme (service platform).")
class Loyalty:
    """A customer's membership of the loyalty programme."""

    tier: str | None = strawberry.field(
        description="Loyalty tier as the service platform names it: bronze, silver, gold, platinum."
    )
    points: int | None = strawberry.field(description="Points balance.")


@strawberry.type(
    description="A customer: ERP master data (credit, balance) joined with the service "
    "platform's profile (loyalty). Id key: the customer number."
)
class Customer(relay.Node):
    """A customer as the ERP knows them, with loyalty from the service platform."""

    record: strawberry.Private[records.Customer]
    number: str = strawberry.field(description="Customer number in the ERP, e.g. C-10001.")
    name: str = strawberry.field(description="Display name.")
    email: str | None = strawberry.field(description="Email address, if the ERP has one.")
    phone: str | None = strawberry.field(description="Phone number, if the ERP has one.")
    currency_code: str = strawberry.field(description="The customer's ISO 4217 currency.")
    credit_limit: Money = strawberry.field(description="Credit limit granted in the ERP.")
    balance: Money = strawberry.field(description="What the customer owes now (ERP balance due).")
    blocked: bool = strawberry.field(description="True when the ERP blocks shipping or invoicing.")

    @classmethod
    def resolve_id(cls, root: Self, *, info: strawberry.Info) -> str:
        """The natural key behind the global id."""
        return root.number

    @classmethod
    def from_record(cls, record: records.Customer) -> Customer:
        """Wrap a canonical customer."""
        return cls(
            record=record,
            number=record.number,
            name=record.name,
            email=record.email,
            phone=record.phone,
            currency_code=record.currency_code,
            credit_limit=Money.from_record(record.credit_limit),
            balance=Money.from_record(record.balance),
            blocked=record.blocked,
        )

    @classmethod
    def from_profile(
        cls, profile: records.CustomerProfile, erp_error: SourceUnavailable
    ) -> Customer:
        """The customer as the service platform knows them while the ERP is unavailable.

        ERP-only facts (currency, credit limit, balance, blocked) resolve to `erp_error`, so
        exactly those fields carry SOURCE_UNAVAILABLE (graphql-core raises an error value);
        orders, invoices and returns fail on their own ERP reads, cases and loyalty resolve.
        """
        unavailable: Any = erp_error
        return cls(
            record=None,  # type: ignore[arg-type]
            number=profile.customer_number,
            name=profile.name,
            email=profile.email,
            phone=profile.phone,
            currency_code=unavailable,
            credit_limit=unavailable,
            balance=unavailable,
            blocked=unavailable,
        )

    @strawberry.field(
        description="Loyalty membership from the service platform; null when the customer has "
        "no profile there."
    )
    async def loyalty(self, info: GraphInfo) -> Loyalty | None:
        profile = await customer_resolvers.resolve_profile(info.context.loaders, self.number)
        if profile is None:
            return None
        return Loyalty(tier=profile.loyalty_tier, points=profile.loyalty_points)

    @strawberry.field(description="The customer's orders, newest first, including archived ones.")
    async def orders(
        self,
        info: GraphInfo,
        first: First = DEFAULT_PAGE_SIZE,
        after: After = None,
        status: Annotated[
            OrderStatus | None, strawberry.argument(description="Only orders in this status.")
        ] = None,
    ) -> OrderConnectionRef | None:
        page = PageRequest.parse(first, after)
        found = await order_resolvers.resolve_customer_orders(
            info.context.loaders, self.number, status
        )
        connection = page.connection(order_types.OrderConnection, found, order_types.Order.from_record)
        shown = [edge.node for edge in connection.edges]
        await order_types.preload(info, shown, connection_nodes(selection_tree(info)))
        return connection

    @strawberry.field(description="The customer's invoices, newest first.")
    async def invoices(
        self, info: GraphInfo, first: First = DEFAULT_PAGE_SIZE, after: After = None
    ) -> InvoiceConnectionRef | None:
        page = PageRequest.parse(first, after)
        found = await invoice_resolvers.resolve_customer_invoices(info.context.loaders, self.number)
        return page.connection(
            invoice_types.InvoiceConnection, found, invoice_types.Invoice.from_record
        )

    @strawberry.field(description="The customer's returns, newest first.")
    async def returns(
        self, info: GraphInfo, first: First = DEFAULT_PAGE_SIZE, after: After = None
    ) -> ReturnConnectionRef | None:
        page = PageRequest.parse(first, after)
        found = await return_resolvers.resolve_customer_returns(info.context.loaders, self.number)
        return page.connection(
            return_types.ReturnConnection, found, return_types.Return.from_record
        )

    @strawberry.field(description="Cases the customer raised, newest first.")
    async def cases(
        self,
        info: GraphInfo,
        first: First = DEFAULT_PAGE_SIZE,
        after: After = None,
        status: Annotated[
            CaseStatus | None, strawberry.argument(description="Only cases in this status.")
        ] = None,
    ) -> CaseConnectionRef | None:
        page = PageRequest.parse(first, after)
        found = await case_resolvers.resolve_customer_cases(
            info.context.loaders, self.number, status
        )
        return page.connection(
            case_types.CaseConnection,
            found,
            lambda case: case_types.Case.from_record(case, customer_number=self.number),
        )


@strawberry.type(description="A page of customers.")
class CustomerConnection(Connection[Customer]):
    """A page of customers."""
