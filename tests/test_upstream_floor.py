"""bench/upstream_floor.py reads exactly what the graph's cold 360 reads, so its p50 is a floor.

The sandbox apps are served over real TCP (the floor's aiohttp sessions need sockets); the
graph reads the same apps in process. Both are compared by the sandbox's own per-route
request counts, the `$batch`'s inner requests included.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from bench.upstream_floor import UpstreamFloor
from bench.workloads import CUSTOMER_360, MIN_360_REQUESTS
from graph.app import create_app
from graph.settings import Settings
from sandbox.apps import SandboxApps, build
from tests.free_ports import free_port_base

NAMES = ("erp", "wms", "servicedesk")


@pytest.fixture
async def served() -> AsyncIterator[tuple[SandboxApps, dict[str, str]]]:
    """One seeded sandbox, its three apps listening on loopback ports."""
    sandbox = build(seed=42)
    base = free_port_base(3)
    servers = [uvicorn.Server(uvicorn.Config(getattr(sandbox, name), host="127.0.0.1", port=base + offset,
                                             log_level="warning", lifespan="off"))
               for offset, name in enumerate(NAMES)]
    tasks = [asyncio.create_task(server.serve()) for server in servers]
    while not all(server.started for server in servers):
        assert not any(task.done() for task in tasks), "a sandbox app did not start"
        await asyncio.sleep(0.02)
    try:
        yield sandbox, {name: f"http://127.0.0.1:{base + offset}" for offset, name in enumerate(NAMES)}
    finally:
        for server in servers:
            server.should_exit = True
        await asyncio.gather(*tasks)


async def _routes(sandbox: SandboxApps) -> dict[str, dict[str, int]]:
    """Each app's requests by route since the last reset; then resets them."""
    found = {}
    for name in NAMES:
        transport = httpx.ASGITransport(app=getattr(sandbox, name))
        async with httpx.AsyncClient(transport=transport, base_url="http://s") as http:
            found[name] = (await http.get("/_sandbox/stats")).json()["by_route"]
            (await http.post("/_sandbox/stats/reset")).raise_for_status()
    return found


async def test_the_floor_makes_the_six_requests_of_a_cold_360_and_reads_the_same_page(
    served: tuple[SandboxApps, dict[str, str]], tmp_path: Path,
) -> None:
    sandbox, urls = served
    transports = {name: httpx.ASGITransport(app=getattr(sandbox, name)) for name in NAMES}
    app = create_app(Settings(data_dir=tmp_path, max_query_cost=1_000_000), transports=transports)
    floor = UpstreamFloor(urls)
    await floor.start()  # reads the ERP company once, as the graph does per process
    try:
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://graph") as graph:
            await app.state.sources.erp.company_id()
            for number, first in (("C-10001", 10), ("C-10002", 5), ("C-10007", 50)):
                await _routes(sandbox)
                response = await graph.post("/graphql", json={
                    "query": CUSTOMER_360, "variables": {"number": number, "first": first}})
                body: dict[str, Any] = response.json()
                assert "errors" not in body, body["errors"]
                graph_routes = await _routes(sandbox)

                answer = await floor.answer(number, first)
                assert await _routes(sandbox) == graph_routes
                orders = body["data"]["customer"]["orders"]["nodes"]
                skus = {line["sku"] for order in orders for line in order["lines"]}
                assert (answer["orders"], answer["skus"]) == (len(orders), len(skus)) != (0, 0)
                assert answer["requests"] == sum(MIN_360_REQUESTS.values())
                assert answer["cases"] == len(body["data"]["customer"]["cases"]["nodes"])
    finally:
        await floor.stop()
