"""The WMS sandbox over HTTP: stock, shipments, reservations, inbound returns, webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from sandbox import wms as wms_module
from sandbox.apps import SandboxApps
from sandbox.seed import FIXTURES

SKUS = [f"SKU-{n:05d}" for n in range(1, 41)]


async def level(wms: httpx.AsyncClient, sku: str, location: str) -> dict[str, Any]:
    response = await wms.get("/v1/inventory-levels", params={"skus": sku,
                                                            "location_ids": location})
    (row,) = response.json()["inventory_levels"]
    return row


async def stocked(wms: httpx.AsyncClient, minimum: int = 5) -> dict[str, Any]:
    """A warehouse level with at least `minimum` available."""
    response = await wms.get("/v1/inventory-levels",
                             params={"skus": ",".join(SKUS), "location_ids": "LOC-01"})
    return next(row for row in response.json()["inventory_levels"] if row["available"] >= minimum)


async def test_rejects_bad_credentials_with_wms_body(
        connect: Callable[..., httpx.AsyncClient]) -> None:
    response = await connect("wms", auth=False).get("/v1/locations")
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "unauthorized"


async def test_locations(wms: httpx.AsyncClient) -> None:
    locations = (await wms.get("/v1/locations")).json()["locations"]
    assert len(locations) == 12
    assert sum(1 for loc in locations if loc["type"] == "warehouse") == 3
    assert {"id", "code", "name", "type", "region", "timezone"} <= set(locations[0])


async def test_inventory_levels_by_sku_and_location(wms: httpx.AsyncClient) -> None:
    response = await wms.get("/v1/inventory-levels", params={
        "skus": "SKU-00002,SKU-00001,SKU-99999", "location_ids": "LOC-01,LOC-02"})
    rows = response.json()["inventory_levels"]
    assert [(r["sku"], r["location_id"]) for r in rows] == [
        ("SKU-00001", "LOC-01"), ("SKU-00001", "LOC-02"),
        ("SKU-00002", "LOC-01"), ("SKU-00002", "LOC-02")]
    assert all(r["available"] == r["on_hand"] - r["reserved"] for r in rows)
    assert response.json()["next_cursor"] is None


@pytest.mark.parametrize("params", [
    {}, {"skus": ",".join(f"SKU-{n:05d}" for n in range(1, 252))},
    {"skus": "SKU-00001", "limit": "0"}, {"skus": "SKU-00001", "limit": "1001"},
    {"skus": "SKU-00001", "cursor": "%%%"},
])
async def test_inventory_levels_refuses_bad_requests(wms: httpx.AsyncClient,
                                                     params: dict[str, str]) -> None:
    response = await wms.get("/v1/inventory-levels", params=params)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request"


async def test_cursor_pages_have_no_gaps_or_repeats(wms: httpx.AsyncClient) -> None:
    everything = (await wms.get("/v1/inventory-levels",
                                params={"skus": ",".join(SKUS), "limit": "1000"})
                  ).json()["inventory_levels"]
    paged: list[tuple[str, str]] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"skus": ",".join(SKUS), "limit": "7"} | ({"cursor": cursor} if cursor else {})
        body = (await wms.get("/v1/inventory-levels", params=params)).json()
        paged += [(r["sku"], r["location_id"]) for r in body["inventory_levels"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert paged == [(r["sku"], r["location_id"]) for r in everything]
    assert len(set(paged)) == len(paged) > 250 and pages == -(-len(paged) // 7)


async def test_shipments_for_fixture_orders(wms: httpx.AsyncClient) -> None:
    response = await wms.get("/v1/shipments", params={"order_numbers": ",".join(
        [FIXTURES["delivered_order"], FIXTURES["partially_shipped_order"]])})
    by_order: dict[str, list[dict[str, Any]]] = {}
    for shipment in response.json()["shipments"]:
        by_order.setdefault(shipment["order_number"], []).append(shipment)
    (delivered,) = by_order[FIXTURES["delivered_order"]]
    assert delivered["status"] == "delivered" and delivered["delivered_at"].endswith("Z")
    assert delivered["carrier"] in ("DPD", "Royal Mail", "UPS", "DHL")
    statuses = sorted(s["status"] for s in by_order[FIXTURES["partially_shipped_order"]])
    assert statuses == ["in_transit", "pending"]
    too_many = await wms.get("/v1/shipments", params={
        "order_numbers": ",".join(f"SO-{n}" for n in range(100001, 100102))})
    assert too_many.status_code == 400


async def test_reservation_holds_stock_and_release_returns_it(wms: httpx.AsyncClient) -> None:
    before = await stocked(wms)
    body = {"sku": before["sku"], "location_id": "LOC-01", "quantity": 2, "reference": "RMA-T1"}
    created = await wms.post("/v1/reservations", json=body)
    assert created.status_code == 201
    reservation = created.json()
    assert reservation["status"] == "active" and reservation["id"].startswith("RSV-")
    held = await level(wms, before["sku"], "LOC-01")
    assert (held["reserved"], held["available"]) == (before["reserved"] + 2,
                                                     before["available"] - 2)
    listed = await wms.get("/v1/reservations", params={"reference": "RMA-T1"})
    assert [r["id"] for r in listed.json()["reservations"]] == [reservation["id"]]
    for _ in range(2):  # releasing twice is harmless
        released = await wms.delete(f"/v1/reservations/{reservation['id']}")
        assert released.status_code == 200 and released.json()["status"] == "released"
    assert (await level(wms, before["sku"], "LOC-01"))["available"] == before["available"]
    assert (await wms.delete("/v1/reservations/RSV-999999")).status_code == 404


async def test_insufficient_stock_is_409_with_what_is_available(wms: httpx.AsyncClient) -> None:
    row = await stocked(wms, minimum=1)
    response = await wms.post("/v1/reservations", json={
        "sku": row["sku"], "location_id": "LOC-01", "quantity": row["available"] + 1,
        "reference": "SO-X"})
    assert response.status_code == 409
    error = response.json()["error"]
    assert (error["type"], error["available"]) == ("insufficient_stock", row["available"])
    assert (await level(wms, row["sku"], "LOC-01"))["reserved"] == row["reserved"]


async def test_reservation_replays_on_the_same_key(wms: httpx.AsyncClient) -> None:
    row = await stocked(wms)
    body = {"sku": row["sku"], "location_id": "LOC-01", "quantity": 1, "reference": "SO-Y"}
    headers = {"Idempotency-Key": "rsv-1"}
    first = await wms.post("/v1/reservations", json=body, headers=headers)
    again = await wms.post("/v1/reservations", json=body, headers=headers)
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert (await level(wms, row["sku"], "LOC-01"))["reserved"] == row["reserved"] + 1
    reused = await wms.post("/v1/reservations", json={**body, "quantity": 2}, headers=headers)
    assert reused.status_code == 422
    assert reused.json()["error"]["type"] == "idempotency_key_reused"
    writes = (await wms.get("/_sandbox/writes")).json()
    assert writes == [{"method": "POST", "path": "/v1/reservations", "idempotency_key": "rsv-1",
                       "status": 201}]


async def test_inbound_return_receive_grows_stock(wms: httpx.AsyncClient) -> None:
    row = await stocked(wms, minimum=0)
    created = await wms.post("/v1/inbound-returns", json={
        "rma_number": "RMA-T2", "order_number": FIXTURES["delivered_order"],
        "location_id": "LOC-01", "lines": [{"sku": row["sku"], "quantity": 3}]})
    assert created.status_code == 201 and created.json()["status"] == "expected"
    inbound_id = created.json()["id"]
    duplicate = await wms.post("/v1/inbound-returns", json={
        "rma_number": "RMA-T2", "order_number": "SO-1", "location_id": "LOC-01",
        "lines": [{"sku": row["sku"], "quantity": 1}]})
    assert duplicate.status_code == 409
    for _ in range(2):  # receiving twice counts the goods once
        received = await wms.post(f"/v1/inbound-returns/{inbound_id}/receive")
        assert received.status_code == 200 and received.json()["status"] == "received"
    assert (await level(wms, row["sku"], "LOC-01"))["on_hand"] == row["on_hand"] + 3
    cancel = await wms.post(f"/v1/inbound-returns/{inbound_id}/cancel")
    assert cancel.status_code == 409
    listed = await wms.get("/v1/inbound-returns", params={"rma_numbers": "RMA-T2"})
    assert [r["id"] for r in listed.json()["inbound_returns"]] == [inbound_id]


async def test_cancelled_inbound_return_cannot_be_received(wms: httpx.AsyncClient) -> None:
    created = (await wms.post("/v1/inbound-returns", json={
        "rma_number": "RMA-T3", "order_number": "SO-1", "location_id": "LOC-02",
        "lines": [{"sku": "SKU-00001", "quantity": 1}]})).json()
    assert (await wms.post(f"/v1/inbound-returns/{created['id']}/cancel")).json()["status"] == \
        "cancelled"
    assert (await wms.post(f"/v1/inbound-returns/{created['id']}/receive")).status_code == 409


async def test_stock_changes_are_signed_webhooks(world: SandboxApps) -> None:
    received: list[httpx.Request] = []

    def capture(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(204)

    app = wms_module.create_app(world.data, webhook_url="http://graph/webhooks/wms",
                                webhook_secret="s3cret",
                                webhook_transport=httpx.MockTransport(capture))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://wms",
                                 headers={"Authorization": "Bearer sandbox-token"}) as client:
        row = await stocked(client)
        await client.post("/v1/reservations", json={
            "sku": row["sku"], "location_id": "LOC-01", "quantity": 1, "reference": "SO-W"})
    (request,) = received
    assert str(request.url) == "http://graph/webhooks/wms"
    expected = hmac.new(b"s3cret", request.content, hashlib.sha256).hexdigest()
    assert request.headers["X-Signature"] == f"sha256={expected}"
    event = json.loads(request.content)
    assert event["type"] == "inventory_level.updated"
    assert event["data"]["sku"] == row["sku"]
    assert event["data"]["available"] == row["available"] - 1
