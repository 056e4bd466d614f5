"""The ERP sandbox over HTTP: OData reads, paging, $batch, etags and idempotent writes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from sandbox.apps import SandboxApps
from sandbox.seed import FIXTURES


async def get_all(erp: httpx.AsyncClient, url: str, params: dict[str, str] | None = None,
                  headers: dict[str, str] | None = None) -> tuple[list[dict[str, Any]], int]:
    """Follow @odata.nextLink to the end; (rows, number of pages)."""
    rows, pages = [], 0
    response = await erp.get(url, params=params, headers=headers)
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        rows.extend(body["value"])
        pages += 1
        if "@odata.nextLink" not in body:
            return rows, pages
        response = await erp.get(body["@odata.nextLink"], headers=headers)


async def test_lists_the_single_company(erp: httpx.AsyncClient, world: SandboxApps) -> None:
    response = await erp.get("/api/v2.0/companies")
    assert response.status_code == 200
    (company,) = response.json()["value"]
    assert company["id"] == world.data.company["id"]
    assert {"id", "name", "displayName"} <= set(company)


async def test_rejects_other_credentials_with_bc_body(
        connect: Callable[..., httpx.AsyncClient], company: str) -> None:
    anonymous = connect("erp", auth=False)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic c2FuZGJveA=="}):
        response = await anonymous.get(f"{company}/customers", headers=headers)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "Authentication_InvalidCredentials"


async def test_filter_by_key_and_expand_lines(erp: httpx.AsyncClient, company: str) -> None:
    number = FIXTURES["open_order"]
    response = await erp.get(f"{company}/salesOrders", params={
        "$filter": f"number eq '{number}'", "$expand": "salesOrderLines"})
    (order,) = response.json()["value"]
    assert order["number"] == number and order["status"] == "Open"
    assert order["@odata.etag"].startswith('W/"JzQ0')
    lines = order["salesOrderLines"]
    assert [line["sequence"] for line in lines] == [10000, 20000]
    assert all(line["documentId"] == order["id"] for line in lines)
    assert sum(line["amountIncludingTax"] for line in lines) == pytest.approx(
        order["totalAmountIncludingTax"])
    single = await erp.get(f"{company}/salesOrders({order['id']})/salesOrderLines")
    assert single.json()["value"] == lines


async def test_completed_orders_live_on_as_invoices(erp: httpx.AsyncClient, company: str) -> None:
    number = FIXTURES["delivered_order"]
    orders = await erp.get(f"{company}/salesOrders", params={"$filter": f"number eq '{number}'"})
    assert orders.json()["value"] == []
    invoices = await erp.get(f"{company}/salesInvoices", params={
        "$filter": f"orderNumber eq '{number}'", "$expand": "salesInvoiceLines"})
    (invoice,) = invoices.json()["value"]
    assert invoice["status"] == "Paid" and invoice["remainingAmount"] == 0
    assert [line["sequence"] for line in invoice["salesInvoiceLines"]] == [10000, 20000, 30000]


async def test_or_chain_fetches_many_keys_and_in_fetches_everything(
        erp: httpx.AsyncClient, company: str, world: SandboxApps) -> None:
    wanted = ["C-10001", "C-10050", "C-10199"]
    chain = " or ".join(f"number eq '{n}'" for n in wanted)
    response = await erp.get(f"{company}/customers", params={"$filter": chain})
    assert [c["number"] for c in response.json()["value"]] == wanted
    ignored = await erp.get(f"{company}/customers", params={
        "$filter": "number in ('C-10001','C-10002')", "$count": "true"})
    assert ignored.json()["@odata.count"] == 200
    assert len(ignored.json()["value"]) == 100  # server-driven page


async def test_select_count_orderby_top(erp: httpx.AsyncClient, company: str) -> None:
    response = await erp.get(f"{company}/salesInvoices", params={
        "$filter": "customerNumber eq 'C-10001' and status eq 'Paid'",
        "$select": "number,totalAmountIncludingTax", "$orderby": "totalAmountIncludingTax desc",
        "$top": "3", "$count": "true"})
    body = response.json()
    assert body["@odata.count"] > 3 and len(body["value"]) == 3
    assert all(set(row) == {"@odata.etag", "number", "totalAmountIncludingTax"}
               for row in body["value"])
    totals = [row["totalAmountIncludingTax"] for row in body["value"]]
    assert totals == sorted(totals, reverse=True)
    assert "@odata.nextLink" not in body


async def test_next_link_paging_has_no_gaps_or_repeats(
        erp: httpx.AsyncClient, company: str, world: SandboxApps) -> None:
    rows, pages = await get_all(erp, f"{company}/salesInvoices",
                                headers={"Prefer": "odata.maxpagesize=250"})
    numbers = [row["number"] for row in rows]
    assert len(numbers) == len(set(numbers)) == len(world.data.erp["salesInvoices"])
    assert pages == -(-len(numbers) // 250)
    ordered, _ = await get_all(erp, f"{company}/customers", {"$orderby": "displayName desc"},
                               headers={"Prefer": "odata.maxpagesize=30"})
    names = [row["displayName"] for row in ordered]
    assert len(ordered) == 200 and names == sorted(names, reverse=True)
    assert len({row["number"] for row in ordered}) == 200


async def test_paging_survives_inserts_between_pages(erp: httpx.AsyncClient,
                                                     company: str) -> None:
    first = await erp.get(f"{company}/salesOrders", headers={"Prefer": "odata.maxpagesize=10"})
    seen = [row["number"] for row in first.json()["value"]]
    created = await erp.post(f"{company}/salesOrders", json={
        "customerNumber": "C-10002", "externalDocumentNumber": "REPL-1",
        "shortcutDimension1Code": "PHONE",
        "salesOrderLines": [{"lineObjectNumber": "SKU-00001", "quantity": 1, "unitPrice": 0}]})
    assert created.status_code == 201
    rest, _ = await get_all(erp, first.json()["@odata.nextLink"],
                            headers={"Prefer": "odata.maxpagesize=10"})
    numbers = seen + [row["number"] for row in rest]
    assert len(numbers) == len(set(numbers))
    assert numbers[-1] == created.json()["number"]


async def test_top_caps_the_total_across_pages(erp: httpx.AsyncClient, company: str) -> None:
    rows, pages = await get_all(erp, f"{company}/customers", {"$top": "25", "$skip": "10"},
                                headers={"Prefer": "odata.maxpagesize=10"})
    assert [row["number"] for row in rows] == [f"C-{n}" for n in range(10011, 10036)]
    assert pages == 3


@pytest.mark.parametrize(("params", "code"), [
    ({"$filter": "number eq"}, "BadRequest"),
    ({"$filter": "nope eq 1"}, "BadRequest"),
    ({"$filter": " or ".join(["number eq 'C-10001'"] * 120)}, "BadRequest_InvalidFilter"),
    ({"$select": "number,secret"}, "BadRequest"),
    ({"$skiptoken": "garbage"}, "BadRequest"),
])
async def test_bad_query_options_are_400(erp: httpx.AsyncClient, company: str,
                                         params: dict[str, str], code: str) -> None:
    response = await erp.get(f"{company}/customers", params=params)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


async def test_unknown_entity_and_company_are_404(erp: httpx.AsyncClient, company: str) -> None:
    missing = await erp.get(f"{company}/salesOrders(00000000-0000-0000-0000-000000000000)")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "BadRequest_NotFound"
    other = await erp.get("/api/v2.0/companies(11111111-1111-1111-1111-111111111111)/customers")
    assert other.status_code == 404
    assert (await erp.get(f"{company}/warehouses")).status_code == 404


async def test_batch_answers_each_request_and_counts_inner_routes(
        erp: httpx.AsyncClient, world: SandboxApps) -> None:
    company_id = world.data.company["id"]
    requests = [{"id": str(i), "method": "GET",
                 "url": f"companies({company_id})/customers?$filter=number eq 'C-{10001 + i}'"}
                for i in range(3)]
    requests.append({"id": "x", "method": "GET", "url": f"companies({company_id})/nothing"})
    response = await erp.post("/api/v2.0/$batch", json={"requests": requests})
    assert response.status_code == 200
    responses = {r["id"]: r for r in response.json()["responses"]}
    assert [responses[str(i)]["body"]["value"][0]["number"] for i in range(3)] == \
        ["C-10001", "C-10002", "C-10003"]
    assert responses["x"]["status"] == 404
    stats = (await erp.get("/_sandbox/stats")).json()
    assert stats["by_route"]["POST /api/v2.0/$batch"] == 1
    assert stats["by_route"]["GET /api/v2.0/companies({id})/customers"] == 3
    assert stats["requests"] == 1


async def test_batch_over_100_is_refused(erp: httpx.AsyncClient, world: SandboxApps) -> None:
    url = f"companies({world.data.company['id']})/customers"
    requests = [{"id": str(i), "method": "GET", "url": url} for i in range(101)]
    response = await erp.post("/api/v2.0/$batch", json={"requests": requests})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "BadRequest"


def _return_body(**overrides: Any) -> dict[str, Any]:
    body = {"customerNumber": "C-10001", "orderNumber": FIXTURES["delivered_order"],
            "externalDocumentNumber": "RET-TEST-1", "returnResolution": "Refund",
            "salesReturnOrderLines": []}
    body.update(overrides)
    return body


async def _lines_of(erp: httpx.AsyncClient, company: str, order_number: str) -> list[dict]:
    invoices = await erp.get(f"{company}/salesInvoices", params={
        "$filter": f"orderNumber eq '{order_number}'", "$expand": "salesInvoiceLines"})
    return [line for inv in invoices.json()["value"] for line in inv["salesInvoiceLines"]]


async def test_return_order_within_shipped_quantity(erp: httpx.AsyncClient,
                                                    company: str) -> None:
    lines = await _lines_of(erp, company, FIXTURES["delivered_order"])
    second = lines[1]  # quantity 2
    wanted = [{"lineObjectNumber": second["lineObjectNumber"], "quantity": 2,
               "returnReasonCode": "DAMAGED", "orderLineSequence": second["sequence"]}]
    created = await erp.post(f"{company}/salesReturnOrders",
                             json=_return_body(salesReturnOrderLines=wanted))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "Draft" and body["number"].startswith("RMA-")
    assert body["salesReturnOrderLines"][0]["orderLineSequence"] == second["sequence"]
    assert body["totalAmountIncludingTax"] == pytest.approx(second["amountIncludingTax"])
    again = await erp.post(f"{company}/salesReturnOrders", json=_return_body(
        salesReturnOrderLines=[{**wanted[0], "quantity": 1}]))
    assert again.status_code == 400  # both units are already on a return


async def test_patch_needs_a_current_etag(erp: httpx.AsyncClient, company: str) -> None:
    lines = await _lines_of(erp, company, FIXTURES["delivered_order"])
    rma = (await erp.post(f"{company}/salesReturnOrders", json=_return_body(
        salesReturnOrderLines=[{"lineObjectNumber": lines[0]["lineObjectNumber"], "quantity": 1,
                                "returnReasonCode": "SIZE_OR_FIT",
                                "orderLineSequence": lines[0]["sequence"]}]))).json()
    assert rma["status"] == "Draft"
    url = f"{company}/salesReturnOrders({rma['id']})"
    missing = await erp.patch(url, json={"status": "Released"})
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "BadRequest_InvalidToken"
    stale = await erp.patch(url, json={"status": "Released"}, headers={"If-Match": 'W/"JzQ0Oyc="'})
    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "Request_EntityChanged"
    ok = await erp.patch(url, json={"status": "Released"}, headers={"If-Match": rma["@odata.etag"]})
    assert ok.status_code == 200 and ok.json()["status"] == "Released"
    assert ok.json()["@odata.etag"] != rma["@odata.etag"]
    reused = await erp.patch(url, json={"status": "Canceled"},
                             headers={"If-Match": rma["@odata.etag"]})
    assert reused.status_code == 409
    star = await erp.patch(url, json={"status": "Canceled"}, headers={"If-Match": "*"})
    assert star.status_code == 200


async def test_idempotent_write_is_replayed_not_repeated(
        erp: httpx.AsyncClient, company: str) -> None:
    lines = await _lines_of(erp, company, FIXTURES["delivered_order"])
    body = _return_body(salesReturnOrderLines=[{
        "lineObjectNumber": lines[0]["lineObjectNumber"], "quantity": 1,
        "returnReasonCode": "DEFECTIVE", "orderLineSequence": lines[0]["sequence"]}])
    headers = {"Idempotency-Key": "rma-key-1"}
    first = await erp.post(f"{company}/salesReturnOrders", json=body, headers=headers)
    replay = await erp.post(f"{company}/salesReturnOrders", json=body, headers=headers)
    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    changed = await erp.post(f"{company}/salesReturnOrders",
                             json={**body, "externalDocumentNumber": "OTHER"}, headers=headers)
    assert changed.status_code == 422
    existing = await erp.get(f"{company}/salesReturnOrders", params={
        "$filter": f"orderNumber eq '{FIXTURES['delivered_order']}'", "$count": "true"})
    assert existing.json()["@odata.count"] == 1
    writes = (await erp.get("/_sandbox/writes")).json()
    assert [(w["method"], w["idempotency_key"], w["status"]) for w in writes] == \
        [("POST", "rma-key-1", 201)]
    assert writes[0]["path"].endswith("/salesReturnOrders")


async def _invoice(erp: httpx.AsyncClient, company: str, order_key: str) -> dict[str, Any]:
    response = await erp.get(f"{company}/salesInvoices",
                             params={"$filter": f"orderNumber eq '{FIXTURES[order_key]}'"})
    return response.json()["value"][0]


async def test_credit_memo_posting_moves_balances(erp: httpx.AsyncClient, company: str) -> None:
    invoice = await _invoice(erp, company, "partially_paid_order")
    customer_before = (await erp.get(f"{company}/customers",
                                     params={"$filter": "number eq 'C-10001'"})).json()["value"][0]
    assert invoice["remainingAmount"] > 20
    created = await erp.post(f"{company}/salesCreditMemos", json={
        "customerNumber": "C-10001", "invoiceNumber": invoice["number"],
        "externalDocumentNumber": "GOODWILL-1", "salesCreditMemoLines": [{
            "lineObjectNumber": "GOODWILL", "description": "Goodwill", "quantity": 1,
            "unitPrice": 10}]})
    assert created.status_code == 201 and created.json()["status"] == "Draft"
    memo = created.json()
    assert memo["totalAmountIncludingTax"] == 12.0
    posted = await erp.post(f"{company}/salesCreditMemos({memo['id']})/Microsoft.NAV.post")
    assert posted.status_code == 204
    after = await erp.get(f"{company}/salesInvoices({invoice['id']})")
    assert after.json()["remainingAmount"] == pytest.approx(invoice["remainingAmount"] - 12)
    customer = (await erp.get(f"{company}/customers({customer_before['id']})")).json()
    assert customer["balanceDue"] == pytest.approx(customer_before["balanceDue"] - 12)
    twice = await erp.post(f"{company}/salesCreditMemos({memo['id']})/Microsoft.NAV.post")
    assert twice.status_code == 400


async def test_credit_beyond_the_invoice_is_refused(erp: httpx.AsyncClient, company: str) -> None:
    invoice = await _invoice(erp, company, "partially_refunded_order")
    memos = await erp.get(f"{company}/salesCreditMemos",
                          params={"$filter": f"invoiceNumber eq '{invoice['number']}'"})
    credited = sum(m["totalAmountIncludingTax"] for m in memos.json()["value"])
    creditable = round(invoice["totalAmountIncludingTax"] - credited, 2)
    assert 0 < creditable < invoice["totalAmountIncludingTax"]

    def credit(amount: float) -> dict[str, Any]:
        return {"customerNumber": "C-10001", "invoiceNumber": invoice["number"],
                "salesCreditMemoLines": [{"lineObjectNumber": "REFUND", "quantity": 1,
                                          "taxPercent": 0, "unitPrice": amount}]}

    too_much = await erp.post(f"{company}/salesCreditMemos", json=credit(creditable + 0.01))
    assert too_much.status_code == 400
    assert "creditable" in too_much.json()["error"]["message"]
    exact = await erp.post(f"{company}/salesCreditMemos", json=credit(creditable))
    assert exact.status_code == 201


async def test_delete_order_with_etag(erp: httpx.AsyncClient, company: str) -> None:
    created = (await erp.post(f"{company}/salesOrders", json={
        "customerNumber": "C-10001", "shortcutDimension1Code": "PHONE",
        "salesOrderLines": [{"lineObjectNumber": "SKU-00002", "quantity": 1}]})).json()
    url = f"{company}/salesOrders({created['id']})"
    assert (await erp.delete(url)).status_code == 400
    assert (await erp.delete(url, headers={"If-Match": created["@odata.etag"]})).status_code == 204
    assert (await erp.get(url)).status_code == 404
    shipped = (await erp.get(f"{company}/salesOrders", params={
        "$filter": f"number eq '{FIXTURES['partially_shipped_order']}'"})).json()["value"][0]
    refused = await erp.delete(f"{company}/salesOrders({shipped['id']})",
                               headers={"If-Match": "*"})
    assert refused.status_code == 400


async def test_atomic_batch_rolls_back_every_write(erp: httpx.AsyncClient, company: str,
                                                   world: SandboxApps) -> None:
    prefix = f"companies({world.data.company['id']})"
    order = {"customerNumber": "C-10003", "shortcutDimension1Code": "WEB",
             "salesOrderLines": [{"lineObjectNumber": "SKU-00003", "quantity": 1}]}
    requests = [
        {"id": "1", "method": "POST", "url": f"{prefix}/salesOrders", "body": order,
         "headers": {"Idempotency-Key": "batch-1"}},
        {"id": "2", "method": "POST", "url": f"{prefix}/salesOrders",
         "body": {**order, "customerNumber": "C-99999"}},
        {"id": "3", "method": "POST", "url": f"{prefix}/salesOrders", "body": order},
    ]
    before = len(world.data.erp["salesOrders"])
    response = await erp.post("/api/v2.0/$batch", json={"requests": requests},
                              headers={"Isolation": "snapshot"})
    statuses = {r["id"]: r["status"] for r in response.json()["responses"]}
    assert statuses == {"1": 424, "2": 400, "3": 424}
    assert len(world.data.erp["salesOrders"]) == before
    assert (await erp.get("/_sandbox/writes")).json() == []
    loose = await erp.post("/api/v2.0/$batch", json={"requests": requests})
    assert [r["status"] for r in loose.json()["responses"]] == [201, 400, 201]
    assert len(world.data.erp["salesOrders"]) == before + 2
