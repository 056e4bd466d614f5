"""The graph's Refund for a refund the orchestrator runs: ERP credit memo plus who asked and approved."""

from __future__ import annotations

from graph.context import GraphInfo
from graph.types.returns import Refund
from orchestrator import RefundRecord
from resolvers.returns import RefundRecord as GraphRefund
from sources.records import Money

from .common import orchestrator


async def refund_type(info: GraphInfo, refund: RefundRecord | None) -> Refund | None:
    """The Refund (id = its credit memo number) with the orchestrator's status and people."""
    if refund is None or refund.credit_memo_number is None:
        return None
    memo = await info.context.loaders.credit_memo_by_number.load(refund.credit_memo_number)
    return Refund.from_record(
        GraphRefund(
            key=refund.credit_memo_number,
            amount=memo.total if memo is not None else Money(refund.amount, refund.currency_code),
            status=refund.status,
            source_status=memo.source_status if memo is not None else "",
            credit_memo=memo,
            return_number=refund.return_number,
            requested_by=refund.requested_by,
            approved_by=refund.approved_by,
            posted_at=refund.posted_at.date() if refund.posted_at else None,
        )
    )


async def refund_of_workflow(info: GraphInfo, workflow_id: str) -> Refund | None:
    """The Refund a workflow created, if it got that far."""
    return await refund_type(info, await orchestrator(info).refunds.by_workflow(workflow_id))
