"""Invoice and CreditMemo: the ERP's posted documents."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated, Self

import strawberry
from strawberry import relay

from graph.context import GraphInfo
from graph.types import customers as customer_types
from graph.types import orders as order_types
from graph.types import returns as return_types
from graph.types.common import Connection, Money
from graph.types.enums import CreditMemoStatus, InvoiceStatus
from resolvers import customers as customer_resolvers
from resolvers import invoices as invoice_resolvers
from resolvers import orders as order_resolvers
from resolvers import returns as return_resolvers
from resolvers.prefetch import and_then
from sources import records

if TYPE_CHECKING:
    from graph.types.customers import Customer
    from graph.types.orders import Order
    from graph.types.returns import Return

__all__ = ["CreditMemo", "CreditMemoStatus", "Invoice", "InvoiceConnection", "InvoiceStatus"]

CustomerRef = Annotated["Customer", strawberry.lazy("graph.types.customers")]
OrderRef = Annotated["Order", strawberry.lazy("graph.types.orders")]
ReturnRef = Annotated["Return", strawberry.lazy("graph.types.returns")]


@strawberry.type(description="A sales invoice posted in the ERP. Id key: the invoice number.")
class Invoice(relay.Node):
    """A sales invoice."""

    record: strawberry.Private[records.Invoice]
    number: str = strawberry.field(description="Invoice number in the ERP, e.g. SI-100001.")
    status: InvoiceStatus = strawberry.field(
        description="Canonical status: the ERP status corrected by the remaining amount (the ERP "
        "keeps a partly paid invoice Open)."
    )
    source_status: str = strawberry.field(
        description="The invoice status exactly as the ERP reports it (Draft, Open, Paid, …)."
    )
    posted_at: date | None = strawberry.field(description="Posting date; null while a draft.")
    due_date: date | None = strawberry.field(description="Payment due date.")
    subtotal: Money = strawberry.field(description="Total before tax.")
    tax: Money = strawberry.field(description="Tax.")
    total: Money = strawberry.field(description="Total including tax.")
    balance: Money = strawberry.field(description="What is still owed on the invoice.")

    @classmethod
    def resolve_id(cls, root: Self, *, info: strawberry.Info) -> str:
        """The natural key behind the global id."""
        return root.number

    @classmethod
    def from_record(cls, record: records.Invoice) -> Invoice:
        """Wrap a canonical invoice."""
        return cls(
            record=record,
            number=record.number,
            status=record.status,
            source_status=record.source_status,
            posted_at=record.posted_at,
            due_date=record.due_date,
            subtotal=Money.from_record(record.subtotal),
            tax=Money.from_record(record.tax),
            total=Money.from_record(record.total),
            balance=Money.from_record(record.balance),
        )

    @strawberry.field(description="The order invoiced; null for invoices without an order.")
    async def order(self, info: GraphInfo) -> OrderRef | None:
        if self.record.order_number is None:
            return None
        found = await order_resolvers.resolve_order(info.context.loaders, self.record.order_number)
        return None if found is None else order_types.Order.from_record(found)

    @strawberry.field(description="The customer invoiced.")
    async def customer(self, info: GraphInfo) -> CustomerRef | None:
        found = await customer_resolvers.resolve_customer(
            info.context.loaders, number=self.record.customer_number
        )
        return None if found is None else customer_types.Customer.from_record(found)

    @strawberry.field(description="Credit memos raised against the invoice.")
    def credit_memos(self, info: GraphInfo) -> list[CreditMemo] | None:
        return and_then(
            invoice_resolvers.resolve_invoice_credit_memos(info.context.loaders, self.number),
            lambda found: [CreditMemo.from_record(memo) for memo in found],
        )


@strawberry.type(
    description="A sales credit memo in the ERP: money given back against an invoice, often "
    "settling a return. Id key: the credit memo number."
)
class CreditMemo(relay.Node):
    """A sales credit memo."""

    record: strawberry.Private[records.CreditMemo]
    number: str = strawberry.field(description="Credit memo number in the ERP, e.g. CM-100001.")
    status: CreditMemoStatus = strawberry.field(description="Canonical credit memo status.")
    source_status: str = strawberry.field(
        description="The credit memo status exactly as the ERP reports it (Draft, Open, Paid, "
        "Canceled)."
    )
    posted_at: date | None = strawberry.field(description="Posting date; null while a draft.")
    total: Money = strawberry.field(description="Credit total including tax.")

    @classmethod
    def resolve_id(cls, root: Self, *, info: strawberry.Info) -> str:
        """The natural key behind the global id."""
        return root.number

    @classmethod
    def from_record(cls, record: records.CreditMemo) -> CreditMemo:
        """Wrap a canonical credit memo."""
        return cls(
            record=record,
            number=record.number,
            status=record.status,
            source_status=record.source_status,
            posted_at=record.posted_at,
            total=Money.from_record(record.total),
        )

    @strawberry.field(description="The invoice credited; null when the memo stands alone.")
    async def invoice(self, info: GraphInfo) -> Invoice | None:
        if self.record.invoice_number is None:
            return None
        found = await invoice_resolvers.resolve_invoice(
            info.context.loaders, self.record.invoice_number
        )
        return None if found is None else Invoice.from_record(found)

    @strawberry.field(name="return", description="The return this memo settles, if any.")
    async def return_(self, info: GraphInfo) -> ReturnRef | None:
        if self.record.return_number is None:
            return None
        found = await return_resolvers.resolve_return(
            info.context.loaders, self.record.return_number
        )
        return None if found is None else return_types.Return.from_record(found)


@strawberry.type(description="A page of invoices.")
class InvoiceConnection(Connection[Invoice]):
    """A page of invoices."""
