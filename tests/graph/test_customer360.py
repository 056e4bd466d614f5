"""End to end: the customer-360 query for C-10001 shows exactly what the sandbox upstreams hold.

The graph app runs on the real sandbox apps (tests/conftest.py); every expectation below is
read from the upstreams' raw APIs in the test, not from the graph's own code.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest

from graph.app import create_app
from graph.settings import Settings
from sandbox.apps import build
from sandbox.seed import FIXTURES

CUSTOMER = FIXTURES["customer"]

CUSTOMER_360 = """
query($number: String!, $first: Int!) { customer(number: $number) {
  number name email phone loyalty { tier points }
  creditLimit { amount currencyCode } balance { amount currencyCode }
  orders(first: $first) { totalCount pageInfo { hasNextPage } nodes {
    number channel placedAt status sourceStatus financialStatus fulfillmentStatus
    total { amount currencyCode }
    lines { lineNumber sku quantity unitPrice { amount } quantityShipped returnableQuantity }
    invoices { number }
    shipments { shipmentId status sourceStatus carrier trackingNumber }
    returns { rmaNumber }
    cases { number }
  } }
  invoices(first: 100) { totalCount nodes { number status sourceStatus total { amount }
    balance { amount } order { number } } }
  returns(first: 100) { totalCount nodes { rmaNumber status sourceStatus resolution
    order { number } refund { amount { amount } status creditMemo { number } } } }
  cases(first: 100) { totalCount nodes { number subject status sourceStatus order { number } } }
} }
"""


@pytest.fixture
def settings() -> Settings:
    """Room for the whole 360 query; governance limits have their own tests."""
    return Settings(max_query_cost=1_000_000, cost_bucket_size=10_000_000)


def money(value: float | int) -> str:
    """An upstream JSON number as the graph's two-place decimal string."""
    return f"{Decimal(str(value)).quantize(Decimal('0.01'))}"


class Upstreams:
    """Raw reads from the sandbox APIs, the way an integrator would check them by hand."""

    def __init__(self, open_client: Callable[[str], httpx.AsyncClient]) -> None:
        self.open = open_client

    async def erp(self, entity: str, filter_: str, expand: str | None = None) -> list[Any]:
        async with self.open("erp") as erp:
            company = (await erp.get("/api/v2.0/companies")).json()["value"][0]["id"]
            params = {"$filter": filter_} | ({"$expand": expand} if expand else {})
            url: str | None = f"/api/v2.0/companies({company})/{entity}"
            rows: list[Any] = []
            while url:
                body = (await erp.get(url, params=params)).json()
                rows += body["value"]
                url, params = body.get("@odata.nextLink"), {}
            return rows

    async def shipments(self, order_numbers: list[str]) -> list[Any]:
        async with self.open("wms") as wms:
            params = {"order_numbers": ",".join(order_numbers), "limit": "1000"}
            return list((await wms.get("/v1/shipments", params=params)).json()["shipments"])

    async def user_and_tickets(self, customer_number: str) -> tuple[Any, list[Any]]:
        async with self.open("servicedesk") as desk:
            users = await desk.get(
                "/api/v2/users/show_many.json", params={"external_ids": customer_number}
            )
            user = users.json()["users"][0]
            tickets = await desk.get(
                f"/api/v2/users/{user['id']}/tickets/requested.json", params={"page[size]": "100"}
            )
            return user, list(tickets.json()["tickets"])


@pytest.fixture
async def view(gql: Callable[..., Any]) -> dict[str, Any]:
    """The graph's customer-360 view of C-10001."""
    body = await gql(CUSTOMER_360, {"number": CUSTOMER, "first": 50})
    assert "errors" not in body, body.get("errors")
    return dict(body["data"]["customer"])


@pytest.fixture
def raw(upstream: Callable[[str], httpx.AsyncClient]) -> Upstreams:
    return Upstreams(upstream)


async def test_customer_master_data_is_the_erps_and_loyalty_the_service_platforms(
    view: dict[str, Any], raw: Upstreams
) -> None:
    [customer] = await raw.erp("customers", f"number eq '{CUSTOMER}'")
    user, _ = await raw.user_and_tickets(CUSTOMER)
    assert view["name"] == customer["displayName"] == "Ada Lovelace"
    assert view["email"] == customer["email"] == FIXTURES["customer_email"]
    assert view["phone"] == customer["phoneNumber"]
    assert view["creditLimit"] == {
        "amount": money(customer["creditLimit"]),
        "currencyCode": customer["currencyCode"],
    }
    assert view["balance"]["amount"] == money(customer["balanceDue"])
    assert view["loyalty"] == {
        "tier": user["user_fields"]["loyalty_tier"],
        "points": user["user_fields"]["loyalty_points"],
    }


async def test_orders_are_the_live_sales_orders_plus_the_archived_ones_behind_invoices(
    view: dict[str, Any], raw: Upstreams
) -> None:
    live = await raw.erp("salesOrders", f"customerNumber eq '{CUSTOMER}'", "salesOrderLines")
    invoices = await raw.erp("salesInvoices", f"customerNumber eq '{CUSTOMER}'")
    expected = {o["number"] for o in live} | {i["orderNumber"] for i in invoices}
    orders = view["orders"]["nodes"]
    assert {o["number"] for o in orders} == expected
    assert view["orders"]["totalCount"] == len(expected) >= 12
    assert not view["orders"]["pageInfo"]["hasNextPage"]
    placed = [o["placedAt"] for o in orders]
    assert placed == sorted(placed, reverse=True)
    assert len({o["channel"] for o in orders}) >= 3
    by_number = {o["number"]: o for o in orders}
    for sales_order in live:
        order = by_number[sales_order["number"]]
        assert order["sourceStatus"] == sales_order["status"]
        assert order["total"]["amount"] == money(sales_order["totalAmountIncludingTax"])
        assert order["channel"] == sales_order["shortcutDimension1Code"]
        assert [
            (ln["lineNumber"], ln["sku"], ln["quantity"], ln["unitPrice"]["amount"])
            for ln in order["lines"]
        ] == [
            (ln["sequence"], ln["lineObjectNumber"], ln["quantity"], money(ln["unitPrice"]))
            for ln in sorted(sales_order["salesOrderLines"], key=lambda ln: ln["sequence"])
        ]


async def test_invoices_returns_and_refunds_are_the_erps(
    view: dict[str, Any], raw: Upstreams
) -> None:
    invoices = await raw.erp("salesInvoices", f"customerNumber eq '{CUSTOMER}'")
    returns = await raw.erp("salesReturnOrders", f"customerNumber eq '{CUSTOMER}'")
    memos = await raw.erp("salesCreditMemos", f"customerNumber eq '{CUSTOMER}'")
    graph_invoices = {i["number"]: i for i in view["invoices"]["nodes"]}
    assert set(graph_invoices) == {i["number"] for i in invoices}
    for invoice in invoices:
        shown = graph_invoices[invoice["number"]]
        assert shown["sourceStatus"] == invoice["status"]
        assert shown["total"]["amount"] == money(invoice["totalAmountIncludingTax"])
        assert shown["balance"]["amount"] == money(invoice["remainingAmount"])
        assert shown["order"]["number"] == invoice["orderNumber"]
    per_order: dict[str, set[str]] = defaultdict(set)
    for invoice in invoices:
        per_order[invoice["orderNumber"]].add(invoice["number"])
    for order in view["orders"]["nodes"]:
        assert {i["number"] for i in order["invoices"]} == per_order[order["number"]]

    memo_for = {m["externalDocumentNumber"]: m for m in memos}
    graph_returns = {r["rmaNumber"]: r for r in view["returns"]["nodes"]}
    assert set(graph_returns) == {r["number"] for r in returns}
    for rma in returns:
        shown = graph_returns[rma["number"]]
        assert shown["sourceStatus"] == rma["status"]
        assert shown["order"]["number"] == rma["orderNumber"]
        memo = memo_for.get(rma["number"])
        if memo is None:
            assert shown["refund"] is None
        else:
            assert shown["refund"]["creditMemo"]["number"] == memo["number"]
            assert shown["refund"]["amount"]["amount"] == money(memo["totalAmountIncludingTax"])
            assert shown["status"] == "COMPLETED"


async def test_shipments_are_the_wmss(view: dict[str, Any], raw: Upstreams) -> None:
    orders = view["orders"]["nodes"]
    shipments = await raw.shipments([o["number"] for o in orders])
    for order in orders:
        expected = sorted(
            (s["id"], s["status"], s["carrier"], s["tracking_number"])
            for s in shipments
            if s["order_number"] == order["number"]
        )
        shown = sorted(
            (s["shipmentId"], s["sourceStatus"], s["carrier"], s["trackingNumber"])
            for s in order["shipments"]
        )
        assert shown == expected


async def test_cases_are_the_service_platforms_tickets(
    view: dict[str, Any], raw: Upstreams
) -> None:
    _, tickets = await raw.user_and_tickets(CUSTOMER)
    cases = view["cases"]["nodes"]
    assert [int(c["number"]) for c in cases] == [t["id"] for t in tickets]
    for case, ticket in zip(cases, tickets, strict=True):
        assert case["subject"] == ticket["subject"]
        assert case["sourceStatus"] == ticket["status"]
        assert (case["order"] or {}).get("number") == ticket["external_id"]
    by_order = {o["number"]: {c["number"] for c in o["cases"]} for o in view["orders"]["nodes"]}
    assert FIXTURES["open_ticket_id"] in by_order[FIXTURES["ticket_order"]]
    open_ticket = next(c for c in cases if c["number"] == FIXTURES["open_ticket_id"])
    assert open_ticket["status"] == "OPEN"


async def test_the_fixture_orders_show_their_scripted_states(view: dict[str, Any]) -> None:
    orders = {o["number"]: o for o in view["orders"]["nodes"]}
    delivered = orders[FIXTURES["delivered_order"]]
    assert (delivered["fulfillmentStatus"], delivered["financialStatus"]) == ("FULFILLED", "PAID")
    assert any(line["returnableQuantity"] > 0 for line in delivered["lines"])
    assert orders[FIXTURES["open_order"]]["status"] == "OPEN"
    assert all(ln["quantityShipped"] == 0 for ln in orders[FIXTURES["open_order"]]["lines"])
    partial = orders[FIXTURES["partially_shipped_order"]]
    assert partial["fulfillmentStatus"] == "PARTIALLY_FULFILLED"
    refunded = orders[FIXTURES["partially_refunded_order"]]
    assert refunded["financialStatus"] == "PARTIALLY_REFUNDED"
    assert orders[FIXTURES["cancelled_order"]]["status"] == "CANCELLED"


ELIGIBILITY = """query($n: String!) { returnEligibility(orderNumber: $n) {
  eligible reasons lines { eligible returnableQuantity reason } } }"""


@pytest.mark.parametrize(
    ("fixture", "eligible", "reason"),
    [
        ("delivered_order", True, None),
        ("expired_order", False, "RETURN_WINDOW_EXPIRED"),
        ("open_order", False, "NOT_DELIVERED"),
    ],
)
async def test_return_eligibility_of_the_fixture_orders(
    gql: Callable[..., Any], fixture: str, eligible: bool, reason: str | None
) -> None:
    body = await gql(ELIGIBILITY, {"n": FIXTURES[fixture]})
    result = body["data"]["returnEligibility"]
    assert result["eligible"] is eligible
    if reason is not None:
        assert reason in result["reasons"]
    if eligible:
        assert sum(line["returnableQuantity"] for line in result["lines"]) > 0


async def _upstream_requests(first: int) -> tuple[int, dict[str, int]]:
    """Run the 360 query on a fresh stack; (orders shown, API requests per upstream)."""
    sandbox = build(seed=42)
    names = ("erp", "wms", "servicedesk")
    transports = {name: httpx.ASGITransport(app=getattr(sandbox, name)) for name in names}
    app = create_app(
        Settings(max_query_cost=1_000_000, cost_bucket_size=10_000_000), transports=transports
    )
    async with app.router.lifespan_context(app):
        graph = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://graph")
        async with graph:
            response = await graph.post(
                "/graphql",
                json={"query": CUSTOMER_360, "variables": {"number": CUSTOMER, "first": first}},
            )
    body = response.json()
    assert "errors" not in body, body.get("errors")
    counts: dict[str, int] = {}
    for name in names:
        async with httpx.AsyncClient(transport=transports[name], base_url="http://sandbox") as http:
            counts[name] = (await http.get("/_sandbox/stats")).json()["requests"]
    return len(body["data"]["customer"]["orders"]["nodes"]), counts


async def test_upstream_requests_do_not_grow_with_the_number_of_orders_shown() -> None:
    few, few_requests = await _upstream_requests(first=3)
    many, many_requests = await _upstream_requests(first=50)
    assert (few, many) == (3, 14)
    assert many_requests == few_requests
    assert many_requests["wms"] == 1  # every order's shipments in one call
