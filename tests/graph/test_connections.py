"""Cursor connections: default and maximum page size, opaque cursors, complete walks."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fake_sources import FakeSources, build_dataset, codes, execute

from graph.errors import BadUserInput
from graph.types.cases import decode_timeline_cursor, encode_timeline_cursor
from graph.types.common import PageRequest, decode_offset_cursor, encode_offset_cursor
from sources.records import OrderStatus

ORDERS = """
query($first: Int!, $after: String) { customer(number: "C-1") {
  orders(first: $first, after: $after) {
  totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  edges { cursor node { number } } nodes { number } } } }
"""


def test_offset_cursors_are_opaque_and_point_after_their_item() -> None:
    cursor = encode_offset_cursor(4)
    assert "4" not in cursor
    assert decode_offset_cursor(cursor) == 5
    assert decode_offset_cursor(None) == 0


@pytest.mark.parametrize("cursor", ["garbage", encode_timeline_cursor(1, "x"), "b2Zmc2V0Oi0x"])
def test_foreign_or_broken_cursors_are_bad_user_input(cursor: str) -> None:
    with pytest.raises(BadUserInput):
        decode_offset_cursor(cursor)


@pytest.mark.parametrize("first", [-1, 101])
def test_page_size_is_capped_at_100(first: int) -> None:
    with pytest.raises(BadUserInput, match="between 0 and 100"):
        PageRequest.parse(first, None)


def test_timeline_cursors_carry_the_upstream_cursor() -> None:
    assert decode_timeline_cursor(encode_timeline_cursor(3, "zd:abc")) == (3, "zd:abc")
    assert decode_timeline_cursor(encode_timeline_cursor(0, None)) == (0, None)
    with pytest.raises(BadUserInput):
        decode_timeline_cursor(encode_offset_cursor(2))


async def test_first_defaults_to_ten() -> None:
    result = await execute(
        FakeSources(build_dataset(orders_per_customer=12)),
        '{ customer(number: "C-1") { orders { totalCount nodes { number } '
        "pageInfo { hasNextPage } } } }",
    )
    orders = result.data["customer"]["orders"]
    assert (len(orders["nodes"]), orders["totalCount"], orders["pageInfo"]["hasNextPage"]) == (
        10,
        12,
        True,
    )


async def test_first_over_100_is_bad_user_input_before_any_upstream_call() -> None:
    fake = FakeSources(build_dataset())
    result = await execute(
        fake, '{ orders(customerNumber: "C-1", first: 101) { nodes { number } } }'
    )
    assert codes(result) == [("orders", "BAD_USER_INPUT")]
    assert not fake.calls


async def test_walking_pages_visits_every_order_once_newest_first() -> None:
    fake = FakeSources(build_dataset(orders_per_customer=7))
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        result = await execute(fake, ORDERS, {"first": 3, "after": after})
        assert result.errors is None
        page = result.data["customer"]["orders"]
        assert page["totalCount"] == 7
        assert [e["node"] for e in page["edges"]] == page["nodes"]
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        assert page["pageInfo"]["startCursor"] == page["edges"][0]["cursor"]
        seen += [n["number"] for n in page["nodes"]]
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert pages == 3
    assert seen == [f"SO-1{n:04d}" for n in range(1, 8)]


async def test_an_empty_page_has_no_cursors() -> None:
    result = await execute(FakeSources(build_dataset()), ORDERS, {"first": 0, "after": None})
    page = result.data["customer"]["orders"]
    assert page["edges"] == [] and page["totalCount"] == 3
    assert page["pageInfo"] == {
        "hasNextPage": True,
        "hasPreviousPage": False,
        "startCursor": None,
        "endCursor": None,
    }


async def test_customer_orders_filter_by_canonical_status() -> None:
    data = build_dataset(orders_per_customer=4)
    data.orders[1] = replace(data.orders[1], status=OrderStatus.OPEN)
    result = await execute(
        FakeSources(data),
        '{ customer(number: "C-1") { orders(status: OPEN) { '
        "totalCount nodes { number status } } } }",
    )
    assert result.data["customer"]["orders"] == {
        "totalCount": 1,
        "nodes": [{"number": data.orders[1].number, "status": "OPEN"}],
    }


async def test_company_wide_orders_page_through_the_upstream_window() -> None:
    fake = FakeSources(build_dataset(orders_per_customer=5))
    query = """query($after: String) { orders(first: 2, after: $after) {
      totalCount pageInfo { hasNextPage endCursor } nodes { number } } }"""
    first = await execute(fake, query, {"after": None})
    page = first.data["orders"]
    assert page["totalCount"] is None
    assert [n["number"] for n in page["nodes"]] == ["SO-10001", "SO-10002"]
    second = await execute(fake, query, {"after": page["pageInfo"]["endCursor"]})
    assert [n["number"] for n in second.data["orders"]["nodes"]] == ["SO-10003", "SO-10004"]
    assert ("erp.recent_orders", (3, 2)) in fake.log


async def test_company_wide_orders_with_a_status_scan_ahead_and_keep_positions() -> None:
    data = build_dataset(orders_per_customer=6)
    for index in (1, 4):
        data.orders[index] = replace(data.orders[index], status=OrderStatus.OPEN)
    fake = FakeSources(data)
    query = """query($after: String) { orders(first: 1, status: OPEN, after: $after) {
      pageInfo { hasNextPage endCursor } nodes { number } } }"""
    first = await execute(fake, query, {"after": None})
    assert [n["number"] for n in first.data["orders"]["nodes"]] == ["SO-10002"]
    assert first.data["orders"]["pageInfo"]["hasNextPage"] is True
    second = await execute(fake, query, {"after": first.data["orders"]["pageInfo"]["endCursor"]})
    assert [n["number"] for n in second.data["orders"]["nodes"]] == ["SO-10005"]
    assert second.data["orders"]["pageInfo"]["hasNextPage"] is False


async def test_customer_search_pages_with_one_upstream_call_per_page() -> None:
    fake = FakeSources(build_dataset(customers=5))
    result = await execute(
        fake,
        '{ customers(search: "customer", first: 2) { '
        "totalCount pageInfo { hasNextPage } nodes { number } } }",
    )
    assert result.data["customers"] == {
        "totalCount": None,
        "pageInfo": {"hasNextPage": True},
        "nodes": [{"number": "C-1"}, {"number": "C-2"}],
    }
    assert fake.log == [("erp.search_customers", ("customer", 3, 0))]


async def test_timeline_walks_every_comment_through_the_upstream_cursor() -> None:
    fake = FakeSources(build_dataset())
    query = """query($after: String) { case(number: "501") { timeline(first: 2, after: $after) {
      totalCount pageInfo { hasNextPage endCursor } nodes { body } } } }"""
    bodies: list[str] = []
    after = None
    while True:
        result = await execute(fake, query, {"after": after})
        assert result.errors is None
        timeline = result.data["case"]["timeline"]
        assert timeline["totalCount"] is None
        bodies += [n["body"] for n in timeline["nodes"]]
        if not timeline["pageInfo"]["hasNextPage"]:
            break
        after = timeline["pageInfo"]["endCursor"]
    assert bodies == [f"comment {i}" for i in range(5)]
    upstream_cursors = [args[2] for name, args in fake.log if name == "servicedesk.case_comments"]
    assert upstream_cursors == [None, "zd-2", "zd-4"]


async def test_timeline_can_resume_from_a_cursor_inside_a_page() -> None:
    fake = FakeSources(build_dataset())
    first = await execute(
        fake, '{ case(number: "501") { timeline(first: 3) { edges { cursor node { body } } } } }'
    )
    middle = first.data["case"]["timeline"]["edges"][0]["cursor"]
    result = await execute(
        fake,
        'query($after: String) { case(number: "501") { '
        "timeline(first: 2, after: $after) { nodes { body } } } }",
        {"after": middle},
    )
    assert [n["body"] for n in result.data["case"]["timeline"]["nodes"]] == [
        "comment 1",
        "comment 2",
    ]
