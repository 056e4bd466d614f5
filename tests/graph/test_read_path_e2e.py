"""The read path end to end: the entity cache, single-flight and paging, as an agent meets them.

Upstream work is read from the sandbox's own `/_sandbox/stats`, never from our counters.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx
import pytest
from security_support import upstream_requests, upstream_routes

from graph.settings import Settings
from sandbox.seed import FIXTURES

CUSTOMER_360 = """
query($number: String!) { customer(number: $number) {
  name balance { amount }
  orders(first: 10) { nodes { number status total { amount }
    lines { sku quantity product { name totalAvailable } }
    shipments { status } invoices { number balance { amount } } } }
  cases(first: 10) { nodes { number status } }
} }
"""
ORDER_PAGE = """
query($number: String!, $after: String) { customer(number: $number) {
  orders(first: 3, after: $after) { totalCount pageInfo { hasNextPage endCursor } nodes { number } }
} }
"""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The default settings, with room in the budget for repeated 360s."""
    return replace(settings, cost_bucket_size=1_000_000, cost_restore_rate=1_000_000)


def _erp_document_routes(routes: dict[str, int]) -> dict[str, int]:
    """ERP reads of customers and sales documents (the `$batch` carries them too)."""
    return {
        route: count
        for route, count in routes.items()
        if route.startswith("erp ") and any(
            name in route for name in ("customers", "salesOrders", "salesInvoices", "$batch")
        )
    }


async def test_a_second_identical_query_within_the_ttl_asks_the_erp_nothing(
    gql: Callable[..., Any], sandbox: Any
) -> None:
    first = await gql(CUSTOMER_360, {"number": FIXTURES["customer"]})
    assert "errors" not in first and first["data"]["customer"]["name"] == "Ada Lovelace"
    before = await upstream_routes(sandbox)
    assert _erp_document_routes(before), "the first query must have read the ERP"
    second = await gql(CUSTOMER_360, {"number": FIXTURES["customer"]})
    after = await upstream_routes(sandbox)
    assert second["data"] == first["data"]
    assert _erp_document_routes(after) == _erp_document_routes(before)


async def test_concurrent_identical_queries_share_their_upstream_calls(
    client: httpx.AsyncClient, sandbox: Any, graph_app: Any
) -> None:
    # One query alone, on a fresh cache, sets the yardstick...
    for source in graph_app.state.sources:
        source.caches.clear()
    body = {"query": CUSTOMER_360, "variables": {"number": "C-10002"}}
    await client.post("/graphql", json=body)
    alone = await upstream_requests(sandbox)
    for source in graph_app.state.sources:
        source.caches.clear()
    # ...then ten at once on a fresh cache make no more upstream requests than it did.
    responses = await asyncio.gather(*(client.post("/graphql", json=body) for _ in range(10)))
    assert all(r.status_code == 200 and "errors" not in r.json() for r in responses)
    assert await upstream_requests(sandbox) - alone <= alone


async def test_paging_walks_every_order_once(gql: Callable[..., Any], sandbox: Any) -> None:
    seen: list[str] = []
    after = None
    while True:
        page = (await gql(ORDER_PAGE, {"number": FIXTURES["customer"], "after": after}))["data"]
        orders = page["customer"]["orders"]
        seen += [node["number"] for node in orders["nodes"]]
        if not orders["pageInfo"]["hasNextPage"]:
            break
        after = orders["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == orders["totalCount"] >= 12
