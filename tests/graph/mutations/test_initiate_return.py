"""initiateReturn end to end: what the ERP, WMS and service platform hold afterwards."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from workflow_support import (
    CASE,
    DELIVERED,
    INITIATE_RETURN,
    WORKFLOW,
    Facts,
    Upstreams,
    foreign_case,
    gid,
    return_input,
    short_location,
)

from sandbox.seed import FIXTURES


async def test_a_refund_return_is_authorized_expected_credited_and_noted(
    gql: Callable[..., Any], upstreams: Upstreams, facts: Facts
) -> None:
    body = await gql(INITIATE_RETURN, return_input("ret-1", (10000, 1)))
    assert "errors" not in body, body
    result = body["data"]["initiateReturn"]
    assert result["userErrors"] == []
    workflow = result["workflow"]
    assert workflow["status"] == "COMPLETED", workflow
    assert workflow["kind"] == "initiate_return"
    steps = {s["name"]: s for s in workflow["steps"]}
    assert steps["erp.create_return_order"]["status"] == "COMPLETED"
    assert steps["erp.create_return_order"]["attempts"] == 1
    assert steps["approval"]["status"] == "SKIPPED"
    assert steps["erp.post_credit_memo"]["status"] == "COMPLETED"
    assert steps["erp.withdraw_credit_memo"]["status"] == "SKIPPED"
    rma = result["return"]["rmaNumber"]
    assert result["return"]["status"] == "COMPLETED"
    assert result["refund"]["status"] == "POSTED"

    # ERP: one return order (Released), one posted credit memo for it against the invoice,
    # crediting exactly what the returned line is worth.
    (rma_row,) = await upstreams.erp("salesReturnOrders", f"orderNumber eq '{DELIVERED}'")
    assert (rma_row["number"], rma_row["status"], rma_row["returnResolution"]) == (rma, "Released", "Refund")
    (memo,) = await upstreams.erp("salesCreditMemos", f"externalDocumentNumber eq '{rma}'")
    assert (memo["status"], memo["invoiceNumber"]) == ("Open", facts.invoice)
    assert memo["totalAmountIncludingTax"] == rma_row["totalAmountIncludingTax"]
    assert result["refund"]["amount"]["amount"] == f"{Decimal(str(memo['totalAmountIncludingTax'])):.2f}"
    (invoice,) = await upstreams.erp("salesInvoices", f"number eq '{facts.invoice}'")
    assert invoice["remainingAmount"] == 0  # it was paid: the credit is owed to the customer
    # WMS: the goods are expected back at the location that shipped them.
    (inbound,) = await upstreams.inbound_returns(rma)
    assert inbound["status"] == "expected"
    assert inbound["lines"] == [{"sku": facts.lines[10000].sku, "quantity": 1}]
    # Service platform: a note at each milestone.
    notes = [c["body"] for c in await upstreams.comments(CASE)]
    assert any(rma in note and "authorized" in note for note in notes)
    assert any("posted as credit memo" in note and memo["number"] in note for note in notes)
    # Every upstream write carried a key derived from the workflow and step.
    erp_writes = await upstreams.writes("erp")
    assert erp_writes and all(w["idempotency_key"] and w["idempotency_key"].startswith("initiateReturn-")
                              for w in erp_writes)


async def test_the_workflow_and_the_order_read_back_the_new_truth(gql: Callable[..., Any]) -> None:
    started = (await gql(INITIATE_RETURN, return_input("ret-2", (10000, 1))))["data"]["initiateReturn"]
    again = await gql(WORKFLOW, {"id": started["workflow"]["id"]})
    assert again["data"]["workflow"]["status"] == "COMPLETED"
    assert [s["name"] for s in again["data"]["workflow"]["steps"]] == [
        s["name"] for s in started["workflow"]["steps"]]
    order = await gql(
        """query($n: String!) { order(number: $n) { financialStatus returns { rmaNumber status workflow { id } }
             lines { lineNumber returnableQuantity } } }""",
        {"n": DELIVERED},
    )
    data = order["data"]["order"]
    assert data["financialStatus"] == "PARTIALLY_REFUNDED"
    assert data["returns"] == [{"rmaNumber": started["return"]["rmaNumber"], "status": "COMPLETED",
                                "workflow": {"id": started["workflow"]["id"]}}]
    assert {l["lineNumber"]: l["returnableQuantity"] for l in data["lines"]}[10000] == 0


async def test_bad_returns_are_refused_with_coded_errors_and_nothing_written(
    gql: Callable[..., Any], upstreams: Upstreams, facts: Facts
) -> None:
    short = await short_location(upstreams, facts.lines[20000].sku, 2)
    foreign = await foreign_case(upstreams)
    partial, expired, open_order = (FIXTURES["partially_shipped_order"], FIXTURES["expired_order"],
                                    FIXTURES["open_order"])
    foreign_line = {"orderLineId": gid("OrderLine", f"{open_order}:10000"), "quantity": 1, "reason": "OTHER"}
    cases: list[tuple[dict[str, Any], list[tuple[str, list[str]]]]] = [
        (return_input("v1", (10000, 2)), [("QUANTITY_EXCEEDS_RETURNABLE", ["input", "lines", "0", "quantity"])]),
        (return_input("v2", (10000, 0)), [("INVALID", ["input", "lines", "0", "quantity"])]),
        (return_input("v3", (70000, 1)), [("LINE_NOT_FOUND", ["input", "lines", "0", "orderLineId"])]),
        (return_input("v4", (30000, 1), order=partial, case=False),
         [("NOT_DELIVERED", ["input", "lines", "0", "orderLineId"])]),
        (return_input("v5", (10000, 1), order=expired, case=False),
         [("RETURN_WINDOW_EXPIRED", ["input", "lines", "0", "orderLineId"])]),
        (return_input("v6", (10000, 1), order=open_order, case=False),
         [("NOT_DELIVERED", ["input", "lines", "0", "orderLineId"])]),
        (return_input("v7", (10000, 1), order="SO-999999"), [("ORDER_NOT_FOUND", ["input", "orderId"])]),
        (return_input("v8", (10000, 1), caseId=gid("Case", foreign)), [("CASE_NOT_FOUND", ["input", "caseId"])]),
        (return_input("v9", (20000, 2), resolution="REPLACEMENT", replacementLocationId=gid("Location", short)),
         [("INSUFFICIENT_INVENTORY", ["input", "replacementLocationId"])]),
        (return_input("v10", (20000, 1), (10000, 5)),
         [("QUANTITY_EXCEEDS_RETURNABLE", ["input", "lines", "1", "quantity"])]),
    ]
    bad_line = return_input("v11", (10000, 1))
    bad_line["input"]["lines"].append(foreign_line)
    cases.append((bad_line, [("LINE_NOT_FOUND", ["input", "lines", "1", "orderLineId"])]))
    for variables, expected in cases:
        result = (await gql(INITIATE_RETURN, variables))["data"]["initiateReturn"]
        assert [(e["code"], e["field"]) for e in result["userErrors"]] == expected, (variables, result)
        assert result["workflow"] is None and result["return"] is None
    for system in ("erp", "wms", "servicedesk"):
        assert await upstreams.writes(system) == []


async def test_a_malformed_id_is_bad_user_input(gql: Callable[..., Any]) -> None:
    variables = return_input("bad-id", (10000, 1))
    variables["input"]["orderId"] = "not-an-id"
    body = await gql(INITIATE_RETURN, variables)
    assert body["data"]["initiateReturn"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
