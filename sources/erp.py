"""ErpClient: Business Central-shaped reads, batched into the fewest upstream requests.

Many keys become `eq … or eq …` chains under the URL filter limit; when one logical read
needs more than one request (several chains, or orders and their invoices together) they
travel as one JSON `$batch`. Every entity read is cached per kind and single-flighted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

from . import erp_records as tr
from .deadline import current_scope
from .erp_batch import EXPAND, ErpQueries
from .odata import Query, literal
from .records import CreditMemo, Customer, Invoice, Order, Product, Return, ReturnStatus

T = TypeVar("T")
# Returns in these states cannot be completed by a credit memo any more.
_SETTLED = frozenset({ReturnStatus.COMPLETED, ReturnStatus.CANCELLED, ReturnStatus.DECLINED})


def _group(items: Sequence[T], key: Callable[[T], str | None]) -> dict[str, list[T]]:
    grouped: dict[str, list[T]] = {}
    for item in items:
        value = key(item)
        if value is not None:
            grouped.setdefault(value, []).append(item)
    return grouped


def _newest_orders(orders: Sequence[Order]) -> tuple[Order, ...]:
    return tuple(sorted(orders, key=lambda o: (o.placed_at, o.number), reverse=True))


def _newest_invoices(invoices: Sequence[Invoice]) -> tuple[Invoice, ...]:
    return tuple(sorted(invoices, key=lambda i: (i.posted_at or date.min, i.number), reverse=True))


def _newest_returns(returns: Sequence[Return]) -> tuple[Return, ...]:
    return tuple(sorted(returns, key=lambda r: (r.created_at, r.rma_number), reverse=True))


def _newest_memos(memos: Sequence[CreditMemo]) -> tuple[CreditMemo, ...]:
    return tuple(sorted(memos, key=lambda c: (c.posted_at or date.min, c.number), reverse=True))


@dataclass(frozen=True, slots=True)
class _CustomerDocuments:
    """What one read of customers' documents answers, by customer number."""

    orders: dict[str, tuple[Order, ...]]
    returns: dict[str, tuple[Return, ...]]


class ErpClient(ErpQueries):
    """Typed async reads of customers, orders, invoices, credit memos, returns and items."""

    CACHE_FAMILIES = {
        "customer": "customers",
        "customer_by_email": "customers",
        "product": "products",
        "order": "orders",
        "orders_by_customer": "orders",
        "invoice": "invoices",
        "invoices_by_order": "invoices",
        "invoices_by_customer": "invoices",
        "credit_memo": "credit_memos",
        "credit_memos_by_invoice": "credit_memos",
        "credit_memos_by_return": "credit_memos",
        "return": "returns",
        "returns_by_order": "returns",
        "returns_by_customer": "returns",
    }

    # -- customers and products ------------------------------------------------------------

    async def customers_by_numbers(self, numbers: Sequence[str]) -> dict[str, Customer]:
        """Customers by number (missing numbers absent)."""
        async def fetch(keys: list[str]) -> dict[str, Customer]:
            rows = await self._rows_by("customers", "number", keys)
            return {c.number: c for c in self._each(rows, tr.customer, "customer")}

        return await self._load("customer", numbers, fetch)

    async def customers_by_emails(self, emails: Sequence[str]) -> dict[str, Customer]:
        """Customers by email, keyed by the lowercased email (missing emails absent)."""
        async def fetch(keys: list[str]) -> dict[str, Customer]:
            rows = await self._rows_by("customers", "email", keys)
            found = self._each(rows, tr.customer, "customer")
            self._prime("customer", {c.number: c for c in found})
            return {c.email.lower(): c for c in found if c.email}

        return await self._load("customer_by_email", [e.strip().lower() for e in emails], fetch)

    async def search_customers(self, text: str, limit: int, offset: int) -> list[Customer]:
        """Customers whose name, email or number contains `text`, by number."""
        needle = text.strip()
        condition = None
        if needle:
            lit = literal(needle)
            condition = " or ".join(
                f"contains({f},{lit})" for f in ("displayName", "email", "number")
            )
        query = Query("customers", filter=condition, orderby="number", top=limit, skip=offset)

        async def run() -> list[Customer]:
            (rows,) = await self._collect([query])
            found = self._each(rows, tr.customer, "customer")
            self._prime("customer", {c.number: c for c in found})
            return found

        return list(await self._shared(("search_customers", needle, limit, offset), run))

    async def products_by_skus(self, skus: Sequence[str]) -> dict[str, Product]:
        """Catalogue items by SKU (missing SKUs absent)."""
        async def fetch(keys: list[str]) -> dict[str, Product]:
            rows = await self._rows_by("items", "number", keys)
            return {p.sku: p for p in self._each(rows, tr.product, "item")}

        return await self._load("product", skus, fetch)

    # -- orders ------------------------------------------------------------------------------

    async def orders_by_numbers(self, numbers: Sequence[str]) -> dict[str, Order]:
        """Orders by number: live sales orders, and archived ones rebuilt from invoices."""
        async def fetch(keys: list[str]) -> dict[str, Order]:
            order_rows, invoice_rows = await self._rows_by_many(
                [("salesOrders", "number", keys), ("salesInvoices", "orderNumber", keys)]
            )
            orders, invoices_by_order = self._orders_with_invoices(order_rows, invoice_rows)
            self._prime(
                "invoices_by_order",
                {key: _newest_invoices(invoices_by_order.get(key, ())) for key in keys},
            )
            return {o.number: o for o in orders}

        return await self._load("order", numbers, fetch)

    async def orders_by_customer_numbers(
        self, numbers: Sequence[str]
    ) -> dict[str, list[Order]]:
        """Every order of each customer, archived ones included, newest first."""
        async def fetch(keys: list[str]) -> dict[str, tuple[Order, ...]]:
            return (await self._customer_documents(keys)).orders

        found = await self._load("orders_by_customer", numbers, fetch, many=True)
        return {key: list(value) for key, value in found.items()}

    async def _customer_documents(self, keys: list[str]) -> _CustomerDocuments:
        """A customer's orders, invoices, returns and credit memos in one logical read.

        Orders and returns of the same customers asked for together (the customer-360 asks
        for both) share it. Everything the documents answer by another key is primed: orders
        and invoices by number, each order's invoices and returns, each invoice's credit
        memos, each return's memos. Those per-order and per-invoice lists are complete
        because a return order and a credit memo carry the customer of the order or invoice
        they are raised against, so nothing keyed by them waits for another upstream level.
        """
        return await self._shared(
            ("customer_documents", tuple(sorted(keys))), lambda: self._read_customer_documents(keys)
        )

    async def _read_customer_documents(self, keys: list[str]) -> _CustomerDocuments:
        order_rows, invoice_rows, return_rows, memo_rows = await self._rows_by_many(
            [
                ("salesOrders", "customerNumber", keys),
                ("salesInvoices", "customerNumber", keys),
                ("salesReturnOrders", "customerNumber", keys),
                ("salesCreditMemos", "customerNumber", keys),
            ]
        )
        orders, invoices_by_order = self._orders_with_invoices(order_rows, invoice_rows)
        by_customer_orders = {
            key: _newest_orders(group)
            for key, group in _group(orders, lambda o: o.customer_number).items()
        }
        scope = current_scope()
        if scope is not None and scope.listeners:  # the next level may leave before the rest
            scope.decoded(self.source, "orders_by_customer", by_customer_orders)
        self._prime("order", {o.number: o for o in orders})
        self._prime(
            "invoices_by_order",
            {o.number: _newest_invoices(invoices_by_order.get(o.number, ())) for o in orders},
        )
        invoices = [i for group in invoices_by_order.values() for i in group]
        by_customer = _group(invoices, lambda i: i.customer_number)
        self._prime(
            "invoices_by_customer",
            {key: _newest_invoices(by_customer.get(key, ())) for key in keys},
        )
        memos = self._each(memo_rows, tr.credit_memo, "credit memo")
        by_invoice = _group(memos, lambda c: c.invoice_number)
        self._prime(
            "credit_memos_by_invoice",
            {i.number: _newest_memos(by_invoice.get(i.number, ())) for i in invoices},
        )
        rmas = [str(row.get("number")) for row in return_rows]
        returns = self._returns(return_rows, self._memos_for_returns(memos, rmas))
        by_order = _group(returns, lambda r: r.order_number)
        self._prime(
            "returns_by_order",
            {o.number: _newest_returns(by_order.get(o.number, ())) for o in orders},
        )
        return _CustomerDocuments(
            orders=by_customer_orders,
            returns={
                key: _newest_returns(group)
                for key, group in _group(returns, lambda r: r.customer_number).items()
            },
        )

    async def recent_orders(self, limit: int, offset: int) -> list[Order]:
        """Live (not yet archived) sales orders company-wide, newest first."""
        query = Query(
            "salesOrders",
            expand=EXPAND["salesOrders"],
            orderby="orderDate desc,number desc",
            top=limit,
            skip=offset,
        )

        async def run() -> list[Order]:
            (rows,) = await self._collect([query])
            orders = self._each(rows, tr.order, "sales order")
            self._prime("order", {o.number: o for o in orders})
            return list(_newest_orders(orders))

        return list(await self._shared(("recent_orders", limit, offset), run))

    def _orders_with_invoices(
        self, order_rows: list[Any], invoice_rows: list[Any]
    ) -> tuple[list[Order], dict[str, list[Invoice]]]:
        """Live orders plus archived ones rebuilt from invoices; invoices grouped by order."""
        live = self._each(order_rows, tr.order, "sales order")
        invoices = self._each(invoice_rows, tr.invoice, "sales invoice")
        self._prime("invoice", {i.number: i for i in invoices})
        raws_by_number = {raw.get("number"): raw for raw in invoice_rows}
        invoices_by_order = _group(invoices, lambda i: i.order_number)
        known = {o.number for o in live}
        rebuilt: list[Order] = []
        for number, group in invoices_by_order.items():
            if number in known:
                continue
            raws = [raws_by_number[i.number] for i in group]
            try:
                rebuilt.append(tr.archived_order(number, group, raws))
            except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
                raise self._malformed(f"invoices of order {number}", exc) from exc
        return live + rebuilt, invoices_by_order

    # -- invoices and credit memos ------------------------------------------------------------

    async def invoices_by_numbers(self, numbers: Sequence[str]) -> dict[str, Invoice]:
        """Sales invoices by number, with lines (missing numbers absent)."""
        async def fetch(keys: list[str]) -> dict[str, Invoice]:
            rows = await self._rows_by("salesInvoices", "number", keys)
            return {i.number: i for i in self._each(rows, tr.invoice, "sales invoice")}

        return await self._load("invoice", numbers, fetch)

    async def invoices_by_order_numbers(
        self, numbers: Sequence[str]
    ) -> dict[str, list[Invoice]]:
        """Each order's invoices, newest first (every key present)."""
        return await self._invoices_by(
            "invoices_by_order", "orderNumber", numbers, lambda i: i.order_number
        )

    async def invoices_by_customer_numbers(
        self, numbers: Sequence[str]
    ) -> dict[str, list[Invoice]]:
        """Each customer's invoices, newest first (every key present)."""
        return await self._invoices_by(
            "invoices_by_customer", "customerNumber", numbers, lambda i: i.customer_number
        )

    async def _invoices_by(
        self,
        kind: str,
        field: str,
        numbers: Sequence[str],
        key: Callable[[Invoice], str | None],
    ) -> dict[str, list[Invoice]]:
        async def fetch(keys: list[str]) -> dict[str, tuple[Invoice, ...]]:
            rows = await self._rows_by("salesInvoices", field, keys)
            invoices = self._each(rows, tr.invoice, "sales invoice")
            self._prime("invoice", {i.number: i for i in invoices})
            return {k: _newest_invoices(group) for k, group in _group(invoices, key).items()}

        found = await self._load(kind, numbers, fetch, many=True)
        return {k: list(v) for k, v in found.items()}

    async def credit_memos_by_numbers(self, numbers: Sequence[str]) -> dict[str, CreditMemo]:
        """Credit memos by number (missing numbers absent)."""
        async def fetch(keys: list[str]) -> dict[str, CreditMemo]:
            rows = await self._rows_by("salesCreditMemos", "number", keys)
            return {c.number: c for c in self._each(rows, tr.credit_memo, "credit memo")}

        return await self._load("credit_memo", numbers, fetch)

    async def credit_memos_by_invoice_numbers(
        self, numbers: Sequence[str]
    ) -> dict[str, list[CreditMemo]]:
        """Credit memos against each invoice, newest first (every key present)."""
        return await self._memos_by(
            "credit_memos_by_invoice", "invoiceNumber", numbers, lambda c: c.invoice_number
        )

    async def credit_memos_by_return_numbers(
        self, numbers: Sequence[str]
    ) -> dict[str, list[CreditMemo]]:
        """Credit memos settling each return (RMA number), newest first (every key present)."""
        return await self._memos_by(
            "credit_memos_by_return", "externalDocumentNumber", numbers, lambda c: c.reference
        )

    async def _memos_by(
        self,
        kind: str,
        field: str,
        numbers: Sequence[str],
        key: Callable[[CreditMemo], str | None],
    ) -> dict[str, list[CreditMemo]]:
        async def fetch(keys: list[str]) -> dict[str, tuple[CreditMemo, ...]]:
            rows = await self._rows_by("salesCreditMemos", field, keys)
            memos = self._each(rows, tr.credit_memo, "credit memo")
            self._prime("credit_memo", {c.number: c for c in memos})
            return {k: _newest_memos(group) for k, group in _group(memos, key).items()}

        found = await self._load(kind, numbers, fetch, many=True)
        return {k: list(v) for k, v in found.items()}

    # -- returns ----------------------------------------------------------------------------------

    async def returns_by_numbers(self, numbers: Sequence[str]) -> dict[str, Return]:
        """Return orders by RMA number, with their credit memos read in the same $batch."""
        async def fetch(keys: list[str]) -> dict[str, Return]:
            return_rows, memo_rows = await self._rows_by_many(
                [
                    ("salesReturnOrders", "number", keys),
                    ("salesCreditMemos", "externalDocumentNumber", keys),
                ]
            )
            parsed = self._each(memo_rows, tr.credit_memo, "credit memo")
            memos = self._memos_for_returns(parsed, keys)
            return {r.rma_number: r for r in self._returns(return_rows, memos)}

        return await self._load("return", numbers, fetch)

    async def returns_by_customer_numbers(
        self, numbers: Sequence[str]
    ) -> dict[str, list[Return]]:
        """Each customer's returns, newest first, with their credit memos (one read with the
        customer's orders and invoices: `_customer_documents`)."""
        async def fetch(keys: list[str]) -> dict[str, tuple[Return, ...]]:
            return (await self._customer_documents(keys)).returns

        found = await self._load("returns_by_customer", numbers, fetch, many=True)
        return {k: list(v) for k, v in found.items()}

    async def returns_by_order_numbers(
        self, numbers: Sequence[str]
    ) -> dict[str, list[Return]]:
        """Each order's returns, newest first; memos are read only for unsettled returns."""
        async def fetch(keys: list[str]) -> dict[str, tuple[Return, ...]]:
            rows = await self._rows_by("salesReturnOrders", "orderNumber", keys)
            provisional = self._returns(rows, {})
            open_rmas = [r.rma_number for r in provisional if r.status not in _SETTLED]
            memos = await self.credit_memos_by_return_numbers(open_rmas) if open_rmas else {}
            returns = self._returns(rows, memos)
            grouped = _group(returns, lambda r: r.order_number)
            return {k: _newest_returns(g) for k, g in grouped.items()}

        found = await self._load("returns_by_order", numbers, fetch, many=True)
        return {k: list(v) for k, v in found.items()}

    def _memos_for_returns(
        self, memos: list[CreditMemo], rmas: Sequence[str]
    ) -> dict[str, list[CreditMemo]]:
        self._prime("credit_memo", {c.number: c for c in memos})
        by_return = _group(memos, lambda c: c.reference)
        self._prime(
            "credit_memos_by_return", {r: _newest_memos(by_return.get(r, ())) for r in rmas}
        )
        return by_return

    def _returns(
        self, rows: list[Any], memos: Mapping[str, Sequence[CreditMemo]]
    ) -> list[Return]:
        local = self.local_currency
        returns: list[Return] = []
        for row in rows:
            try:
                returns.append(tr.return_order(row, local, memos.get(row["number"], ())))
            except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
                raise self._malformed("return order", exc) from exc
        self._prime("return", {r.rma_number: r for r in returns})
        return returns

