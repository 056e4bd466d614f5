"""Refunds over the threshold wait for a supervisor: approval posts, rejection closes without money."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from strawberry import relay
from workflow_support import (
    ANY_APPROVAL,
    APPROVE_REFUND,
    CASE,
    DELIVERED,
    INITIATE_RETURN,
    WORKFLOW,
    Facts,
    Upstreams,
    bearer,
    fast_settings,
    return_input,
    upstream_client,
)

from graph.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Every refund in this module waits for a supervisor."""
    return fast_settings(tmp_path, refund_approval_threshold=ANY_APPROVAL)


async def start_return(gql: Callable[..., Any], settings: Settings, facts: Facts, key: str) -> dict[str, Any]:
    body = await gql(INITIATE_RETURN, return_input(key, *facts.all_lines()), **bearer(settings, "agent", "agent-7"))
    result = body["data"]["initiateReturn"]
    assert result["userErrors"] == [], result
    return dict(result)


async def test_a_refund_over_the_threshold_parks_awaiting_approval_with_a_draft_memo(
    gql: Callable[..., Any], settings: Settings, upstreams: Upstreams, facts: Facts
) -> None:
    result = await start_return(gql, settings, facts, "big-1")
    assert result["workflow"]["status"] == "AWAITING_APPROVAL"
    steps = {s["name"]: s["status"] for s in result["workflow"]["steps"]}
    assert steps["approval"] == "WAITING"
    assert steps["erp.post_credit_memo"] == "PENDING"
    refund = result["refund"]
    assert refund["status"] == "PENDING_APPROVAL"
    assert refund["sourceStatus"] == "Draft"
    assert Decimal(refund["amount"]["amount"]) == facts.invoice_total  # every line comes back
    assert refund["requestedBy"] == "agent-7"
    assert refund["approvedBy"] is None
    rma = result["return"]["rmaNumber"]
    (memo,) = await upstreams.erp("salesCreditMemos", f"externalDocumentNumber eq '{rma}'")
    assert memo["status"] == "Draft"
    (invoice,) = await upstreams.erp("salesInvoices", f"number eq '{facts.invoice}'")
    assert invoice["status"] == "Paid"


async def test_a_supervisor_approval_posts_the_credit_memo_and_records_who(
    gql: Callable[..., Any], settings: Settings, upstreams: Upstreams, facts: Facts
) -> None:
    result = await start_return(gql, settings, facts, "big-2")
    refund_id = result["refund"]["id"]
    body = await gql(APPROVE_REFUND, {"input": {"refundId": refund_id, "approve": True, "note": "ok"}},
                     **bearer(settings, "supervisor", "sup-3"))
    approved = body["data"]["approveRefund"]
    assert approved["userErrors"] == []
    assert approved["workflow"]["status"] == "COMPLETED"
    assert approved["refund"]["status"] == "POSTED"
    assert approved["refund"]["approvedBy"] == "sup-3"
    assert approved["refund"]["requestedBy"] == "agent-7"
    rma = result["return"]["rmaNumber"]
    (memo,) = await upstreams.erp("salesCreditMemos", f"externalDocumentNumber eq '{rma}'")
    assert memo["status"] == "Open"
    notes = [c["body"] for c in await upstreams.comments(CASE)]
    assert any("posted as credit memo" in n for n in notes)
    order = await gql("query($n: String!) { order(number: $n) { financialStatus } }", {"n": DELIVERED})
    assert order["data"]["order"]["financialStatus"] == "REFUNDED"

    again = await gql(APPROVE_REFUND, {"input": {"refundId": refund_id, "approve": False}},
                      **bearer(settings, "supervisor", "sup-3"))
    assert [e["code"] for e in again["data"]["approveRefund"]["userErrors"]] == ["REFUND_NOT_PENDING"]


async def test_a_rejection_cancels_the_draft_closes_the_return_and_notes_the_case(
    gql: Callable[..., Any], settings: Settings, upstreams: Upstreams, facts: Facts
) -> None:
    result = await start_return(gql, settings, facts, "big-3")
    body = await gql(APPROVE_REFUND, {"input": {"refundId": result["refund"]["id"], "approve": False,
                                                "note": "item was used"}},
                     **bearer(settings, "supervisor", "sup-4"))
    rejected = body["data"]["approveRefund"]
    assert rejected["refund"]["status"] == "REJECTED"
    assert rejected["refund"]["approvedBy"] == "sup-4"
    assert rejected["workflow"]["status"] == "COMPLETED"
    steps = {s["name"]: s["status"] for s in rejected["workflow"]["steps"]}
    assert steps["erp.post_credit_memo"] == "SKIPPED"
    assert steps["erp.withdraw_credit_memo"] == "COMPLETED"
    assert steps["erp.close_return"] == "COMPLETED"
    rma = result["return"]["rmaNumber"]
    (memo,) = await upstreams.erp("salesCreditMemos", f"externalDocumentNumber eq '{rma}'")
    assert memo["status"] == "Canceled"
    (rma_row,) = await upstreams.erp("salesReturnOrders", f"number eq '{rma}'")
    assert rma_row["status"] == "Closed"
    notes = [c["body"] for c in await upstreams.comments(CASE)]
    assert any("rejected by sup-4: item was used" in n for n in notes)
    order = await gql("query($n: String!) { order(number: $n) { financialStatus } }", {"n": DELIVERED})
    assert order["data"]["order"]["financialStatus"] == "PAID"


async def test_only_supervisors_approve(gql: Callable[..., Any], settings: Settings, facts: Facts) -> None:
    result = await start_return(gql, settings, facts, "big-5")
    body = await gql(APPROVE_REFUND, {"input": {"refundId": result["refund"]["id"], "approve": True}},
                     **bearer(settings, "agent", "agent-7"))
    assert body["data"]["approveRefund"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    still = await gql(WORKFLOW, {"id": result["workflow"]["id"]})
    assert still["data"]["workflow"]["status"] == "AWAITING_APPROVAL"


async def test_an_unknown_refund_is_not_found(gql: Callable[..., Any], settings: Settings) -> None:
    from workflow_support import gid

    body = await gql(APPROVE_REFUND, {"input": {"refundId": gid("Refund", "CM-999999"), "approve": True}},
                     **bearer(settings, "supervisor"))
    assert [e["code"] for e in body["data"]["approveRefund"]["userErrors"]] == ["REFUND_NOT_FOUND"]



async def test_a_duplicate_while_waiting_replays_without_running_anything(
    gql: Callable[..., Any], settings: Settings, upstreams: Upstreams, facts: Facts
) -> None:
    first = await start_return(gql, settings, facts, "big-6")
    writes = {system: len(await upstreams.writes(system)) for system in ("erp", "wms", "servicedesk")}
    again = await start_return(gql, settings, facts, "big-6")
    assert again["workflow"]["id"] == first["workflow"]["id"]
    assert again["workflow"]["status"] == "AWAITING_APPROVAL"
    assert {s["name"]: s["attempts"] for s in again["workflow"]["steps"]}["erp.create_return_order"] == 1
    assert {system: len(await upstreams.writes(system)) for system in writes} == writes


async def test_a_return_cancelled_in_the_erp_while_waiting_is_not_refunded(
    gql: Callable[..., Any], settings: Settings, upstreams: Upstreams, facts: Facts
) -> None:
    result = await start_return(gql, settings, facts, "big-7")
    rma = result["return"]["rmaNumber"]
    (row,) = await upstreams.erp("salesReturnOrders", f"number eq '{rma}'")
    company = (await upstreams._get("erp", "/api/v2.0/companies"))["value"][0]["id"]
    async with upstream_client(upstreams.sandbox, "erp") as erp:  # someone cancels it in the ERP itself
        response = await erp.patch(f"/api/v2.0/companies({company})/salesReturnOrders({row['id']})",
                                   json={"status": "Canceled"}, headers={"If-Match": row["@odata.etag"]})
        response.raise_for_status()
    body = await gql(APPROVE_REFUND, {"input": {"refundId": result["refund"]["id"], "approve": True}},
                     **bearer(settings, "supervisor"))
    approved = body["data"]["approveRefund"]
    assert approved["workflow"]["status"] == "COMPENSATED"
    assert "is Canceled; its refund is not posted" in approved["workflow"]["error"]
    assert approved["refund"]["status"] == "FAILED"
    (memo,) = await upstreams.erp("salesCreditMemos", f"externalDocumentNumber eq '{rma}'")
    assert memo["status"] == "Canceled"


async def test_the_read_path_can_overlay_approval_state_on_the_erp_refund(
    gql: Callable[..., Any], settings: Settings, facts: Facts, graph_app: Starlette
) -> None:
    from resolvers.returns import refund_from_credit_memo

    result = await start_return(gql, settings, facts, "big-8")
    number = relay.from_base64(result["refund"]["id"])[1]
    memo = (await graph_app.state.sources.erp.credit_memos_by_numbers([number]))[number]
    from_erp = refund_from_credit_memo(memo)
    assert from_erp.status.value == "APPROVED"  # a Draft memo cannot say it waits for a supervisor
    overlaid = await graph_app.state.orchestrator.refund_overlay(from_erp)
    assert (overlaid.status.value, overlaid.requested_by) == ("PENDING_APPROVAL", "agent-7")
    seeded = dataclasses.replace(from_erp, key="CM-000001")  # a refund retailgraph did not run
    assert await graph_app.state.orchestrator.refund_overlay(seeded) is seeded
