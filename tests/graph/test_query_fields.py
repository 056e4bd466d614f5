"""Query fields and the values derived across systems, over fake upstreams."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from fake_sources import TODAY, FakeSources, build_dataset, codes, execute, gbp

from graph.auth import ANONYMOUS_DEVELOPER
from graph.types.common import Money
from sources import records
from sources.records import ReturnStatus


def gid(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("amount", "text"),
    [("12.5", "12.50"), ("0", "0.00"), ("1234567.891", "1234567.89"), ("-3.1", "-3.10")],
)
def test_money_is_a_two_place_decimal_string(amount: str, text: str) -> None:
    assert Money.from_record(gbp(Decimal(amount))).amount == text


def test_money_is_remembered_per_amount_and_currency() -> None:
    shown = Money.from_record(gbp(Decimal("1.5")))
    assert Money.from_record(gbp(Decimal("1.50"))) is shown  # equal amounts format the same
    euros = Money.from_record(records.Money(Decimal("1.5"), "EUR"))
    assert (euros.amount, euros.currency_code) == ("1.50", "EUR") and euros is not shown
    assert Money.from_record(gbp(Decimal("1.505"))).amount == "1.50"  # half to even, not memo


@pytest.mark.parametrize(
    "args", ['number: "C-1"', 'email: "C1@Example.COM"', f'id: "{gid("Customer:C-1")}"']
)
async def test_customer_by_number_email_or_id(args: str) -> None:
    result = await execute(
        FakeSources(build_dataset()), f"{{ customer({args}) {{ number email }} }}"
    )
    assert result.errors is None
    assert result.data["customer"] == {"number": "C-1", "email": "c1@example.com"}


@pytest.mark.parametrize("args", ["", 'number: "C-1", email: "c1@example.com"'])
async def test_customer_wants_exactly_one_key(args: str) -> None:
    fake = FakeSources(build_dataset())
    query = f"{{ customer({args}) {{ number }} }}" if args else "{ customer { number } }"
    result = await execute(fake, query)
    assert codes(result) == [("customer", "BAD_USER_INPUT")]
    assert not fake.calls


async def test_case_number_must_be_a_ticket_number() -> None:
    result = await execute(FakeSources(build_dataset()), '{ case(number: "ZD-1") { subject } }')
    assert codes(result) == [("case", "BAD_USER_INPUT")]


async def test_a_case_found_by_number_finds_its_customer_through_its_order() -> None:
    result = await execute(
        FakeSources(build_dataset()),
        '{ case(number: "501") { status sourceStatus customer { number } order { number } } }',
    )
    assert result.errors is None
    assert result.data["case"] == {
        "status": "OPEN",
        "sourceStatus": "open",
        "customer": {"number": "C-1"},
        "order": {"number": "SO-10001"},
    }


async def test_historic_refund_comes_from_the_credit_memo_settling_the_rma() -> None:
    result = await execute(
        FakeSources(build_dataset()),
        '{ order(number: "SO-10001") { financialStatus returns { rmaNumber status resolution '
        "lines { quantity reason orderLine { lineNumber } } "
        "refund { id amount { amount currencyCode } status sourceStatus postedAt requestedBy "
        "creditMemo { number } } "
        "replacementOrder { number } workflow { id } case { number } } } }",
    )
    assert result.errors is None
    order = result.data["order"]
    assert order["financialStatus"] == "PARTIALLY_REFUNDED"
    assert order["returns"] == [
        {
            "rmaNumber": "RMA-10001",
            "status": "COMPLETED",
            "resolution": "REFUND",
            "lines": [{"quantity": 1, "reason": "DAMAGED", "orderLine": {"lineNumber": 10000}}],
            "refund": {
                "id": gid("Refund:CM-10001"),
                "amount": {"amount": "12.50", "currencyCode": "GBP"},
                "status": "POSTED",
                "sourceStatus": "Open",
                "postedAt": str(TODAY - timedelta(days=1)),
                "requestedBy": None,
                "creditMemo": {"number": "CM-10001"},
            },
            "replacementOrder": None,
            "workflow": None,
            "case": {"number": "501"},
        }
    ]


async def test_line_quantities_subtract_returned_and_open_returns() -> None:
    data = build_dataset()
    open_return = replace(data.returns[0], rma_number="RMA-OPEN", status=ReturnStatus.AUTHORIZED)
    data.returns.append(open_return)
    result = await execute(
        FakeSources(data),
        '{ order(number: "SO-10001") { lines { lineNumber quantity quantityShipped '
        "quantityReturned quantityInOpenReturns returnableQuantity } } }",
    )
    assert result.data["order"]["lines"] == [
        {
            "lineNumber": 10000,
            "quantity": 2,
            "quantityShipped": 2,
            "quantityReturned": 1,
            "quantityInOpenReturns": 1,
            "returnableQuantity": 0,
        },
        {
            "lineNumber": 20000,
            "quantity": 1,
            "quantityShipped": 1,
            "quantityReturned": 0,
            "quantityInOpenReturns": 0,
            "returnableQuantity": 1,
        },
    ]


ELIGIBILITY = """query($n: String!) { returnEligibility(orderNumber: $n) {
  orderNumber eligible reasons lines { eligible returnableQuantity reason orderLine { id } } } }"""


async def test_return_eligibility_inside_the_window() -> None:
    data = build_dataset()
    data.returns.append(
        replace(data.returns[0], rma_number="RMA-OPEN", status=ReturnStatus.REQUESTED)
    )
    result = await execute(FakeSources(data), ELIGIBILITY, {"n": "SO-10001"})
    assert result.data["returnEligibility"] == {
        "orderNumber": "SO-10001",
        "eligible": True,
        "reasons": ["NOTHING_RETURNABLE"],
        "lines": [
            {
                "eligible": False,
                "returnableQuantity": 0,
                "reason": "NOTHING_RETURNABLE",
                "orderLine": {"id": gid("OrderLine:SO-10001:10000")},
            },
            {
                "eligible": True,
                "returnableQuantity": 1,
                "reason": None,
                "orderLine": {"id": gid("OrderLine:SO-10001:20000")},
            },
        ],
    }


async def test_return_eligibility_uses_the_contexts_today_and_the_window() -> None:
    late = TODAY + timedelta(days=40)
    result = await execute(FakeSources(build_dataset()), ELIGIBILITY, {"n": "SO-10002"}, today=late)
    assert result.data["returnEligibility"]["eligible"] is False
    assert result.data["returnEligibility"]["reasons"] == ["RETURN_WINDOW_EXPIRED"]


async def test_return_eligibility_of_an_unknown_order() -> None:
    result = await execute(FakeSources(build_dataset()), ELIGIBILITY, {"n": "SO-404"})
    assert result.errors is None
    assert result.data["returnEligibility"] == {
        "orderNumber": "SO-404",
        "eligible": False,
        "reasons": ["ORDER_NOT_FOUND"],
        "lines": [],
    }


async def test_inventory_filters_by_location_ids_and_keeps_sku_order() -> None:
    fake = FakeSources(build_dataset())
    result = await execute(
        fake,
        'query($loc: [ID!]) { inventory(skus: ["SKU-002", "SKU-001", "NOPE"], locationIds: $loc) '
        "{ sku available location { id name } } }",
        {"loc": [gid("Location:LOC-02")]},
    )
    assert result.errors is None
    assert result.data["inventory"] == [
        {"sku": sku, "available": 8, "location": {"id": gid("Location:LOC-02"), "name": "Site 2"}}
        for sku in ("SKU-002", "SKU-001")
    ]
    assert fake.calls["wms.inventory_levels"] == 1


async def test_inventory_refuses_non_location_ids_and_too_many_skus() -> None:
    fake = FakeSources(build_dataset())
    bad_id = await execute(
        fake, '{ inventory(skus: ["SKU-001"], locationIds: ["LOC-01"]) { sku } }'
    )
    assert codes(bad_id) == [("inventory", "BAD_USER_INPUT")]
    many = await execute(
        fake, "query($s: [String!]!) { inventory(skus: $s) { sku } }", {"s": ["x"] * 251}
    )
    assert codes(many) == [("inventory", "BAD_USER_INPUT")]
    assert not fake.calls


async def test_product_reports_wms_stock_totals() -> None:
    result = await execute(
        FakeSources(build_dataset()),
        '{ product(sku: "SKU-001") { name unitPrice { amount } totalAvailable } }',
    )
    assert result.data["product"] == {
        "name": "Product SKU-001",
        "unitPrice": {"amount": "12.50"},
        "totalAvailable": 24,
    }


async def test_workflow_is_null_until_the_orchestrator_is_wired() -> None:
    result = await execute(
        FakeSources(build_dataset()), f'{{ workflow(id: "{gid("Workflow:wf-1")}") {{ id }} }}'
    )
    assert result.errors is None
    assert result.data == {"workflow": None}


async def test_viewer_describes_the_principal() -> None:
    query = "{ viewer { subject roles clientId authenticated } }"
    signed_in = await execute(FakeSources(build_dataset()), query)
    assert signed_in.data["viewer"] == {
        "subject": "dev-1",
        "roles": ["developer"],
        "clientId": "tests",
        "authenticated": True,
    }
    anonymous = await execute(FakeSources(build_dataset()), query, principal=ANONYMOUS_DEVELOPER)
    assert anonymous.data["viewer"]["authenticated"] is False
