"""Machinery every sandbox app shares: stats, faults, quotas, headers and write logs."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

import sandbox
from sandbox import common as common_module
from sandbox import erp as erp_module
from sandbox import servicedesk as servicedesk_module
from sandbox import wms as wms_module
from sandbox.apps import SandboxApps
from sandbox.common import RateLimiter
from sandbox.seed import FIXTURES

# One cheap authenticated API call per app, and how each product words a 503.
PROBES = {"erp": "/api/v2.0/companies", "wms": "/v1/locations",
          "servicedesk": f"/api/v2/tickets/{FIXTURES['open_ticket_id']}.json"}


def unavailable(name: str, body: object) -> bool:
    assert isinstance(body, dict)
    if name == "erp":
        return body["error"]["code"] == "ServiceUnavailable"
    if name == "wms":
        return body["error"]["type"] == "unavailable"
    return body["error"] == "ServiceUnavailable"


async def test_stats_count_api_calls_by_route_template(erp: httpx.AsyncClient, company: str,
                                                       wms: httpx.AsyncClient) -> None:
    ids = [FIXTURES["open_order"], FIXTURES["partially_shipped_order"]]
    for number in ids:
        await erp.get(f"{company}/salesOrders", params={"$filter": f"number eq '{number}'"})
    order = (await erp.get(f"{company}/salesOrders")).json()["value"][0]
    await erp.get(f"{company}/salesOrders({order['id']})/salesOrderLines")
    await erp.get("/_sandbox/faults")  # control calls are not counted
    stats = (await erp.get("/_sandbox/stats")).json()
    assert stats == {"requests": 4, "by_route": {
        "GET /api/v2.0/companies({id})/salesOrders": 3,
        "GET /api/v2.0/companies({id})/salesOrders({id})/salesOrderLines": 1}}
    await wms.get("/v1/reservations/RSV-000001")
    await wms.get("/v1/reservations/RSV-000002")
    assert (await wms.get("/_sandbox/stats")).json()["by_route"] == {
        "GET /v1/reservations/{reservation_id}": 2}


async def test_stats_reset(erp: httpx.AsyncClient) -> None:
    await erp.get("/api/v2.0/companies")
    assert (await erp.get("/_sandbox/stats")).json()["requests"] == 1
    reset = await erp.post("/_sandbox/stats/reset")
    assert reset.json() == {"requests": 0, "by_route": {}}
    assert (await erp.get("/_sandbox/stats")).json() == {"requests": 0, "by_route": {}}


@pytest.mark.parametrize("name", sorted(PROBES))
async def test_outage_makes_every_api_call_503(connect: Callable[..., httpx.AsyncClient],
                                               name: str) -> None:
    client = connect(name)
    assert (await client.get("/_sandbox/faults")).json() == {
        "latency_ms": 0, "error_rate": 0.0, "outage": False}
    changed = await client.put("/_sandbox/faults", json={"outage": True})
    assert changed.json() == {"latency_ms": 0, "error_rate": 0.0, "outage": True}
    down = await client.get(PROBES[name])
    assert down.status_code == 503 and unavailable(name, down.json())
    assert (await client.get("/_sandbox/stats")).status_code == 200  # control stays up
    await client.put("/_sandbox/faults", json={"outage": False})
    assert (await client.get(PROBES[name])).status_code == 200


async def test_error_rate_is_seeded_and_proportional(erp: httpx.AsyncClient) -> None:
    async def run() -> list[int]:
        await erp.put("/_sandbox/faults", json={"error_rate": 0.3})
        return [(await erp.get(PROBES["erp"])).status_code for _ in range(200)]

    first = await run()
    assert set(first) == {200, 503}
    assert 30 <= first.count(503) <= 90
    assert await run() == first  # the same setting draws the same failures
    await erp.put("/_sandbox/faults", json={"error_rate": 1.0})
    assert (await erp.get(PROBES["erp"])).status_code == 503


async def test_latency_is_added_to_api_calls_only(
    wms: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    delays: list[float] = []

    async def recording_sleep(seconds: float) -> None:
        delays.append(seconds)

    # Only the sandbox's own view of asyncio: the delay asked for, not wall time.
    monkeypatch.setattr(common_module, "asyncio", SimpleNamespace(sleep=recording_sleep))
    await wms.put("/_sandbox/faults", json={"latency_ms": 120})
    assert (await wms.get(PROBES["wms"])).status_code == 200
    await wms.get("/_sandbox/stats")  # control endpoints are never delayed
    assert delays == [0.12]


@pytest.mark.parametrize("body", [{"outage": "yes"}, {"error_rate": 2}, {"latency_ms": -1},
                                  {"latency_ms": True}, {"surprise": 1}, [1]])
async def test_bad_fault_settings_are_refused(erp: httpx.AsyncClient, body: object) -> None:
    response = await erp.put("/_sandbox/faults", json=body)
    assert response.status_code == 400
    assert (await erp.get("/_sandbox/faults")).json()["outage"] is False


@pytest.mark.parametrize(("name", "factory"), [("erp", erp_module.create_app),
                                               ("wms", wms_module.create_app),
                                               ("servicedesk", servicedesk_module.create_app)])
async def test_quota_429_with_retry_after(world: SandboxApps, name: str,
                                          factory: Callable[..., object]) -> None:
    app = factory(world.data, rate_limit=3, rate_window_seconds=30)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
                                 base_url="http://x",
                                 headers={"Authorization": "Bearer sandbox-token"}) as client:
        statuses = [(await client.get(PROBES[name])).status_code for _ in range(3)]
        limited = await client.get(PROBES[name])
        assert statuses == [200, 200, 200]
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["Retry-After"]) <= 30
        state = (await client.get("/_sandbox/rate-limit")).json()
        assert (state["limit"], state["remaining"]) == (3, 0)
        await client.put("/_sandbox/rate-limit", json={"limit": 10})
        assert (await client.get(PROBES[name])).status_code == 200


def test_rate_limiter_window_reopens() -> None:
    now = [100.0]
    limiter = RateLimiter(2, 10, clock=lambda: now[0])
    assert limiter.hit("t") == (True, 0) and limiter.hit("t") == (True, 0)
    assert limiter.hit("t") == (False, 10)
    now[0] = 107.5
    assert limiter.hit("t") == (False, 3)
    now[0] = 110.0
    assert limiter.hit("t") == (True, 0) and limiter.remaining("t") == 1


async def test_last_headers_show_what_the_client_sent(erp: httpx.AsyncClient) -> None:
    assert (await erp.get("/_sandbox/last-headers")).json() == {}
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    await erp.get(PROBES["erp"], headers={"traceparent": traceparent, "Idempotency-Key": "k1"})
    await erp.get("/_sandbox/stats")
    seen = (await erp.get("/_sandbox/last-headers")).json()
    assert seen["traceparent"] == traceparent and seen["idempotency-key"] == "k1"
    assert seen["authorization"] == "Bearer sandbox-token"


async def test_idempotency_key_longer_than_255_is_refused(wms: httpx.AsyncClient) -> None:
    response = await wms.post("/v1/reservations", headers={"Idempotency-Key": "k" * 256},
                              json={"sku": "SKU-00001", "location_id": "LOC-01", "quantity": 1,
                                    "reference": "x"})
    assert response.status_code == 400
    assert (await wms.get("/_sandbox/writes")).json() == []


async def test_refused_writes_are_not_stored_so_the_key_can_be_retried(
        wms: httpx.AsyncClient, world: SandboxApps) -> None:
    level = world.data.inventory["SKU-00001"]["LOC-01"]
    body = {"sku": "SKU-00001", "location_id": "LOC-01", "quantity": level["available"] + 1,
            "reference": "SO-R"}
    headers = {"Idempotency-Key": "retry-me"}
    assert (await wms.post("/v1/reservations", json=body, headers=headers)).status_code == 409
    level["on_hand"] += 1
    level["available"] += 1
    retried = await wms.post("/v1/reservations", json=body, headers=headers)
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers


def test_sandbox_imports_nothing_of_the_app() -> None:
    package = Path(sandbox.__file__).parent
    imported: set[str] = set()
    for module in package.glob("*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module.split(".")[0])
    assert "sandbox" in imported and "starlette" in imported
    assert not imported & {"graph", "resolvers", "sources", "orchestrator", "bench"}
