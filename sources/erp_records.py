"""Business Central JSON → canonical records (the ERP's half of the translation layer)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from . import statuses
from .records import (
    CreditMemo,
    Customer,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    Money,
    Order,
    OrderLine,
    Product,
    Return,
    ReturnLine,
    ReturnReason,
)

Raw = Mapping[str, Any]
CENT = Decimal("0.01")
# Business Central writes 0001-01-01 where a date is not set.
_NO_DATE = "0001-01-01"


def amount(value: Any) -> Decimal:
    """A JSON number as an exact two-place decimal (via its shortest repr, never binary)."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not an amount: {value!r}")
    return Decimal(str(value)).quantize(CENT)


def money(value: Any, currency: str) -> Money:
    """An amount in `currency`."""
    return Money(amount(value), currency)


def quantity(value: Any) -> int:
    """A JSON quantity as a whole number of units."""
    number = Decimal(str(value))
    if number != number.to_integral_value():
        raise ValueError(f"fractional quantity {value!r}")
    return int(number)


def day(value: Any) -> date | None:
    """A `YYYY-MM-DD` date; empty and Business Central's 0001-01-01 mean no date."""
    if not value or value == _NO_DATE:
        return None
    return date.fromisoformat(str(value)[:10])


def timestamp(value: Any) -> datetime | None:
    """An ISO 8601 timestamp (`…Z` accepted)."""
    if not value:
        return None
    return datetime.fromisoformat(str(value))


def text(value: Any) -> str | None:
    """A string field, None when empty (Business Central sends "" for unset text)."""
    if value is None:
        return None
    stripped = str(value).strip()
    return stripped or None


def currency_of(raw: Raw, local: str) -> str:
    """The document's currency; Business Central leaves it empty for the local currency."""
    return text(raw.get("currencyCode")) or local


def customer(raw: Raw, local: str) -> Customer:
    """A `customers` row."""
    currency = currency_of(raw, local)
    return Customer(
        number=raw["number"],
        erp_id=raw["id"],
        name=raw["displayName"],
        email=text(raw.get("email")),
        phone=text(raw.get("phoneNumber")),
        currency_code=currency,
        credit_limit=money(raw.get("creditLimit", 0), currency),
        balance=money(raw.get("balanceDue", 0), currency),
        blocked=text(raw.get("blocked")) is not None,
    )


def product(raw: Raw, local: str) -> Product:
    """An `items` row."""
    inventory = raw.get("inventory")
    return Product(
        sku=raw["number"],
        erp_id=raw["id"],
        name=raw["displayName"],
        item_type=raw["type"],
        category=text(raw.get("itemCategoryCode")),
        unit_price=money(raw["unitPrice"], local),
        erp_inventory=None if inventory is None else quantity(inventory),
        blocked=bool(raw.get("blocked")),
    )


def order_line(raw: Raw, order_number: str, currency: str) -> OrderLine:
    """A `salesOrderLines` row; `amount` excludes tax, like `unit_price`."""
    return OrderLine(
        order_number=order_number,
        line_number=int(raw["sequence"]),
        sku=text(raw.get("lineObjectNumber")) or "",
        description=raw.get("description") or "",
        quantity=quantity(raw["quantity"]),
        unit_price=money(raw["unitPrice"], currency),
        amount=money(raw["amountExcludingTax"], currency),
        quantity_shipped=quantity(raw.get("shippedQuantity", 0)),
        quantity_invoiced=quantity(raw.get("invoicedQuantity", 0)),
    )


def order(raw: Raw, local: str) -> Order:
    """A live `salesOrders` row with its expanded `salesOrderLines`."""
    currency = currency_of(raw, local)
    number = raw["number"]
    lines = tuple(
        sorted(
            (order_line(line, number, currency) for line in raw.get("salesOrderLines") or ()),
            key=lambda line: line.line_number,
        )
    )
    source_status = raw["status"]
    placed_at = day(raw["orderDate"])
    if placed_at is None:
        raise ValueError(f"order {number} has no orderDate")
    return Order(
        number=number,
        erp_id=raw["id"],
        customer_number=raw["customerNumber"],
        channel=text(raw.get("shortcutDimension1Code")),
        region=text(raw.get("shortcutDimension2Code")),
        placed_at=placed_at,
        currency_code=currency,
        subtotal=money(raw["totalAmountExcludingTax"], currency),
        tax=money(raw["totalTaxAmount"], currency),
        total=money(raw["totalAmountIncludingTax"], currency),
        status=statuses.order_status(source_status, lines, archived=False, cancelled=False),
        source_status=source_status,
        lines=lines,
        archived=False,
        etag=raw.get("@odata.etag"),
        reference=text(raw.get("externalDocumentNumber")),
    )


def invoice(raw: Raw, local: str) -> Invoice:
    """A `salesInvoices` row with its expanded `salesInvoiceLines` (when asked for)."""
    currency = currency_of(raw, local)
    number = raw["number"]
    total = amount(raw["totalAmountIncludingTax"])
    remaining = amount(raw.get("remainingAmount", 0))
    lines = tuple(
        sorted(
            (
                InvoiceLine(
                    invoice_number=number,
                    line_number=int(line["sequence"]),
                    sku=text(line.get("lineObjectNumber")) or "",
                    description=line.get("description") or "",
                    quantity=quantity(line["quantity"]),
                    unit_price=money(line["unitPrice"], currency),
                    amount=money(line["amountExcludingTax"], currency),
                )
                for line in raw.get("salesInvoiceLines") or ()
            ),
            key=lambda line: line.line_number,
        )
    )
    return Invoice(
        number=number,
        erp_id=raw["id"],
        order_number=text(raw.get("orderNumber")),
        customer_number=raw["customerNumber"],
        status=statuses.invoice_status(raw["status"], total, remaining),
        source_status=raw["status"],
        posted_at=day(raw.get("postingDate")) or day(raw.get("invoiceDate")),
        due_date=day(raw.get("dueDate")),
        subtotal=money(raw["totalAmountExcludingTax"], currency),
        tax=money(raw["totalTaxAmount"], currency),
        total=Money(total, currency),
        balance=Money(remaining, currency),
        lines=lines,
    )


def archived_order(number: str, invoices: Sequence[Invoice], raws: Sequence[Raw]) -> Order:
    """An order gone from `salesOrders`, rebuilt from its invoices (COMPLETED or CANCELLED).

    Lines with the same sequence on several invoices are summed; cancelled invoices only
    count when every invoice of the order is cancelled (then the order was cancelled).
    """
    cancelled = all(i.status is InvoiceStatus.CANCELLED for i in invoices)
    used = [
        (inv, raw)
        for inv, raw in zip(invoices, raws)
        if cancelled or inv.status is not InvoiceStatus.CANCELLED
    ]
    first, first_raw = min(used, key=lambda pair: (pair[0].posted_at or date.max, pair[0].number))
    currency = first.total.currency_code
    merged: dict[int, OrderLine] = {}
    for inv, _ in used:
        for line in inv.lines:
            seen = merged.get(line.line_number)
            qty = line.quantity + (seen.quantity if seen else 0)
            line_total = line.amount.amount + (seen.amount.amount if seen else Decimal(0))
            merged[line.line_number] = OrderLine(
                order_number=number,
                line_number=line.line_number,
                sku=line.sku,
                description=line.description,
                quantity=qty,
                unit_price=line.unit_price,
                amount=Money(line_total, currency),
                quantity_shipped=0 if cancelled else qty,
                quantity_invoiced=qty,
            )
    lines = tuple(merged[n] for n in sorted(merged))
    subtotal = sum((inv.subtotal.amount for inv, _ in used), Decimal(0))
    tax = sum((inv.tax.amount for inv, _ in used), Decimal(0))
    total = sum((inv.total.amount for inv, _ in used), Decimal(0))
    placed_at = (
        day(first_raw.get("orderDate")) or day(first_raw.get("invoiceDate")) or first.posted_at
    )
    return Order(
        number=number,
        erp_id=text(first_raw.get("orderId")) or first.erp_id,
        customer_number=first.customer_number,
        channel=text(first_raw.get("shortcutDimension1Code")),
        region=text(first_raw.get("shortcutDimension2Code")),
        placed_at=placed_at or date.min,
        currency_code=currency,
        subtotal=Money(subtotal, currency),
        tax=Money(tax, currency),
        total=Money(total, currency),
        status=statuses.order_status(
            first.source_status, lines, archived=True, cancelled=cancelled
        ),
        source_status=first.source_status,
        lines=lines,
        archived=True,
    )


def credit_memo(raw: Raw, local: str) -> CreditMemo:
    """A `salesCreditMemos` row; `return_number` is the RMA its external document names."""
    currency = currency_of(raw, local)
    reference = text(raw.get("externalDocumentNumber"))
    return CreditMemo(
        number=raw["number"],
        erp_id=raw["id"],
        invoice_number=text(raw.get("invoiceNumber")),
        customer_number=raw["customerNumber"],
        return_number=reference if is_rma_number(reference) else None,
        status=statuses.credit_memo_status(raw["status"]),
        source_status=raw["status"],
        posted_at=day(raw.get("postingDate")),
        total=money(raw["totalAmountIncludingTax"], currency),
        etag=raw.get("@odata.etag"),
        reference=reference,
    )


def is_rma_number(value: str | None) -> bool:
    """Whether an external document number names a return order (`RMA-…`)."""
    return bool(value) and str(value).upper().startswith("RMA-")


def return_order(raw: Raw, local: str, memos: Sequence[CreditMemo]) -> Return:
    """A `salesReturnOrders` row with lines; posted credit memos for it complete it."""
    currency = currency_of(raw, local)
    created = day(raw.get("documentDate"))
    if created is None:
        raise ValueError(f"return {raw.get('number')} has no documentDate")
    lines = tuple(
        sorted(
            (
                ReturnLine(
                    line_number=int(line["sequence"]),
                    order_line_number=(
                        None
                        if line.get("orderLineSequence") is None
                        else int(line["orderLineSequence"])
                    ),
                    sku=text(line.get("lineObjectNumber")) or "",
                    description=line.get("description") or "",
                    quantity=quantity(line["quantity"]),
                    unit_price=money(line["unitPrice"], currency),
                    reason=ReturnReason(line.get("returnReasonCode") or "OTHER"),
                )
                for line in raw.get("salesReturnOrderLines") or ()
            ),
            key=lambda line: line.line_number,
        )
    )
    return Return(
        rma_number=raw["number"],
        erp_id=raw["id"],
        order_number=raw["orderNumber"],
        customer_number=raw["customerNumber"],
        invoice_number=text(raw.get("invoiceNumber")),
        reference=text(raw.get("externalDocumentNumber")),
        status=statuses.return_status(raw["status"], memos),
        source_status=raw["status"],
        resolution=statuses.return_resolution(raw["returnResolution"]),
        created_at=created,
        total=money(raw["totalAmountIncludingTax"], currency),
        lines=lines,
        etag=raw.get("@odata.etag"),
    )
