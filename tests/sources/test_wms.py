"""WmsClient against the real WMS sandbox: SKU chunking, cursors, TTLs, shipments."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sandbox.seed import FIXTURES
from sources import Sources, SourceUnavailable
from sources.records import FulfillmentStatus, LocationKind, ShipmentStatus
from sources.statuses import fulfillment_status


async def all_skus(raw: Any) -> list[str]:
    client = raw("erp")
    company = (await client.get("/api/v2.0/companies")).json()["value"][0]["id"]
    body = (
        await client.get(
            f"/api/v2.0/companies({company})/items",
            params={"$select": "number"},
            headers={"Prefer": "odata.maxpagesize=1000"},
        )
    ).json()
    return [item["number"] for item in body["value"]]


async def raw_levels(raw: Any, skus: list[str]) -> list[dict]:
    found: list[dict] = []
    for start in range(0, len(skus), 250):
        cursor = None
        while True:
            params = {"skus": ",".join(skus[start : start + 250]), "limit": "1000"}
            if cursor:
                params["cursor"] = cursor
            body = (await raw("wms").get("/v1/inventory-levels", params=params)).json()
            found += body["inventory_levels"]
            cursor = body["next_cursor"]
            if not cursor:
                break
    return found


async def test_locations_are_cached(sources: Sources) -> None:
    locations = await sources.wms.locations()
    assert len(locations) == 12
    assert sum(1 for loc in locations if loc.kind is LocationKind.WAREHOUSE) == 3
    await sources.wms.locations()
    assert sources.wms.stats.calls == 1


async def test_inventory_for_300_skus_splits_at_250_and_matches_the_wms(
    sources: Sources, raw: Any, upstream_stats: Any, recorders: Any
) -> None:
    skus = (await all_skus(raw))[:300]
    assert len(skus) == 300
    expected = await raw_levels(raw, skus)
    await upstream_stats("wms", reset=True)

    found = await sources.wms.inventory_levels(skus)

    sent = [r.url.params["skus"].split(",") for r in recorders["wms"].requests]
    assert all(len(chunk) <= 250 for chunk in sent)
    assert sorted({s for chunk in sent for s in chunk}) == sorted(skus)
    stats = await upstream_stats("wms")
    assert stats["requests"] == sources.wms.stats.calls
    assert sources.wms.stats.calls <= 4  # 250 + 50 SKUs, up to 1,000 levels a page
    assert set(found) == set(skus)
    got = {(lv.sku, lv.location_id): lv for levels in found.values() for lv in levels}
    assert len(got) == len(expected)
    for row in expected:
        level = got[(row["sku"], row["location_id"])]
        assert (level.on_hand, level.reserved, level.available) == (
            row["on_hand"],
            row["reserved"],
            row["available"],
        )
        assert level.available == level.on_hand - level.reserved


async def test_inventory_is_fresh_for_seconds_only(sources: Sources, clock: Any) -> None:
    await sources.wms.inventory_levels(["SKU-00001", "SKU-00002"])
    calls = sources.wms.stats.calls
    clock.now += 4
    await sources.wms.inventory_levels(["SKU-00002", "SKU-00001"])
    assert sources.wms.stats.calls == calls
    clock.now += 2
    await sources.wms.inventory_levels(["SKU-00001"])
    assert sources.wms.stats.calls == calls + 1


async def test_location_filter_is_applied_to_the_shared_entry(sources: Sources) -> None:
    everywhere = (await sources.wms.inventory_levels(["SKU-00001"]))["SKU-00001"]
    assert len({lv.location_id for lv in everywhere}) > 1
    one = everywhere[0].location_id
    narrowed = await sources.wms.inventory_levels(["SKU-00001"], location_ids=[one])
    assert narrowed == {"SKU-00001": [everywhere[0]]}
    assert sources.wms.stats.calls == 1


async def test_unknown_skus_are_empty_lists(sources: Sources) -> None:
    assert await sources.wms.inventory_levels(["NOPE-1"]) == {"NOPE-1": []}


async def test_concurrent_identical_inventory_reads_share_one_call(sources: Sources) -> None:
    results = await asyncio.gather(
        *(sources.wms.inventory_levels(["SKU-00003"]) for _ in range(20))
    )
    assert all(r == results[0] for r in results)
    assert sources.wms.stats.calls == 1 and sources.wms.joins == 19


async def test_shipments_by_order_and_fulfillment(sources: Sources, raw: Any) -> None:
    partial, delivered = FIXTURES["partially_shipped_order"], FIXTURES["delivered_order"]
    shipments = await sources.wms.shipments_by_order_numbers([partial, delivered, "SO-0"])
    assert shipments["SO-0"] == []
    assert any(s.status is ShipmentStatus.DELIVERED for s in shipments[delivered])
    body = (await raw("wms").get("/v1/shipments", params={"order_numbers": delivered})).json()
    assert {s.id for s in shipments[delivered]} == {s["id"] for s in body["shipments"]}
    orders = await sources.erp.orders_by_numbers([partial, delivered])
    assert (
        fulfillment_status(orders[partial], shipments[partial])
        is FulfillmentStatus.PARTIALLY_FULFILLED
    )
    assert (
        fulfillment_status(orders[delivered], shipments[delivered]) is FulfillmentStatus.FULFILLED
    )


async def test_shipments_for_150_orders_split_at_100(
    sources: Sources, raw: Any, recorders: Any
) -> None:
    numbers = [f"SO-{100001 + n}" for n in range(150)]
    found = await sources.wms.shipments_by_order_numbers(numbers)
    assert set(found) == set(numbers)
    sent = [r.url.params["order_numbers"].split(",") for r in recorders["wms"].requests]
    assert sorted(len(chunk) for chunk in sent)[-1] <= 100
    assert {n for chunk in sent for n in chunk} == set(numbers)


async def test_outage_serves_nothing_fresh_but_keeps_the_stale_copy(
    sources: Sources, raw: Any, clock: Any
) -> None:
    await sources.wms.inventory_levels(["SKU-00001"])
    (await raw("wms").put("/_sandbox/faults", json={"outage": True})).raise_for_status()
    clock.now += 10
    with pytest.raises(SourceUnavailable):
        await sources.wms.inventory_levels(["SKU-00001"])
    value, age = sources.wms.cache("inventory").get_stale("SKU-00001")
    assert value and age == pytest.approx(10)
