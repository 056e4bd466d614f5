"""Status translation: table-driven, partial states from line-level facts, not header flags."""

from __future__ import annotations

from decimal import Decimal

import pytest
from record_factories import invoice, line, memo, order, shipment

from sources import statuses
from sources.records import (
    CasePriority,
    CaseStatus,
    CreditMemoStatus,
    FinancialStatus,
    FulfillmentStatus,
    InvoiceStatus,
    OrderStatus,
    RefundStatus,
    ReturnStatus,
    ShipmentStatus,
)

POSTED, PAID_MEMO = CreditMemoStatus.POSTED, CreditMemoStatus.PAID


@pytest.mark.parametrize(
    ("source", "lines", "archived", "cancelled", "expected"),
    [
        ("Draft", [line(10000, 2)], False, False, OrderStatus.DRAFT),
        ("In Review", [line(10000, 2)], False, False, OrderStatus.PENDING_APPROVAL),
        ("Open", [line(10000, 2)], False, False, OrderStatus.OPEN),
        ("Open", [line(10000, 2, shipped=1)], False, False, OrderStatus.PARTIALLY_FULFILLED),
        (
            "Open",
            [line(10000, 2, 2), line(20000, 1, 0)],
            False,
            False,
            OrderStatus.PARTIALLY_FULFILLED,
        ),
        ("Open", [line(10000, 2, 2), line(20000, 1, 1)], False, False, OrderStatus.FULFILLED),
        ("Open", [line(10000, 2, 2), line(20000, 0, 0)], False, False, OrderStatus.FULFILLED),
        ("Open", [], False, False, OrderStatus.OPEN),
        ("Draft", [line(10000, 2, 1)], False, False, OrderStatus.DRAFT),
        ("Paid", [line(10000, 2, 2)], True, False, OrderStatus.COMPLETED),
        ("Canceled", [line(10000, 2)], True, True, OrderStatus.CANCELLED),
    ],
)
def test_order_status_comes_from_shipped_quantities(
    source: str, lines: list, archived: bool, cancelled: bool, expected: OrderStatus
) -> None:
    assert statuses.order_status(source, lines, archived, cancelled) is expected


def test_unknown_order_status_is_an_error_not_a_guess() -> None:
    with pytest.raises(ValueError, match="Released"):
        statuses.order_status("Released", [], False, False)


@pytest.mark.parametrize(
    ("lines", "shipments", "expected"),
    [
        ([line(10000, 2)], [], FulfillmentStatus.UNFULFILLED),
        ([line(10000, 2)], [shipment(ShipmentStatus.PENDING)], FulfillmentStatus.IN_PROGRESS),
        ([line(10000, 2)], [shipment(ShipmentStatus.IN_PROGRESS)], FulfillmentStatus.IN_PROGRESS),
        ([line(10000, 2)], [shipment(ShipmentStatus.ON_HOLD)], FulfillmentStatus.ON_HOLD),
        (
            [line(10000, 2)],
            [shipment(ShipmentStatus.CANCELLED, (10000, 2))],
            FulfillmentStatus.UNFULFILLED,
        ),
        (
            [line(10000, 2)],
            [shipment(ShipmentStatus.SHIPPED, (10000, 1))],
            FulfillmentStatus.PARTIALLY_FULFILLED,
        ),
        (
            [line(10000, 2), line(20000, 1)],
            [shipment(ShipmentStatus.DELIVERED, (10000, 2))],
            FulfillmentStatus.PARTIALLY_FULFILLED,
        ),
        (
            [line(10000, 2), line(20000, 1)],
            [
                shipment(ShipmentStatus.DELIVERED, (10000, 2)),
                shipment(ShipmentStatus.IN_TRANSIT, (20000, 1)),
            ],
            FulfillmentStatus.FULFILLED,
        ),
        # the ERP's shipped quantity counts even before the WMS reports a shipment
        ([line(10000, 2, shipped=2)], [], FulfillmentStatus.FULFILLED),
        ([line(10000, 2, shipped=1)], [], FulfillmentStatus.PARTIALLY_FULFILLED),
    ],
)
def test_fulfillment_status_from_lines_and_shipments(
    lines: list, shipments: list, expected: FulfillmentStatus
) -> None:
    assert statuses.fulfillment_status(order(*lines), shipments) is expected


def test_fulfillment_of_archived_and_cancelled_orders() -> None:
    done = order(line(10000, 2, 2), status=OrderStatus.COMPLETED, archived=True)
    gone = order(line(10000, 2), status=OrderStatus.CANCELLED, archived=True)
    assert statuses.fulfillment_status(done, []) is FulfillmentStatus.FULFILLED
    assert statuses.fulfillment_status(gone, []) is FulfillmentStatus.CANCELLED


OPEN, PAID, CANCELLED = InvoiceStatus.OPEN, InvoiceStatus.PAID, InvoiceStatus.CANCELLED


@pytest.mark.parametrize(
    ("invoices", "memos", "expected"),
    [
        ([], [], FinancialStatus.PENDING),
        ([invoice(InvoiceStatus.DRAFT, "100.00", "100.00")], [], FinancialStatus.PENDING),
        ([invoice(OPEN, "100.00", "100.00")], [], FinancialStatus.PENDING),
        # the header still says Open while 40.00 of 100.00 is paid
        ([invoice(OPEN, "100.00", "60.00")], [], FinancialStatus.PARTIALLY_PAID),
        ([invoice(PAID, "100.00", "0.00")], [], FinancialStatus.PAID),
        ([invoice(OPEN, "100.00", "0.00")], [], FinancialStatus.PAID),
        # fully paid, but only half of the order is invoiced so far
        ([invoice(PAID, "50.00", "0.00")], [], FinancialStatus.PARTIALLY_PAID),
        (
            [invoice(PAID, "60.00", "0.00"), invoice(OPEN, "40.00", "40.00", "SI-2")],
            [],
            FinancialStatus.PARTIALLY_PAID,
        ),
        (
            [invoice(PAID, "100.00", "0.00")],
            [memo(POSTED, "30.00")],
            FinancialStatus.PARTIALLY_REFUNDED,
        ),
        (
            [invoice(PAID, "100.00", "0.00")],
            [memo(PAID_MEMO, "30.00")],
            FinancialStatus.PARTIALLY_REFUNDED,
        ),
        ([invoice(PAID, "100.00", "0.00")], [memo(POSTED, "100.00")], FinancialStatus.REFUNDED),
        # a draft or cancelled credit memo has refunded nothing
        (
            [invoice(PAID, "100.00", "0.00")],
            [memo(CreditMemoStatus.DRAFT, "100.00")],
            FinancialStatus.PAID,
        ),
        (
            [invoice(PAID, "100.00", "0.00")],
            [memo(CreditMemoStatus.CANCELLED, "30.00")],
            FinancialStatus.PAID,
        ),
        ([invoice(CANCELLED, "100.00", "100.00")], [], FinancialStatus.VOIDED),
    ],
)
def test_financial_status_from_amounts(
    invoices: list, memos: list, expected: FinancialStatus
) -> None:
    assert statuses.financial_status(order(total="100.00"), invoices, memos) is expected


@pytest.mark.parametrize(
    ("source", "total", "remaining", "expected"),
    [
        ("Draft", "100", "100", InvoiceStatus.DRAFT),
        ("In Review", "100", "100", InvoiceStatus.DRAFT),
        ("Open", "100", "100", InvoiceStatus.OPEN),
        ("Open", "100", "0.01", InvoiceStatus.PARTIALLY_PAID),
        ("Open", "100", "99.99", InvoiceStatus.PARTIALLY_PAID),
        ("Open", "100", "0", InvoiceStatus.PAID),
        ("Paid", "100", "0", InvoiceStatus.PAID),
        ("Canceled", "100", "100", InvoiceStatus.CANCELLED),
        ("Corrective", "100", "0", InvoiceStatus.CORRECTIVE),
    ],
)
def test_invoice_status_reads_remaining_amount(
    source: str, total: str, remaining: str, expected: InvoiceStatus
) -> None:
    assert statuses.invoice_status(source, Decimal(total), Decimal(remaining)) is expected


@pytest.mark.parametrize(
    ("source", "memos", "expected"),
    [
        ("Draft", [], ReturnStatus.REQUESTED),
        ("Released", [], ReturnStatus.AUTHORIZED),
        ("Received", [], ReturnStatus.RECEIVED),
        ("Closed", [], ReturnStatus.COMPLETED),
        ("Rejected", [], ReturnStatus.DECLINED),
        ("Canceled", [], ReturnStatus.CANCELLED),
        ("Received", [memo(POSTED, "10.00", "RMA-1")], ReturnStatus.COMPLETED),
        ("Released", [memo(PAID_MEMO, "10.00", "RMA-1")], ReturnStatus.COMPLETED),
        ("Received", [memo(CreditMemoStatus.DRAFT, "10.00", "RMA-1")], ReturnStatus.RECEIVED),
        ("Canceled", [memo(POSTED, "10.00", "RMA-1")], ReturnStatus.CANCELLED),
    ],
)
def test_return_status(source: str, memos: list, expected: ReturnStatus) -> None:
    assert statuses.return_status(source, memos) is expected


@pytest.mark.parametrize(
    ("memo_status", "expected"),
    [
        (CreditMemoStatus.DRAFT, RefundStatus.APPROVED),
        (CreditMemoStatus.POSTED, RefundStatus.POSTED),
        (CreditMemoStatus.PAID, RefundStatus.POSTED),
        (CreditMemoStatus.CANCELLED, RefundStatus.REJECTED),
    ],
)
def test_refund_status_from_credit_memo(
    memo_status: CreditMemoStatus, expected: RefundStatus
) -> None:
    assert statuses.refund_status_from_credit_memo(memo(memo_status, "10.00")) is expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("Draft", CreditMemoStatus.DRAFT),
        ("Open", CreditMemoStatus.POSTED),
        ("Paid", CreditMemoStatus.PAID),
        ("Canceled", CreditMemoStatus.CANCELLED),
    ],
)
def test_credit_memo_status(source: str, expected: CreditMemoStatus) -> None:
    assert statuses.credit_memo_status(source) is expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("pending", ShipmentStatus.PENDING),
        ("picking", ShipmentStatus.IN_PROGRESS),
        ("on_hold", ShipmentStatus.ON_HOLD),
        ("shipped", ShipmentStatus.SHIPPED),
        ("in_transit", ShipmentStatus.IN_TRANSIT),
        ("delivered", ShipmentStatus.DELIVERED),
        ("exception", ShipmentStatus.EXCEPTION),
        ("returned_to_sender", ShipmentStatus.RETURNED),
        ("cancelled", ShipmentStatus.CANCELLED),
    ],
)
def test_shipment_status(source: str, expected: ShipmentStatus) -> None:
    assert statuses.shipment_status(source) is expected


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("new", CaseStatus.NEW),
        ("open", CaseStatus.OPEN),
        ("pending", CaseStatus.PENDING),
        ("hold", CaseStatus.ON_HOLD),
        ("solved", CaseStatus.SOLVED),
        ("closed", CaseStatus.CLOSED),
    ],
)
def test_case_status(source: str, expected: CaseStatus) -> None:
    assert statuses.case_status(source) is expected


def test_case_priority_allows_unset() -> None:
    assert statuses.case_priority(None) is None
    assert statuses.case_priority("urgent") is CasePriority.URGENT
    with pytest.raises(ValueError):
        statuses.case_priority("critical")
