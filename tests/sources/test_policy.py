"""Return policy: returnable quantities and per-line eligibility with coded reasons."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from record_factories import line, order, rma, shipment

from sources.policy import (
    NOT_DELIVERED,
    NOTHING_RETURNABLE,
    RETURN_WINDOW_EXPIRED,
    ReturnPolicy,
    line_eligibility,
    refund_needs_approval,
    returnable_quantity,
)
from sources.records import ReturnStatus, ShipmentStatus

TODAY = date(2026, 3, 31)
DELIVERED = ShipmentStatus.DELIVERED


@pytest.mark.parametrize(
    ("shipments", "returns", "expected"),
    [
        ([], [], 0),
        ([shipment(DELIVERED, (10000, 3))], [], 3),
        ([shipment(ShipmentStatus.IN_TRANSIT, (10000, 2))], [], 2),
        ([shipment(ShipmentStatus.PENDING, (10000, 3))], [], 0),
        ([shipment(ShipmentStatus.RETURNED, (10000, 3))], [], 0),
        ([shipment(DELIVERED, (10000, 3))], [rma(ReturnStatus.COMPLETED, (10000, 1))], 2),
        ([shipment(DELIVERED, (10000, 3))], [rma(ReturnStatus.RECEIVED, (10000, 1))], 2),
        ([shipment(DELIVERED, (10000, 3))], [rma(ReturnStatus.REQUESTED, (10000, 2))], 1),
        (
            [shipment(DELIVERED, (10000, 3))],
            [rma(ReturnStatus.AUTHORIZED, (10000, 1)), rma(ReturnStatus.COMPLETED, (10000, 1))],
            1,
        ),
        ([shipment(DELIVERED, (10000, 3))], [rma(ReturnStatus.CANCELLED, (10000, 3))], 3),
        ([shipment(DELIVERED, (10000, 3))], [rma(ReturnStatus.DECLINED, (10000, 3))], 3),
        # another line's return does not count against this one
        ([shipment(DELIVERED, (10000, 3))], [rma(ReturnStatus.COMPLETED, (20000, 3))], 3),
        ([shipment(DELIVERED, (10000, 3))], [rma(ReturnStatus.COMPLETED, (10000, 5))], 0),
    ],
)
def test_returnable_is_shipped_minus_returned_minus_open(
    shipments: list, returns: list, expected: int
) -> None:
    assert returnable_quantity(line(10000, 3), shipments, returns) == expected


def test_returnable_falls_back_to_erp_shipped_quantity_when_wms_knows_nothing() -> None:
    assert returnable_quantity(line(10000, 3, shipped=2), [], []) == 2


@pytest.mark.parametrize(
    ("shipments", "returns", "expected"),
    [
        ([], [], (False, 0, NOT_DELIVERED)),
        ([shipment(ShipmentStatus.IN_TRANSIT, (10000, 2))], [], (False, 0, NOT_DELIVERED)),
        (
            [shipment(DELIVERED, (10000, 2), delivered=TODAY - timedelta(days=3))],
            [],
            (True, 2, None),
        ),
        (
            [shipment(DELIVERED, (10000, 2), delivered=TODAY - timedelta(days=30))],
            [],
            (True, 2, None),
        ),
        (
            [shipment(DELIVERED, (10000, 2), delivered=TODAY - timedelta(days=31))],
            [],
            (False, 0, RETURN_WINDOW_EXPIRED),
        ),
        (
            [shipment(DELIVERED, (10000, 2), delivered=TODAY - timedelta(days=3))],
            [rma(ReturnStatus.AUTHORIZED, (10000, 2))],
            (False, 0, NOTHING_RETURNABLE),
        ),
        (
            [shipment(DELIVERED, (10000, 2), delivered=TODAY - timedelta(days=3))],
            [rma(ReturnStatus.COMPLETED, (10000, 1))],
            (True, 1, None),
        ),
        # one unit delivered, one still in transit: only the delivered one may come back
        (
            [
                shipment(DELIVERED, (10000, 1), delivered=TODAY - timedelta(days=3)),
                shipment(ShipmentStatus.IN_TRANSIT, (10000, 1)),
            ],
            [],
            (True, 1, None),
        ),
    ],
)
def test_line_eligibility(shipments: list, returns: list, expected: tuple) -> None:
    target = line(10000, 2, shipped=2)
    result = line_eligibility(order(target), target, shipments, returns, TODAY, ReturnPolicy())
    assert result == expected


def test_window_is_configurable() -> None:
    target = line(10000, 2, shipped=2)
    shipments = [shipment(DELIVERED, (10000, 2), delivered=TODAY - timedelta(days=40))]
    strict, lenient = ReturnPolicy(window_days=30), ReturnPolicy(window_days=60)
    assert line_eligibility(order(target), target, shipments, [], TODAY, strict)[2] == (
        RETURN_WINDOW_EXPIRED
    )
    assert line_eligibility(order(target), target, shipments, [], TODAY, lenient) == (True, 2, None)


def test_line_of_another_order_is_refused() -> None:
    target = line(10000, 2)
    other = replace(order(target), number="SO-999999")
    with pytest.raises(ValueError):
        line_eligibility(other, target, [], [], TODAY, ReturnPolicy())


@pytest.mark.parametrize(
    ("amount", "needs"),
    [("499.99", False), ("500.00", False), ("500.01", True)],
)
def test_refunds_over_the_threshold_need_a_supervisor(amount: str, needs: bool) -> None:
    assert refund_needs_approval(Decimal(amount), ReturnPolicy()) is needs
