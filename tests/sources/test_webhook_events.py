"""Upstream notifications into invalidations: each product's shape, and what each change drops."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from sources import Sources
from sources.webhook_events import (
    Invalidation,
    MalformedNotification,
    Notice,
    erp_changes,
    parse,
    servicedesk_change,
    wms_change,
)

NOW = "2026-03-02T10:00:00Z"


def bc(*items: dict[str, Any]) -> bytes:
    return json.dumps({"value": list(items)}).encode()


def notification(resource: str, change: str = "updated") -> dict[str, Any]:
    return {"subscriptionId": "s", "clientState": "c", "expirationDateTime": NOW,
            "resource": resource, "changeType": change, "lastModifiedDateTime": NOW}


def test_business_central_resources_name_the_entity_set_and_guid() -> None:
    guid = "8c7472b4-ef95-5efd-9615-8f255ecc8f0e"
    notices = parse("erp", bc(
        notification(f"api/v2.0/companies(c1)/customers({guid})"),
        notification(f"/api/v2.0/companies(c1)/salesOrders('{guid.upper()}')", "deleted"),
        notification("api/v2.0/companies(c1)/items", "collection"),
    ))
    assert [(n.entity, n.key.lower(), n.change) for n in notices] == [
        ("customers", guid, "updated"), ("salesOrders", guid, "deleted"), ("items", "", "collection")]
    assert all(n.occurred_at is not None and n.event_id is None for n in notices)


@pytest.mark.parametrize("body", [
    bc(), b'{"value": "x"}', bc(notification("api/v2.0/companies(c1)/customers(not-a-guid)")),
    bc({**notification("api/v2.0/companies(c1)/items", "updated")}),
    bc({**notification("api/v2.0/companies(c1)/items", "collection"), "lastModifiedDateTime": None}),
])
def test_off_shape_business_central_notifications_are_refused(body: bytes) -> None:
    with pytest.raises(MalformedNotification):
        parse("erp", body)


def test_a_stock_event_drops_the_skus_levels_and_names_its_subscribers() -> None:
    (notice,) = parse("wms", json.dumps({"id": "evt_1", "type": "inventory_level.updated",
                                         "created_at": NOW, "data": {"sku": "SKU-1"}}).encode())
    change = wms_change(notice)
    assert change.invalidations == (Invalidation("wms", "inventory", ("SKU-1",)),)
    assert change.subject == ("inventory", "SKU-1") and notice.event_id == "evt_1"
    other = json.dumps({"type": "shipment.updated", "data": {"id": "SHP-1"}}).encode()
    assert parse("wms", other) == []  # nothing cached depends on it


def test_a_ticket_event_drops_the_case_and_the_lists_it_appears_in() -> None:
    (notice,) = parse("servicedesk", json.dumps({
        "id": "e-1", "type": "zen:event-type:ticket.status_changed", "time": NOW,
        "subject": "zen:ticket:42", "detail": {"id": "42", "external_id": "SO-100001"}}).encode())
    change = servicedesk_change(notice)
    assert set(change.invalidations) == {
        Invalidation("servicedesk", "case", (42,)),
        Invalidation("servicedesk", "cases_by_order", ("SO-100001",)),
        Invalidation("servicedesk", "cases_by_customer", None)}
    assert change.subject == ("case", "42")


async def test_an_erp_change_is_keyed_by_the_numbers_read_back(
    sources: Sources, raw: Callable[[str], httpx.AsyncClient]
) -> None:
    company = (await raw("erp").get("/api/v2.0/companies")).json()["value"][0]["id"]
    memos = (await raw("erp").get(f"/api/v2.0/companies({company})/salesCreditMemos",
                                  params={"$top": "1", "$filter": "externalDocumentNumber ne ''"})).json()["value"]
    (memo,) = memos
    notices = parse("erp", bc(
        notification(f"api/v2.0/companies({company})/salesCreditMemos({memo['id']})"),
        notification(f"api/v2.0/companies({company})/salesOrders({memo['id']})", "deleted"),
    ))
    updated, deleted = await erp_changes(sources.erp, notices)
    assert set(updated.invalidations) == {
        Invalidation("erp", "credit_memo", (memo["number"],)),
        Invalidation("erp", "credit_memos_by_invoice", (memo["invoiceNumber"],)),
        Invalidation("erp", "credit_memos_by_return", (memo["externalDocumentNumber"],)),
        Invalidation("erp", "return", (memo["externalDocumentNumber"],)),
    }
    # A deleted row cannot be read back: its entity set's kinds are dropped whole.
    assert set(deleted.invalidations) == {Invalidation("erp", "order", None),
                                          Invalidation("erp", "orders_by_customer", None)}


async def test_when_the_erp_cannot_say_the_kinds_are_dropped_whole(
    sources: Sources, raw: Callable[[str], httpx.AsyncClient]
) -> None:
    await raw("erp").put("/_sandbox/faults", json={"outage": True})
    notice = Notice(source="erp", entity="salesInvoices", key="8c7472b4-ef95-5efd-9615-8f255ecc8f0e",
                    change="updated")
    (change,) = await erp_changes(sources.erp, [notice])
    assert {drop.kind for drop in change.invalidations} == {
        "invoice", "invoices_by_order", "invoices_by_customer", "order", "orders_by_customer"}
    assert all(drop.keys is None for drop in change.invalidations)
