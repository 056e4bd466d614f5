"""Small builders of canonical records for the pure status and policy tests."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

from sources.records import (
    CreditMemo,
    CreditMemoStatus,
    Invoice,
    InvoiceStatus,
    Money,
    Order,
    OrderLine,
    OrderStatus,
    Return,
    ReturnLine,
    ReturnReason,
    ReturnResolution,
    ReturnStatus,
    Shipment,
    ShipmentLine,
    ShipmentStatus,
)

ORDER = "SO-100001"


def gbp(value: str | int) -> Money:
    """An amount in pounds."""
    return Money(Decimal(str(value)), "GBP")


def line(number: int, quantity: int, shipped: int = 0, sku: str | None = None) -> OrderLine:
    """An order line of `quantity` units at 10.00, `shipped` of them shipped."""
    return OrderLine(
        order_number=ORDER,
        line_number=number,
        sku=sku or f"SKU-{number:05d}",
        description=f"item {number}",
        quantity=quantity,
        unit_price=gbp("10.00"),
        amount=gbp(10 * quantity),
        quantity_shipped=shipped,
        quantity_invoiced=0,
    )


def order(
    *lines: OrderLine,
    total: str = "100.00",
    status: OrderStatus = OrderStatus.OPEN,
    archived: bool = False,
) -> Order:
    """An order holding `lines`."""
    return Order(
        number=ORDER,
        erp_id="guid-order",
        customer_number="C-10001",
        channel="WEB",
        region="NORTH",
        placed_at=date(2026, 1, 1),
        currency_code="GBP",
        subtotal=gbp(total),
        tax=gbp("0.00"),
        total=gbp(total),
        status=status,
        source_status="Open",
        lines=tuple(lines),
        archived=archived,
    )


def invoice(status: InvoiceStatus, total: str, balance: str, number: str = "SI-1") -> Invoice:
    """An invoice for ORDER."""
    return Invoice(
        number=number,
        erp_id=f"guid-{number}",
        order_number=ORDER,
        customer_number="C-10001",
        status=status,
        source_status=status.value.title(),
        posted_at=date(2026, 1, 2),
        due_date=date(2026, 2, 1),
        subtotal=gbp(total),
        tax=gbp("0.00"),
        total=gbp(total),
        balance=gbp(balance),
    )


def memo(status: CreditMemoStatus, total: str, return_number: str | None = None) -> CreditMemo:
    """A credit memo against SI-1."""
    return CreditMemo(
        number="CM-1",
        erp_id="guid-cm",
        invoice_number="SI-1",
        customer_number="C-10001",
        return_number=return_number,
        status=status,
        source_status=status.value.title(),
        posted_at=date(2026, 1, 5),
        total=gbp(total),
    )


def shipment(
    status: ShipmentStatus,
    *lines: tuple[int, int],
    delivered: date | None = None,
    order_number: str = ORDER,
) -> Shipment:
    """A shipment of (order line number, quantity) pairs."""
    delivered_at = (
        datetime(delivered.year, delivered.month, delivered.day, 12, tzinfo=timezone.utc)
        if delivered
        else None
    )
    return Shipment(
        id=f"SHP-{status.value}",
        order_number=order_number,
        carrier="DPD",
        tracking_number="T1",
        status=status,
        source_status=status.value.lower(),
        location_id="LOC-01",
        shipped_at=delivered_at,
        delivered_at=delivered_at,
        lines=tuple(
            ShipmentLine(sku=f"SKU-{n:05d}", quantity=q, order_line_number=n) for n, q in lines
        ),
    )


def rma(status: ReturnStatus, *lines: tuple[int, int]) -> Return:
    """A return of (order line number, quantity) pairs against ORDER."""
    return Return(
        rma_number=f"RMA-{status.value}",
        erp_id="guid-rma",
        order_number=ORDER,
        customer_number="C-10001",
        invoice_number="SI-1",
        reference=None,
        status=status,
        source_status=status.value.title(),
        resolution=ReturnResolution.REFUND,
        created_at=date(2026, 1, 10),
        total=gbp("10.00"),
        lines=tuple(
            ReturnLine(
                line_number=10000 * (i + 1),
                order_line_number=n,
                sku=f"SKU-{n:05d}",
                description="x",
                quantity=q,
                unit_price=gbp("10.00"),
                reason=ReturnReason.DAMAGED,
            )
            for i, (n, q) in enumerate(lines)
        ),
    )
