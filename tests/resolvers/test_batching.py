"""The customer-360 query stays batched: one upstream call per level, whatever the page size."""

from __future__ import annotations

import pytest
from fake_sources import DEVELOPER, FakeSources, build_dataset, execute

from graph.context import build_context
from graph.schema import schema
from graph.settings import Settings
from resolvers.nodes import InvalidNodeKey, check_key, split_key

CUSTOMER_360 = """
query($first: Int!) { customer(number: "C-1") {
  number name email loyalty { tier points } creditLimit { amount } balance { amount }
  orders(first: $first) { totalCount nodes {
    number status financialStatus fulfillmentStatus total { amount }
    lines {
      sku quantityShipped quantityReturned returnableQuantity product { name totalAvailable } }
    invoices { number balance { amount } creditMemos { number } }
    shipments { status location { name } lines { quantity } }
    returns { rmaNumber refund { status } case { number } }
    cases { number timeline(first: 2) { nodes { body } } }
  } }
  invoices(first: $first) { nodes { number } }
  returns { nodes { rmaNumber } }
  cases { nodes { number status } }
} }
"""

EXPECTED_CALLS = {
    "erp.customers_by_numbers": 1,
    "erp.orders_by_customer_numbers": 1,
    "erp.invoices_by_customer_numbers": 1,
    "erp.returns_by_customer_numbers": 1,
    "erp.invoices_by_order_numbers": 1,
    "erp.returns_by_order_numbers": 1,
    "erp.credit_memos_by_invoice_numbers": 1,
    "erp.credit_memos_by_return_numbers": 1,
    "erp.products_by_skus": 1,
    "wms.shipments_by_order_numbers": 1,
    "wms.inventory_levels": 1,
    "wms.locations": 1,
    "servicedesk.profiles_by_customer_numbers": 1,
    "servicedesk.cases_by_customer_numbers": 1,
    "servicedesk.case_comments": 1,
}


async def test_fifty_orders_cost_one_call_per_upstream_method() -> None:
    fake = FakeSources(build_dataset(orders_per_customer=50))
    result = await execute(fake, CUSTOMER_360, {"first": 50})
    assert result.errors is None
    orders = result.data["customer"]["orders"]["nodes"]
    assert len(orders) == 50
    assert dict(fake.calls) == EXPECTED_CALLS
    order_numbers = next(
        args[0] for name, args in fake.log if name == "wms.shipments_by_order_numbers"
    )
    assert sorted(order_numbers) == sorted(o["number"] for o in orders)


async def test_page_size_does_not_change_the_number_of_upstream_calls() -> None:
    counts = []
    for first in (5, 50):
        fake = FakeSources(build_dataset(orders_per_customer=50))
        result = await execute(fake, CUSTOMER_360, {"first": first})
        assert result.errors is None
        assert len(result.data["customer"]["orders"]["nodes"]) == first
        counts.append(dict(fake.calls))
    assert counts[0] == counts[1] == EXPECTED_CALLS


async def test_several_customers_in_one_query_share_each_batch() -> None:
    fake = FakeSources(build_dataset(orders_per_customer=4, customers=3))
    query = " ".join(
        f'c{n}: customer(number: "C-{n}") '
        "{ orders { nodes { fulfillmentStatus shipments { status } } } }"
        for n in (1, 2, 3)
    )
    result = await execute(fake, f"{{ {query} }}")
    assert result.errors is None
    assert fake.calls["erp.customers_by_numbers"] == 1
    assert fake.calls["erp.orders_by_customer_numbers"] == 1
    assert fake.calls["wms.shipments_by_order_numbers"] == 1
    shipped_for = next(
        args[0] for name, args in fake.log if name == "wms.shipments_by_order_numbers"
    )
    assert len(shipped_for) == 12


async def test_without_batching_the_same_query_makes_a_call_per_object() -> None:
    fake = FakeSources(build_dataset(orders_per_customer=5))
    context = build_context(fake, Settings(batching=False), principal=DEVELOPER)
    result = await schema.execute(CUSTOMER_360, variable_values={"first": 5}, context_value=context)
    assert result.errors is None
    assert fake.calls["wms.shipments_by_order_numbers"] > 5


def test_composite_keys_split_on_the_last_colon() -> None:
    assert split_key("OrderLine", "SO-1:10000") == ("SO-1", "10000")
    assert split_key("Shipment", "SO-1:SHP-9") == ("SO-1", "SHP-9")


@pytest.mark.parametrize(
    ("type_name", "key"),
    [
        ("OrderLine", "SO-1"),
        ("OrderLine", "SO-1:0"),
        ("OrderLine", ":10000"),
        ("Case", "12a"),
        ("Shipment", "SHP"),
        ("Order", " "),
    ],
)
def test_keys_that_cannot_name_a_record_are_refused(type_name: str, key: str) -> None:
    with pytest.raises(InvalidNodeKey):
        check_key(type_name, key)
