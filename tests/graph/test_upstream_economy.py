"""Upstream economy of the benchmark's customer-360: counted calls, never wall-clock.

The graph runs on the real sandbox apps in process; the sandbox counts the HTTP requests it
receives. The stated minimum (`bench.workloads.MIN_360_REQUESTS`, justified there and in
docs/benchmark.md) is two dependency levels: one ERP `$batch` and one service-platform read
keyed by the customer number, then one ERP `$batch`, two WMS reads and one ticket listing
keyed by what came back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.workloads import CUSTOMER_360, MIN_360_REQUESTS
from graph.app import create_app
from graph.settings import Settings
from sandbox.apps import build

NAMES = ("erp", "wms", "servicedesk")


@dataclass
class Stack:
    """The graph over a fresh sandbox, and the sandbox's own request counts."""

    graph: httpx.AsyncClient
    sandbox: dict[str, httpx.AsyncClient]

    async def counts(self) -> dict[str, dict[str, Any]]:
        """Each upstream's `/_sandbox/stats`."""
        return {name: (await http.get("/_sandbox/stats")).json() for name, http in self.sandbox.items()}

    async def reset(self) -> None:
        """Zero every upstream's counters."""
        for http in self.sandbox.values():
            (await http.post("/_sandbox/stats/reset")).raise_for_status()

    async def customer_360(self, number: str, first: int) -> dict[str, Any]:
        """The benchmark's 360 for one customer; asserts a complete answer."""
        response = await self.graph.post(
            "/graphql", json={"query": CUSTOMER_360, "variables": {"number": number, "first": first}}
        )
        body = response.json()
        assert response.status_code == 200 and "errors" not in body, body.get("errors")
        assert body["data"]["customer"]["number"] == number
        return dict(body["data"]["customer"])


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    """A cold graph whose ERP company id is already known (read once per process)."""
    sandbox = build(seed=42)
    transports = {name: httpx.ASGITransport(app=getattr(sandbox, name)) for name in NAMES}
    # These tests count requests; the budget is lifted so that 64 queries sharing one
    # process on a busy machine cannot run out of time and fail on speed instead.
    settings = Settings(data_dir=tmp_path, max_query_cost=1_000_000, cost_bucket_size=100_000_000,
                        cost_restore_rate=1_000_000, request_budget_s=60.0)
    app = create_app(settings, transports=transports)
    async with app.router.lifespan_context(app):
        graph = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://graph")
        clients = {name: httpx.AsyncClient(transport=transports[name], base_url="http://s") for name in NAMES}
        async with graph:
            await app.state.sources.erp.company_id()
            yield Stack(graph, clients)
        for http in clients.values():
            await http.aclose()


async def test_a_cold_360_costs_the_stated_minimum_whatever_the_page_size(stack: Stack) -> None:
    requests = []
    for number, first in (("C-10001", 5), ("C-10002", 50)):
        await stack.reset()
        shown = await stack.customer_360(number, first)
        assert shown["orders"]["nodes"]
        requests.append({name: stats["requests"] for name, stats in (await stack.counts()).items()})
    assert requests[0] == requests[1] == MIN_360_REQUESTS


async def test_the_first_level_is_one_erp_batch_of_every_customer_keyed_read(stack: Stack) -> None:
    await stack.reset()
    await stack.customer_360("C-10001", 50)
    erp = (await stack.counts())["erp"]["by_route"]
    # Level 1 is one $batch (its inner requests are counted under their own routes):
    # customers, orders, invoices, returns and credit memos by customer number. Those answer
    # every order's returns and every invoice's memos too, so level 2 reads only the items,
    # one plain GET.
    assert erp["POST /api/v2.0/$batch"] == 1
    assert not [route for route in erp if route.startswith("GET") and "companies" not in route]
    for entity_set in ("customers", "salesOrders", "salesInvoices", "salesReturnOrders",
                       "salesCreditMemos", "items"):
        assert erp[f"GET /api/v2.0/companies({{id}})/{entity_set}"] == 1, entity_set


async def test_64_concurrent_identical_360s_cost_at_most_a_fifth_of_a_request_each(
    stack: Stack,
) -> None:
    await stack.reset()
    answers = await asyncio.gather(*(stack.customer_360("C-10003", 10) for _ in range(64)))
    assert all(answer == answers[0] for answer in answers)
    total = sum(stats["requests"] for stats in (await stack.counts()).values())
    assert total <= 0.2 * 64
    assert total <= sum(MIN_360_REQUESTS.values())


async def test_a_warm_360_asks_only_for_what_has_expired(stack: Stack) -> None:
    await stack.customer_360("C-10004", 10)
    await stack.reset()
    await stack.customer_360("C-10004", 10)
    assert sum(stats["requests"] for stats in (await stack.counts()).values()) == 0
