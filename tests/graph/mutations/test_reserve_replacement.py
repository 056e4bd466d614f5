"""reserveReplacement and REPLACEMENT returns: stock held in the WMS, a zero-priced order in the ERP."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from workflow_support import (
    CASE,
    DELIVERED,
    INITIATE_RETURN,
    RESERVE_REPLACEMENT,
    Facts,
    Fault,
    Upstreams,
    gid,
    return_input,
    short_location,
    stocked_location,
)


def reserve_input(key: str, line: int, quantity: int, location: str, case: bool = True) -> dict[str, Any]:
    return {"input": {"orderLineId": gid("OrderLine", f"{DELIVERED}:{line}"), "quantity": quantity,
                      "locationId": gid("Location", location), "idempotencyKey": key,
                      **({"caseId": gid("Case", CASE)} if case else {})}}


async def test_a_replacement_reserves_stock_and_orders_it_at_no_charge(
    gql: Callable[..., Any], upstreams: Upstreams, facts: Facts
) -> None:
    sku = facts.lines[10000].sku
    location = await stocked_location(upstreams, sku)
    before = await upstreams.level(sku, location)
    body = await gql(RESERVE_REPLACEMENT, reserve_input("rep-1", 10000, 1, location))
    result = body["data"]["reserveReplacement"]
    assert result["userErrors"] == [], result
    assert result["workflow"]["status"] == "COMPLETED"
    assert result["workflow"]["kind"] == "reserve_replacement"
    order = result["replacementOrder"]
    assert order["total"] == {"amount": "0.00"}
    assert order["lines"] == [{"sku": sku, "quantity": 1}]
    after = await upstreams.level(sku, location)
    assert after["reserved"] == before["reserved"] + 1
    assert after["available"] == before["available"] - 1
    assert result["inventoryLevel"] == {"sku": sku, "onHand": after["on_hand"],
                                        "reserved": after["reserved"], "available": after["available"]}
    (row,) = await upstreams.erp("salesOrders", f"number eq '{order['number']}'", expand="salesOrderLines")
    assert row["customerNumber"] == "C-10001"
    assert [line["unitPrice"] for line in row["salesOrderLines"]] == [0]
    (reservation,) = await upstreams.reservations(row["externalDocumentNumber"])
    assert (reservation["status"], reservation["quantity"], reservation["location_id"]) == ("active", 1, location)
    notes = [c["body"] for c in await upstreams.comments(CASE)]
    assert any(order["number"] in n and location in n for n in notes)


async def test_short_stock_is_refused_before_anything_is_reserved(
    gql: Callable[..., Any], upstreams: Upstreams, facts: Facts
) -> None:
    short = await short_location(upstreams, facts.lines[20000].sku, 2)
    result = (await gql(RESERVE_REPLACEMENT, reserve_input("rep-2", 20000, 2, short)))["data"]["reserveReplacement"]
    assert [(e["code"], e["field"]) for e in result["userErrors"]] == [("INSUFFICIENT_INVENTORY", ["input", "quantity"])]
    unknown = (await gql(RESERVE_REPLACEMENT, reserve_input("rep-3", 10000, 1, "LOC-99")))["data"]["reserveReplacement"]
    assert [e["code"] for e in unknown["userErrors"]] == ["LOCATION_NOT_FOUND"]
    too_many = (await gql(RESERVE_REPLACEMENT, reserve_input("rep-4", 10000, 2, "LOC-01")))["data"]["reserveReplacement"]
    assert [e["code"] for e in too_many["userErrors"]] == ["INVALID"]
    missing = (await gql(RESERVE_REPLACEMENT, reserve_input("rep-5", 90000, 1, "LOC-01")))["data"]["reserveReplacement"]
    assert [e["code"] for e in missing["userErrors"]] == ["LINE_NOT_FOUND"]
    assert await upstreams.writes("wms") == [] and await upstreams.writes("erp") == []


async def test_a_race_for_the_last_unit_is_lost_cleanly(
    gql: Callable[..., Any], upstreams: Upstreams, transports: Any, facts: Facts
) -> None:
    # The WMS says "insufficient_stock" at reservation time although validation saw stock.
    transports["wms"].faults.append(Fault("POST", r"^/v1/reservations$", mode="409"))
    location = await stocked_location(upstreams, facts.lines[10000].sku)
    result = (await gql(RESERVE_REPLACEMENT, reserve_input("rep-6", 10000, 1, location)))["data"]["reserveReplacement"]
    workflow = result["workflow"]
    assert workflow["status"] == "COMPENSATED"
    assert "injected 409" in workflow["error"]
    assert {s["name"]: s["attempts"] for s in workflow["steps"]}["wms.reserve_replacement"] == 1
    assert await upstreams.erp("salesOrders", "startswith(externalDocumentNumber,'RG-')") == []


async def test_a_replacement_return_reserves_and_orders_for_the_rma(
    gql: Callable[..., Any], upstreams: Upstreams, facts: Facts
) -> None:
    sku = facts.lines[30000].sku
    location = await stocked_location(upstreams, sku)
    body = await gql(INITIATE_RETURN, return_input("rep-ret", (30000, 1), resolution="REPLACEMENT",
                                                   replacementLocationId=gid("Location", location)))
    result = body["data"]["initiateReturn"]
    assert result["userErrors"] == [], result
    assert result["workflow"]["status"] == "COMPLETED"
    assert result["refund"] is None
    rma = result["return"]["rmaNumber"]
    assert result["return"]["resolution"] == "REPLACEMENT"
    (reservation,) = await upstreams.reservations(rma)
    assert (reservation["sku"], reservation["location_id"], reservation["status"]) == (sku, location, "active")
    (order,) = await upstreams.erp("salesOrders", f"externalDocumentNumber eq '{rma}'")
    assert order["totalAmountIncludingTax"] == 0
    read = await gql("query($id: ID!) { node(id: $id) { ... on Return { replacementOrder { number } } } }",
                     {"id": result["return"]["id"]})
    assert read["data"]["node"]["replacementOrder"] == {"number": order["number"]}
    assert await upstreams.erp("salesCreditMemos", f"externalDocumentNumber eq '{rma}'") == []
    (inbound,) = await upstreams.inbound_returns(rma)
    assert inbound["status"] == "expected"
