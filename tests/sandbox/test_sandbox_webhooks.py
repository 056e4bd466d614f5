"""The sandboxes' signed webhooks: Business Central notifications, Zendesk events, WMS ids."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from datetime import date
from typing import Any

import httpx
import pytest

from sandbox.apps import SandboxApps, build
from sandbox.seed import FIXTURES

NOW = date(2026, 3, 2)
AUTH = {"Authorization": "Bearer sandbox-token"}
SECRET = "s3cret"
ORDER = {"customerNumber": "C-10003", "shortcutDimension1Code": "WEB",
         "salesOrderLines": [{"lineObjectNumber": "SKU-00003", "quantity": 1}]}


@pytest.fixture
def received() -> list[httpx.Request]:
    return []


@pytest.fixture
def hooked(received: list[httpx.Request]) -> SandboxApps:
    """A sandbox sending every webhook to a recorder."""
    def capture(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(200)

    url = "http://graph/webhooks/{}"
    return build(seed=42, now=NOW, erp_webhook_url=url.format("erp"), wms_webhook_url=url.format("wms"),
                 servicedesk_webhook_url=url.format("servicedesk"), webhook_secret=SECRET,
                 webhook_transport=httpx.MockTransport(capture))


@pytest.fixture
async def api(hooked: SandboxApps) -> AsyncIterator[Callable[[str], httpx.AsyncClient]]:
    clients: list[httpx.AsyncClient] = []

    def open_client(name: str) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=getattr(hooked, name)),
                                   base_url=f"http://{name}", headers=AUTH)
        clients.append(client)
        return client

    yield open_client
    for client in clients:
        await client.aclose()


def hex_signed(request: httpx.Request) -> bool:
    expected = "sha256=" + hmac.new(SECRET.encode(), request.content, hashlib.sha256).hexdigest()
    return hmac.compare_digest(request.headers["X-Signature"], expected)


async def test_an_erp_write_sends_one_signed_business_central_notification(
    api: Callable[[str], httpx.AsyncClient], hooked: SandboxApps, received: list[httpx.Request]
) -> None:
    company = hooked.data.company["id"]
    created = await api("erp").post(f"/api/v2.0/companies({company})/salesOrders", json=ORDER)
    assert created.status_code == 201
    (request,) = received
    assert str(request.url) == "http://graph/webhooks/erp" and hex_signed(request)
    (notification,) = json.loads(request.content)["value"]
    assert notification["resource"] == f"api/v2.0/companies({company})/salesOrders({created.json()['id']})"
    assert notification["changeType"] == "created"
    assert notification["clientState"] == "sandbox-client-state"
    assert notification["lastModifiedDateTime"].endswith("Z") and notification["subscriptionId"]


async def test_a_rolled_back_batch_notifies_nothing(
    api: Callable[[str], httpx.AsyncClient], hooked: SandboxApps, received: list[httpx.Request]
) -> None:
    prefix = f"companies({hooked.data.company['id']})"
    requests = [{"id": "1", "method": "POST", "url": f"{prefix}/salesOrders", "body": ORDER},
                {"id": "2", "method": "POST", "url": f"{prefix}/salesOrders",
                 "body": {**ORDER, "customerNumber": "C-99999"}}]
    response = await api("erp").post("/api/v2.0/$batch", json={"requests": requests},
                                     headers={"Isolation": "snapshot"})
    assert [r["status"] for r in response.json()["responses"]] == [424, 400]
    assert received == []
    await api("erp").post("/api/v2.0/$batch", json={"requests": requests})
    (request,) = received  # the loose batch: one notification for the one order it created
    assert [n["changeType"] for n in json.loads(request.content)["value"]] == ["created"]


async def test_a_ticket_update_sends_zendesk_signed_events(
    api: Callable[[str], httpx.AsyncClient], received: list[httpx.Request]
) -> None:
    ticket = FIXTURES["open_ticket_id"]
    body = {"ticket": {"status": "pending", "comment": {"body": "Checking.", "public": False}}}
    response = await api("servicedesk").put(f"/api/v2/tickets/{ticket}.json", json=body,
                                            headers={"Idempotency-Key": "note-1"})
    assert response.status_code == 200
    events = {json.loads(r.content)["type"]: r for r in received}
    assert {"zen:event-type:ticket.comment_added", "zen:event-type:ticket.status_changed"} <= set(events)
    for request in received:
        signed_at = request.headers["X-Zendesk-Webhook-Signature-Timestamp"]
        digest = hmac.new(SECRET.encode(), signed_at.encode() + request.content, hashlib.sha256).digest()
        assert request.headers["X-Zendesk-Webhook-Signature"] == base64.b64encode(digest).decode()
    status: dict[str, Any] = json.loads(events["zen:event-type:ticket.status_changed"].content)
    assert status["subject"] == f"zen:ticket:{ticket}" and status["detail"]["id"] == str(ticket)
    assert status["event"] == {"current": "PENDING", "previous": "OPEN"}
    count = len(received)
    replay = await api("servicedesk").put(f"/api/v2/tickets/{ticket}.json", json=body,
                                          headers={"Idempotency-Key": "note-1"})
    assert replay.headers["Idempotent-Replayed"] == "true" and len(received) == count


async def test_wms_stock_events_carry_an_id_and_a_time(
    api: Callable[[str], httpx.AsyncClient], received: list[httpx.Request]
) -> None:
    wms = api("wms")
    levels = (await wms.get("/v1/inventory-levels", params={"skus": "SKU-00007"})).json()["inventory_levels"]
    level = max(levels, key=lambda row: row["available"])
    await wms.post("/v1/reservations", json={"sku": level["sku"], "location_id": level["location_id"],
                                             "quantity": 1, "reference": "SO-W"})
    await wms.post("/v1/reservations", json={"sku": level["sku"], "location_id": level["location_id"],
                                             "quantity": 1, "reference": "SO-W2"})
    first, second = (json.loads(r.content) for r in received)
    assert first["id"] != second["id"] and first["created_at"].endswith("Z")
    assert all(hex_signed(r) for r in received)
