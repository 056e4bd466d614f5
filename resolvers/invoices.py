"""Invoice and credit memo resolvers."""

from __future__ import annotations

from sources.records import CreditMemo, Invoice

from .loaders import Loaders
from .prefetch import now_or_later


async def resolve_invoice(loaders: Loaders, number: str) -> Invoice | None:
    """An invoice by number; None when unknown."""
    return await loaders.invoice_by_number.load(number)


def resolve_order_invoices(loaders: Loaders, order_number: str) -> list[Invoice]:
    """The invoices of an order (now or later: see resolvers/prefetch.py)."""
    return now_or_later(loaders.invoices_by_order_number.load(order_number), list)


async def resolve_customer_invoices(loaders: Loaders, customer_number: str) -> list[Invoice]:
    """Every invoice of a customer, newest first."""
    return list(await loaders.invoices_by_customer_number.load(customer_number))


async def resolve_credit_memo(loaders: Loaders, number: str) -> CreditMemo | None:
    """A credit memo by number; None when unknown."""
    return await loaders.credit_memo_by_number.load(number)


def resolve_invoice_credit_memos(loaders: Loaders, invoice_number: str) -> list[CreditMemo]:
    """Credit memos raised against an invoice (now or later: see resolvers/prefetch.py)."""
    return now_or_later(loaders.credit_memos_by_invoice_number.load(invoice_number), list)
