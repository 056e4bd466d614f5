"""Return, ReturnLine and Refund: ERP return orders and the credit that settles them."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated, Self

import strawberry
from strawberry import relay

from graph.context import GraphInfo
from graph.types import cases as case_types
from graph.types import invoices as invoice_types
from graph.types import orders as order_types
from graph.types import workflows as workflow_types
from graph.types.common import Connection, Money
from graph.types.enums import RefundStatus, ReturnReason, ReturnResolution, ReturnStatus
from resolvers import eligibility as eligibility_resolvers
from resolvers import orders as order_resolvers
from resolvers import returns as return_resolvers
from sources import records

if TYPE_CHECKING:
    from graph.types.cases import Case
    from graph.types.invoices import CreditMemo
    from graph.types.orders import Order, OrderLine
    from graph.types.workflows import Workflow

__all__ = [
    "Refund",
    "RefundStatus",
    "Return",
    "ReturnConnection",
    "ReturnEligibility",
    "ReturnEligibilityLine",
    "ReturnLine",
    "ReturnReason",
    "ReturnResolution",
    "ReturnStatus",
]

OrderRef = Annotated["Order", strawberry.lazy("graph.types.orders")]
OrderLineRef = Annotated["OrderLine", strawberry.lazy("graph.types.orders")]
CreditMemoRef = Annotated["CreditMemo", strawberry.lazy("graph.types.invoices")]
CaseRef = Annotated["Case", strawberry.lazy("graph.types.cases")]
WorkflowRef = Annotated["Workflow", strawberry.lazy("graph.types.workflows")]


@strawberry.type(description="One returned line, pointing at the order line it returns.")
class ReturnLine:
    """One returned line."""

    order_number: strawberry.Private[str]
    order_line_number: strawberry.Private[int | None]
    line_number: int = strawberry.field(description="Line sequence on the return order.")
    sku: str = strawberry.field(description="The SKU coming back.")
    description: str = strawberry.field(description="Line description.")
    quantity: int = strawberry.field(description="Units coming back.")
    unit_price: Money = strawberry.field(description="Price of one unit credited.")
    reason: ReturnReason = strawberry.field(description="Why the units come back.")

    @strawberry.field(description="The order line returned; null when the ERP did not say.")
    async def order_line(self, info: GraphInfo) -> OrderLineRef | None:
        if self.order_line_number is None:
            return None
        found = await order_resolvers.resolve_order_line(
            info.context.loaders, self.order_number, self.order_line_number
        )
        return None if found is None else order_types.OrderLine.from_record(*found)


@strawberry.type(
    description="A refund: money going back to the customer, carried by an ERP credit memo. Id "
    "key: the credit memo number."
)
class Refund(relay.Node):
    """A refund, as its credit memo records it."""

    record: strawberry.Private[return_resolvers.RefundRecord]
    amount: Money = strawberry.field(description="Amount refunded, including tax.")
    status: RefundStatus = strawberry.field(description="Canonical refund status.")
    source_status: str = strawberry.field(
        description="The status of the credit memo carrying the refund, exactly as the ERP "
        "reports it (approval itself is tracked by the workflow, not the ERP)."
    )
    requested_by: str | None = strawberry.field(
        description="Who asked for the refund; null for refunds recorded only in the ERP."
    )
    approved_by: str | None = strawberry.field(
        description="The supervisor who approved it; null when no approval was needed or recorded."
    )
    posted_at: date | None = strawberry.field(description="When the credit memo was posted.")

    @classmethod
    def resolve_id(cls, root: Self, *, info: strawberry.Info) -> str:
        """The natural key behind the global id."""
        return root.record.key

    @classmethod
    def from_record(cls, record: return_resolvers.RefundRecord) -> Refund:
        """Wrap a refund record."""
        return cls(
            record=record,
            amount=Money.from_record(record.amount),
            status=record.status,
            source_status=record.source_status,
            requested_by=record.requested_by,
            approved_by=record.approved_by,
            posted_at=record.posted_at,
        )

    @strawberry.field(description="The ERP credit memo carrying the refund.")
    def credit_memo(self) -> CreditMemoRef | None:
        memo = self.record.credit_memo
        return None if memo is None else invoice_types.CreditMemo.from_record(memo)


@strawberry.type(description="A return (ERP sales return order, RMA). Id key: the RMA number.")
class Return(relay.Node):
    """A return order."""

    record: strawberry.Private[records.Return]
    rma_number: str = strawberry.field(description="RMA number in the ERP, e.g. RMA-100001.")
    status: ReturnStatus = strawberry.field(
        description="Canonical status; a posted credit memo settles a return as COMPLETED."
    )
    source_status: str = strawberry.field(
        description="The return order status exactly as the ERP reports it (Draft, Released, "
        "Received, Closed, Rejected, Canceled)."
    )
    resolution: ReturnResolution = strawberry.field(description="What the customer gets back.")
    reference: str | None = strawberry.field(
        description="The caller's reference on the return order (ERP externalDocumentNumber)."
    )
    created_at: date = strawberry.field(description="Date the return was raised.")
    total: Money = strawberry.field(description="Value of the returned lines including tax.")
    lines: list[ReturnLine] = strawberry.field(description="What comes back.")

    @classmethod
    def resolve_id(cls, root: Self, *, info: strawberry.Info) -> str:
        """The natural key behind the global id."""
        return root.rma_number

    @classmethod
    def from_record(cls, record: records.Return) -> Return:
        """Wrap a canonical return."""
        return cls(
            record=record,
            rma_number=record.rma_number,
            status=record.status,
            source_status=record.source_status,
            resolution=record.resolution,
            reference=record.reference,
            created_at=record.created_at,
            total=Money.from_record(record.total),
            lines=[
                ReturnLine(
                    order_number=record.order_number,
                    order_line_number=line.order_line_number,
                    line_number=line.line_number,
                    sku=line.sku,
                    description=line.description,
                    quantity=line.quantity,
                    unit_price=Money.from_record(line.unit_price),
                    reason=line.reason,
                )
                for line in record.lines
            ],
        )

    @strawberry.field(description="The order the goods were bought on.")
    async def order(self, info: GraphInfo) -> OrderRef | None:
        found = await order_resolvers.resolve_order(info.context.loaders, self.record.order_number)
        return None if found is None else order_types.Order.from_record(found)

    @strawberry.field(
        description="The refund settling the return: from its credit memo (externalDocumentNumber "
        "= RMA); null until one exists."
    )
    async def refund(self, info: GraphInfo) -> Refund | None:
        found = await return_resolvers.resolve_return_refund(info.context.loaders, self.record)
        return None if found is None else Refund.from_record(await overlay_refund(info, found))

    @strawberry.field(
        description="The replacement order raised for the return; null when there is none."
    )
    async def replacement_order(self, info: GraphInfo) -> OrderRef | None:
        found = await return_resolvers.resolve_replacement_order(info.context.loaders, self.record)
        return None if found is None else order_types.Order.from_record(found)

    @strawberry.field(
        description="The service case behind the return: the customer's newest case about the "
        "return's order; null when there is none."
    )
    async def case(self, info: GraphInfo) -> CaseRef | None:
        found = await return_resolvers.resolve_return_case(info.context.loaders, self.record)
        return (
            None
            if found is None
            else case_types.Case.from_record(found, customer_number=self.record.customer_number)
        )

    @strawberry.field(
        description="The workflow that created or is processing the return; null for returns "
        "made outside retailgraph."
    )
    async def workflow(self, info: GraphInfo) -> WorkflowRef | None:
        return await workflow_types.workflow_for_subject(info, f"Return:{self.rma_number}")


@strawberry.type(description="A page of returns.")
class ReturnConnection(Connection[Return]):
    """A page of returns."""


@strawberry.type(description="Whether one order line may be returned today, and how many units.")
class ReturnEligibilityLine:
    """Eligibility of one order line."""

    record: strawberry.Private[eligibility_resolvers.LineEligibility]
    returnable_quantity: int = strawberry.field(
        description="Units that may be returned now (0 when the line is not eligible)."
    )
    eligible: bool = strawberry.field(description="True when some units may be returned now.")
    reason: str | None = strawberry.field(
        description="Why not, when not eligible: NOT_DELIVERED, RETURN_WINDOW_EXPIRED or "
        "NOTHING_RETURNABLE."
    )

    @strawberry.field(description="The order line.")
    def order_line(self) -> OrderLineRef:
        return order_types.OrderLine.from_record(self.record.order, self.record.line)


@strawberry.type(
    description="What of an order may be returned today under the return policy (delivered "
    "lines, within the window after delivery, shipped − returned − in open returns)."
)
class ReturnEligibility:
    """Return eligibility of an order."""

    order_number: str = strawberry.field(description="The order checked.")
    eligible: bool = strawberry.field(description="True when at least one line may be returned.")
    reasons: list[str] = strawberry.field(
        description="Why lines may not be returned, one code each: ORDER_NOT_FOUND, "
        "NOT_DELIVERED, RETURN_WINDOW_EXPIRED, NOTHING_RETURNABLE."
    )
    lines: list[ReturnEligibilityLine] = strawberry.field(description="Each line of the order.")

    @classmethod
    def from_result(cls, result: eligibility_resolvers.Eligibility) -> ReturnEligibility:
        """Wrap an eligibility check."""
        return cls(
            order_number=result.order_number,
            eligible=result.eligible,
            reasons=result.reasons,
            lines=[
                ReturnEligibilityLine(
                    record=line,
                    returnable_quantity=line.returnable_quantity,
                    eligible=line.eligible,
                    reason=line.reason,
                )
                for line in result.lines
            ],
        )


async def overlay_refund(
    info: GraphInfo, refund: return_resolvers.RefundRecord
) -> return_resolvers.RefundRecord:
    """The ERP's view of a refund, with the approval state and people the orchestrator recorded.

    A Draft credit memo cannot tell "waiting for a supervisor" from "approved, not yet
    posted"; for refunds retailgraph runs, the orchestrator can.
    """
    overlay = getattr(info.context.workflows, "refund_overlay", None)
    return refund if overlay is None else await overlay(refund)
