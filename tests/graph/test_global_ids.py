"""Global ids: opaque natural keys, node/nodes over every type, bad ids are BAD_USER_INPUT."""

from __future__ import annotations

import base64

import pytest
from fake_sources import FakeSources, build_dataset, codes, execute

from graph.errors import BadUserInput
from graph.types.common import decode_global_id, encode_global_id


def gid(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_ids_are_base64_of_type_and_natural_key() -> None:
    assert encode_global_id("Order", "SO-100001") == gid("Order:SO-100001")
    assert decode_global_id(gid("OrderLine:SO-100001:10000")) == ("OrderLine", "SO-100001:10000")


@pytest.mark.parametrize(
    "value",
    ["not base64!", gid("no-colon"), gid(":SO-1"), gid("Order:"), "", "T3JkZXI"],
)
def test_malformed_ids_are_bad_user_input(value: str) -> None:
    with pytest.raises(BadUserInput):
        decode_global_id(value)


def test_an_id_of_another_type_is_bad_user_input() -> None:
    with pytest.raises(BadUserInput, match="Customer id; expected a Order id"):
        decode_global_id(gid("Customer:C-1"), "Order")


NODE_QUERY = """
query($id: ID!) { node(id: $id) { __typename id
  ... on Customer { number } ... on Order { number } ... on OrderLine { lineNumber sku }
  ... on Invoice { number } ... on CreditMemo { number } ... on Refund { amount { amount } }
  ... on Return { rmaNumber } ... on Shipment { shipmentId } ... on Product { sku }
  ... on Location { code } ... on Case { subject } } }
"""


@pytest.mark.parametrize(
    ("key", "typename", "field", "value"),
    [
        ("Customer:C-1", "Customer", "number", "C-1"),
        ("Order:SO-10002", "Order", "number", "SO-10002"),
        ("OrderLine:SO-10002:20000", "OrderLine", "sku", "SKU-003"),
        ("Invoice:SI-10001", "Invoice", "number", "SI-10001"),
        ("CreditMemo:CM-10001", "CreditMemo", "number", "CM-10001"),
        ("Refund:CM-10001", "Refund", "amount", {"amount": "12.50"}),
        ("Return:RMA-10001", "Return", "rmaNumber", "RMA-10001"),
        ("Shipment:SO-10001:SHP-10001", "Shipment", "shipmentId", "SHP-10001"),
        ("Product:SKU-001", "Product", "sku", "SKU-001"),
        ("Location:LOC-02", "Location", "code", "SITE-2"),
        ("Case:501", "Case", "subject", "Broken toy"),
    ],
)
async def test_node_resolves_every_type_and_round_trips_its_id(
    key: str, typename: str, field: str, value: object
) -> None:
    result = await execute(FakeSources(build_dataset()), NODE_QUERY, {"id": gid(key)})
    assert result.errors is None
    node = result.data["node"]
    assert node["__typename"] == typename
    assert node[field] == value
    assert node["id"] == gid(key)


@pytest.mark.parametrize(
    "key",
    [
        "Order:SO-99999",
        "OrderLine:SO-10001:30000",
        "Shipment:SO-10001:SHP-nope",
        "Case:999",
        "Customer:C-9",
    ],
)
async def test_unknown_ids_are_null_not_errors(key: str) -> None:
    result = await execute(FakeSources(build_dataset()), NODE_QUERY, {"id": gid(key)})
    assert result.errors is None
    assert result.data == {"node": None}


@pytest.mark.parametrize(
    "value",
    [
        "%%%",
        gid("Money:1"),
        gid("OrderLine:SO-10001"),
        gid("OrderLine:SO-10001:abc"),
        gid("Case:abc"),
    ],
)
async def test_node_with_a_malformed_id_is_bad_user_input_without_upstream_calls(
    value: str,
) -> None:
    fake = FakeSources(build_dataset())
    result = await execute(fake, NODE_QUERY, {"id": value})
    assert codes(result) == [("node", "BAD_USER_INPUT")]
    assert result.data == {"node": None}
    assert not fake.calls


async def test_nodes_keeps_order_nulls_unknown_ids_and_batches_per_type() -> None:
    fake = FakeSources(build_dataset(orders_per_customer=3))
    ids = [gid("Order:SO-10003"), gid("Customer:C-1"), gid("Order:SO-404"), gid("Order:SO-10001")]
    result = await execute(
        fake,
        "query($ids: [ID!]!) { nodes(ids: $ids) { id ... on Order { number } } }",
        {"ids": ids},
    )
    assert result.errors is None
    assert [n and n["id"] for n in result.data["nodes"]] == [ids[0], ids[1], None, ids[3]]
    assert fake.calls["erp.orders_by_numbers"] == 1
    assert fake.calls["erp.customers_by_numbers"] == 1


async def test_nodes_fails_one_item_alone_when_its_source_is_down() -> None:
    fake = FakeSources(build_dataset())
    fake.fail("servicedesk.cases_by_ids")
    ids = [gid("Order:SO-10001"), gid("Case:501")]
    result = await execute(fake, "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": ids})
    assert result.data["nodes"][0] == {"id": ids[0]}
    assert result.data["nodes"][1] is None
    assert codes(result) == [("nodes.1", "SOURCE_UNAVAILABLE")]


async def test_nodes_refuses_more_than_250_ids() -> None:
    fake = FakeSources(build_dataset())
    ids = [gid(f"Order:SO-{n}") for n in range(251)]
    result = await execute(fake, "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", {"ids": ids})
    assert codes(result) == [("nodes", "BAD_USER_INPUT")]
    assert not fake.calls


async def test_typed_lookups_refuse_ids_of_other_types() -> None:
    result = await execute(
        FakeSources(build_dataset()),
        "query($id: ID) { order(id: $id) { number } }",
        {"id": gid("Customer:C-1")},
    )
    assert codes(result) == [("order", "BAD_USER_INPUT")]
    assert "Customer id" in result.errors[0].message


async def test_order_by_id_and_by_number_agree() -> None:
    fake = FakeSources(build_dataset())
    result = await execute(
        fake,
        "query($id: ID) { a: order(id: $id) { id number } "
        'b: order(number: "SO-10001") { id number } }',
        {"id": gid("Order:SO-10001")},
    )
    assert result.errors is None
    assert (
        result.data["a"] == result.data["b"] == {"id": gid("Order:SO-10001"), "number": "SO-10001"}
    )
    assert fake.calls["erp.orders_by_numbers"] == 1
