"""Return and refund resolvers; a historic refund is read from the credit memo settling the RMA."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sources import statuses
from sources.records import Case, CreditMemo, Money, Order, RefundStatus, Return, ReturnStatus

from .loaders import Loaders
from .prefetch import now_or_later

# Best first: a posted memo is the refund; a draft one is on its way; a cancelled one was refused.
_MEMO_RANK = {RefundStatus.POSTED: 0, RefundStatus.APPROVED: 1, RefundStatus.REJECTED: 2}


@dataclass(frozen=True, slots=True)
class RefundRecord:
    """A refund as the graph shows it; `key` is the credit memo number that carries it."""

    key: str
    amount: Money
    status: RefundStatus
    source_status: str
    credit_memo: CreditMemo | None
    return_number: str | None
    requested_by: str | None
    approved_by: str | None
    posted_at: date | None


def refund_from_credit_memo(memo: CreditMemo) -> RefundRecord:
    """The refund a credit memo records (who asked and approved is not in the ERP)."""
    return RefundRecord(
        key=memo.number,
        amount=memo.total,
        status=statuses.refund_status_from_credit_memo(memo),
        source_status=memo.source_status,
        credit_memo=memo,
        return_number=memo.return_number,
        requested_by=None,
        approved_by=None,
        posted_at=memo.posted_at,
    )


async def resolve_return(loaders: Loaders, rma_number: str) -> Return | None:
    """A return by RMA number; None when unknown."""
    return await loaders.return_by_number.load(rma_number.strip())


def resolve_order_returns(loaders: Loaders, order_number: str) -> list[Return]:
    """Returns raised against an order (now or later: see resolvers/prefetch.py)."""
    return now_or_later(loaders.returns_by_order_number.load(order_number), list)


async def resolve_customer_returns(loaders: Loaders, customer_number: str) -> list[Return]:
    """Every return of a customer, newest first."""
    returns = await loaders.returns_by_customer_number.load(customer_number)
    return sorted(returns, key=lambda r: (r.created_at, r.rma_number), reverse=True)


async def resolve_return_refund(loaders: Loaders, rma: Return) -> RefundRecord | None:
    """The refund settling a return: its best credit memo (posted before draft before cancelled)."""
    memos = await loaders.credit_memos_by_return_number.load(rma.rma_number)
    if not memos:
        return None
    refunds = [refund_from_credit_memo(memo) for memo in memos]
    return min(refunds, key=lambda r: (_MEMO_RANK.get(r.status, 3), r.key))


async def resolve_refund(loaders: Loaders, credit_memo_number: str) -> RefundRecord | None:
    """A refund by the number of its credit memo; None when unknown."""
    memo = await loaders.credit_memo_by_number.load(credit_memo_number)
    return None if memo is None else refund_from_credit_memo(memo)


async def resolve_replacement_order(loaders: Loaders, rma: Return) -> Order | None:
    """The replacement order raised for a return: the customer's order referencing the RMA."""
    if rma.status in (ReturnStatus.CANCELLED, ReturnStatus.DECLINED):
        return None
    orders = await loaders.orders_by_customer_number.load(rma.customer_number)
    # Replacement orders carry the RMA in their reference (externalDocumentNumber).
    return next((o for o in orders if o.reference == rma.rma_number), None)


async def resolve_return_case(loaders: Loaders, rma: Return) -> Case | None:
    """The case behind a return: the customer's newest case about the return's order."""
    cases = await loaders.cases_by_customer_number.load(rma.customer_number)
    return next((c for c in cases if c.order_number == rma.order_number), None)
