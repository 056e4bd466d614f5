"""`POST /webhooks/{source}`: signatures, replay protection, and upstream changes made fresh.

The sandbox apps send their real signed webhooks to the graph (in process), so a change made
directly in an upstream, not through the graph, reaches the graph's caches and subscribers.
Entity TTLs are long here: only an invalidation can explain a fresh answer.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from workflow_support import CASE, Socket, gid

from graph.settings import Settings
from sandbox.apps import SandboxApps, build

SECRET = "sandbox-webhook-secret"
SKU_QUERY = "query($skus: [String!]!) { inventory(skus: $skus) { location { id } reserved } }"
CASE_QUERY = "query($id: ID!) { case(id: $id) { number status sourceStatus } }"
ORDERS_QUERY = 'query { customer(number: "C-10001") { orders(first: 1) { nodes { number } } } }'


@dataclass(frozen=True)
class LongTtlSettings(Settings):
    """Settings whose entity caches stay fresh for an hour."""

    cache_ttl_s: dict[str, float] = field(default_factory=lambda: {
        family: 3600.0 for family in ("inventory", "cases", "orders", "invoices", "customers")})


class LateTransport(httpx.AsyncBaseTransport):
    """The sandbox's way to the graph app, which exists only after the sandbox does."""

    def __init__(self) -> None:
        self.app: Starlette | None = None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert self.app is not None, "the graph app is not wired yet"
        return await httpx.ASGITransport(app=self.app).handle_async_request(request)


@pytest.fixture
def hook() -> LateTransport:
    return LateTransport()


@pytest.fixture
def sandbox(hook: LateTransport) -> SandboxApps:
    """The sandbox, sending every upstream's webhooks to the graph."""
    return build(seed=42, erp_webhook_url="http://graph/webhooks/erp",
                 wms_webhook_url="http://graph/webhooks/wms",
                 servicedesk_webhook_url="http://graph/webhooks/servicedesk",
                 webhook_secret=SECRET, webhook_transport=hook)


@pytest.fixture
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    return LongTtlSettings(data_dir=tmp_path / "data", **getattr(request, "param", {}))


@pytest.fixture(autouse=True)
def wired(hook: LateTransport, graph_app: Starlette) -> None:
    hook.app = graph_app


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def wms_body(sku: str, *, event_id: str = "evt_1", at: datetime | None = None) -> bytes:
    return json.dumps({"id": event_id, "type": "inventory_level.updated",
                       "created_at": stamp(at or datetime.now(UTC)),
                       "data": {"sku": sku, "location_id": "LOC-01", "on_hand": 1, "reserved": 0,
                                "available": 1}}).encode()


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {"X-Signature": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
            "Content-Type": "application/json"}


def zendesk_signed(body: bytes, at: datetime, secret: str = SECRET) -> dict[str, str]:
    signed_at = stamp(at)
    digest = hmac.new(secret.encode(), signed_at.encode() + body, hashlib.sha256).digest()
    return {"X-Zendesk-Webhook-Signature": base64.b64encode(digest).decode(),
            "X-Zendesk-Webhook-Signature-Timestamp": signed_at}


def ticket_event(ticket: str, *, event_id: str = "5f0c8d1e-0000-4000-8000-000000000001") -> bytes:
    return json.dumps({"account_id": 1, "id": event_id, "type": "zen:event-type:ticket.status_changed",
                       "subject": f"zen:ticket:{ticket}", "time": stamp(datetime.now(UTC)),
                       "detail": {"id": ticket, "status": "PENDING"},
                       "event": {"current": "PENDING", "previous": "OPEN"}}).encode()


async def stats(upstream: Callable[[str], httpx.AsyncClient], name: str) -> int:
    async with upstream(name) as raw:
        return int((await raw.get("/_sandbox/stats")).json()["requests"])


async def stocked(upstream: Callable[[str], httpx.AsyncClient]) -> dict[str, Any]:
    async with upstream("wms") as raw:
        body = (await raw.get("/v1/inventory-levels", params={"skus": "SKU-00007"})).json()
    return max(body["inventory_levels"], key=lambda level: level["available"])


async def reserve(upstream: Callable[[str], httpx.AsyncClient], level: dict[str, Any]) -> None:
    """Hold one unit directly in the WMS, not through the graph."""
    async with upstream("wms") as raw:
        response = await raw.post("/v1/reservations", json={
            "sku": level["sku"], "location_id": level["location_id"], "quantity": 1, "reference": "ELSEWHERE"})
    assert response.status_code == 201, response.text


async def listening(app: Starlette, topic: str) -> None:
    """Wait until a subscription is on the bus: a change before that would not reach it."""
    bus = app.state.orchestrator.bus
    async with asyncio.timeout(10):
        while bus.subscriber_count(topic) == 0:
            await asyncio.sleep(0.01)


def reserved_at(body: dict[str, Any], location: str) -> int:
    levels = {row["location"]["id"]: row["reserved"] for row in body["data"]["inventory"]}
    return int(levels[gid("Location", location)])


# ── authenticity and shape ────────────────────────────────────────────────────────────────────

async def test_a_correctly_signed_webhook_is_applied(client: httpx.AsyncClient) -> None:
    body = wms_body("SKU-00001")
    response = await client.post("/webhooks/wms", content=body, headers=signed(body))
    assert response.status_code == 200
    assert response.json() == {"received": 1, "applied": 1, "duplicates": 0}


@pytest.mark.parametrize("headers", [
    {}, {"X-Signature": "sha256=" + "0" * 64}, {"X-Signature": "garbage"},
], ids=["missing", "wrong", "garbled"])
async def test_a_missing_or_bad_signature_is_401(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    body = wms_body("SKU-00001")
    assert (await client.post("/webhooks/wms", content=body, headers=headers)).status_code == 401
    erp = b'{"value": []}'
    assert (await client.post("/webhooks/erp", content=erp, headers=headers)).status_code == 401


async def test_a_body_signed_with_another_secret_is_401(client: httpx.AsyncClient) -> None:
    body = wms_body("SKU-00001")
    response = await client.post("/webhooks/wms", content=body, headers=signed(body, "not-the-secret"))
    assert response.status_code == 401


async def test_zendesk_signatures_cover_the_timestamp(client: httpx.AsyncClient) -> None:
    body = ticket_event(str(CASE))
    now = datetime.now(UTC)
    good = zendesk_signed(body, now)
    assert (await client.post("/webhooks/servicedesk", content=body, headers=good)).status_code == 200
    moved = {**good, "X-Zendesk-Webhook-Signature-Timestamp": stamp(now + timedelta(seconds=1))}
    assert (await client.post("/webhooks/servicedesk", content=body, headers=moved)).status_code == 401
    assert (await client.post("/webhooks/servicedesk", content=body)).status_code == 401


@pytest.mark.parametrize("body", [
    b"not json", b"[]", b'{"type": "inventory_level.updated"}',
    b'{"type": "inventory_level.updated", "created_at": "yesterday", "data": {"sku": "SKU-00001"}}',
], ids=["not-json", "not-object", "no-data", "bad-time"])
async def test_a_signed_but_malformed_body_is_400(client: httpx.AsyncClient, body: bytes) -> None:
    assert (await client.post("/webhooks/wms", content=body, headers=signed(body))).status_code == 400


async def test_a_malformed_business_central_notification_is_400(client: httpx.AsyncClient) -> None:
    body = json.dumps({"value": [{"resource": "api/v2.0/nowhere", "changeType": "updated",
                                  "lastModifiedDateTime": stamp(datetime.now(UTC))}]}).encode()
    assert (await client.post("/webhooks/erp", content=body, headers=signed(body))).status_code == 400


async def test_an_unknown_source_is_404(client: httpx.AsyncClient) -> None:
    body = b"{}"
    assert (await client.post("/webhooks/crm", content=body, headers=signed(body))).status_code == 404


async def test_business_centrals_subscription_handshake_is_answered(client: httpx.AsyncClient) -> None:
    response = await client.post("/webhooks/erp", params={"validationToken": "tok-123"})
    assert response.status_code == 200 and response.text == "tok-123"


# ── replay protection ─────────────────────────────────────────────────────────────────────────

async def test_an_old_signed_event_is_refused_as_a_replay(client: httpx.AsyncClient) -> None:
    old = datetime.now(UTC) - timedelta(hours=1)
    body = wms_body("SKU-00001", at=old)
    assert (await client.post("/webhooks/wms", content=body, headers=signed(body))).status_code == 401
    ticket = ticket_event(str(CASE))
    headers = zendesk_signed(ticket, old)
    assert (await client.post("/webhooks/servicedesk", content=ticket, headers=headers)).status_code == 401


async def test_a_repeated_event_id_is_acknowledged_but_not_applied_again(
    client: httpx.AsyncClient, gql: Callable[..., Any], upstream: Callable[[str], httpx.AsyncClient]
) -> None:
    body = wms_body("SKU-00007", event_id="evt_once")
    assert (await client.post("/webhooks/wms", content=body, headers=signed(body))).json()["applied"] == 1
    await gql(SKU_QUERY, {"skus": ["SKU-00007"]})
    before = await stats(upstream, "wms")
    again = await client.post("/webhooks/wms", content=body, headers=signed(body))
    assert again.status_code == 200 and again.json() == {"received": 1, "applied": 0, "duplicates": 1}
    await gql(SKU_QUERY, {"skus": ["SKU-00007"]})
    assert await stats(upstream, "wms") == before  # the replay invalidated nothing


# ── upstream changes reach the graph ─────────────────────────────────────────────────────────

async def test_a_stock_change_in_the_wms_invalidates_the_cached_levels(
    gql: Callable[..., Any], upstream: Callable[[str], httpx.AsyncClient]
) -> None:
    level = await stocked(upstream)
    first = await gql(SKU_QUERY, {"skus": [level["sku"]]})
    calls = await stats(upstream, "wms")
    await gql(SKU_QUERY, {"skus": [level["sku"]]})
    assert await stats(upstream, "wms") == calls  # cached

    await reserve(upstream, level)  # the WMS posts its signed webhook to the graph
    calls = await stats(upstream, "wms")
    fresh = await gql(SKU_QUERY, {"skus": [level["sku"]]})
    assert await stats(upstream, "wms") == calls + 1
    assert reserved_at(fresh, level["location_id"]) == reserved_at(first, level["location_id"]) + 1


@pytest.mark.parametrize("settings", [{"wms_webhook_secret": "rotated"}], indirect=True)
async def test_a_webhook_the_graph_cannot_verify_changes_nothing(
    gql: Callable[..., Any], upstream: Callable[[str], httpx.AsyncClient]
) -> None:
    level = await stocked(upstream)
    first = await gql(SKU_QUERY, {"skus": [level["sku"]]})
    await reserve(upstream, level)
    again = await gql(SKU_QUERY, {"skus": [level["sku"]]})
    assert reserved_at(again, level["location_id"]) == reserved_at(first, level["location_id"])


async def test_a_ticket_change_in_the_service_desk_invalidates_the_case(
    gql: Callable[..., Any], upstream: Callable[[str], httpx.AsyncClient]
) -> None:
    variables = {"id": gid("Case", CASE)}
    assert (await gql(CASE_QUERY, variables))["data"]["case"]["sourceStatus"] == "open"
    async with upstream("servicedesk") as raw:
        response = await raw.put(f"/api/v2/tickets/{CASE}.json", json={"ticket": {"status": "pending"}})
    assert response.status_code == 200
    calls = await stats(upstream, "servicedesk")
    case = (await gql(CASE_QUERY, variables))["data"]["case"]
    assert case["status"] == "PENDING" and case["sourceStatus"] == "pending"
    assert await stats(upstream, "servicedesk") > calls


async def test_an_order_created_in_the_erp_invalidates_the_customers_orders(
    gql: Callable[..., Any], upstream: Callable[[str], httpx.AsyncClient]
) -> None:
    before = (await gql(ORDERS_QUERY))["data"]["customer"]["orders"]["nodes"][0]["number"]
    calls = await stats(upstream, "erp")
    assert (await gql(ORDERS_QUERY))["data"]["customer"]["orders"]["nodes"][0]["number"] == before
    assert await stats(upstream, "erp") == calls  # cached
    async with upstream("erp") as raw:
        company = (await raw.get("/api/v2.0/companies")).json()["value"][0]["id"]
        response = await raw.post(f"/api/v2.0/companies({company})/salesOrders", json={
            "customerNumber": "C-10001", "externalDocumentNumber": "PHONE-1",
            "salesOrderLines": [{"lineObjectNumber": "SKU-00007", "quantity": 1}]})
    assert response.status_code == 201, response.text
    created = response.json()["number"]
    assert (await gql(ORDERS_QUERY))["data"]["customer"]["orders"]["nodes"][0]["number"] == created


# ── subscriptions hear upstream changes ───────────────────────────────────────────────────────

async def test_inventory_changed_fires_on_a_change_made_in_the_wms(
    graph_app: Starlette, upstream: Callable[[str], httpx.AsyncClient]
) -> None:
    level = await stocked(upstream)
    async with Socket(graph_app) as ws:
        await ws.subscribe("subscription($skus: [String!]!) { inventoryChanged(skus: $skus) "
                           "{ sku location { id } reserved } }", {"skus": [level["sku"]]})
        await listening(graph_app, f"inventory:{level['sku']}")
        await reserve(upstream, level)
        message = await ws.receive_json()
        assert message["type"] == "next", message
        levels = {row["location"]["id"]: row["reserved"] for row in message["payload"]["data"]["inventoryChanged"]}
        assert levels[gid("Location", level["location_id"])] == level["reserved"] + 1
        await ws.send_json({"id": "1", "type": "complete"})


async def test_case_updated_fires_on_a_change_made_in_the_service_desk(
    graph_app: Starlette, upstream: Callable[[str], httpx.AsyncClient]
) -> None:
    async with Socket(graph_app) as ws:
        await ws.subscribe("subscription($id: ID!) { caseUpdated(id: $id) { number status } }",
                           {"id": gid("Case", CASE)})
        await listening(graph_app, f"case:{CASE}")
        async with upstream("servicedesk") as raw:
            await raw.put(f"/api/v2/tickets/{CASE}.json", json={"ticket": {"status": "hold"}})
        message = await ws.receive_json()
        assert message["type"] == "next", message
        assert message["payload"]["data"]["caseUpdated"] == {"number": str(CASE), "status": "ON_HOLD"}
        await ws.send_json({"id": "1", "type": "complete"})
