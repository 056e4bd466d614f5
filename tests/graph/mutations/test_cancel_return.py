"""cancelReturn: the refund waiting for approval is withdrawn, WMS and ERP documents cancelled."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from workflow_support import (
    ANY_APPROVAL,
    APPROVE_REFUND,
    CANCEL_RETURN,
    CASE,
    INITIATE_RETURN,
    Facts,
    Upstreams,
    bearer,
    fast_settings,
    gid,
    return_input,
    workflow_key,
)

from graph.settings import Settings
from orchestrator import WorkflowState


async def cancel(gql: Callable[..., Any], rma: str) -> dict[str, Any]:
    body = await gql(CANCEL_RETURN, {"input": {"returnId": gid("Return", rma)}})
    return dict(body["data"]["cancelReturn"])


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Every refund in this module waits for a supervisor."""
    return fast_settings(tmp_path, refund_approval_threshold=ANY_APPROVAL)


async def test_a_return_waiting_for_approval_is_cancelled_everywhere(
    gql: Callable[..., Any], upstreams: Upstreams, graph_app: Starlette, facts: Facts
) -> None:
    started = (await gql(INITIATE_RETURN, return_input("c-1", *facts.all_lines())))
    started = started["data"]["initiateReturn"]
    assert started["workflow"]["status"] == "AWAITING_APPROVAL"
    rma = started["return"]["rmaNumber"]
    result = await cancel(gql, rma)
    assert result["userErrors"] == []
    assert result["workflow"]["kind"] == "cancel_return"
    assert result["workflow"]["status"] == "COMPLETED", result["workflow"]
    assert result["return"]["status"] == "CANCELLED"
    steps = {s["name"]: s["status"] for s in result["workflow"]["steps"]}
    assert steps["refund.withdraw"] == "COMPLETED"
    assert steps["erp.delete_replacement_order"] == "SKIPPED"
    # The return's own workflow hears the cancellation and withdraws its draft credit memo.
    origin = await graph_app.state.orchestrator.wait(
        workflow_key(started["workflow"]["id"]), 30, until=lambda r: r.status is WorkflowState.CANCELLED)
    assert origin is not None and origin.status is WorkflowState.CANCELLED
    (memo,) = await upstreams.erp("salesCreditMemos", f"externalDocumentNumber eq '{rma}'")
    assert memo["status"] == "Canceled"
    (row,) = await upstreams.erp("salesReturnOrders", f"number eq '{rma}'")
    assert row["status"] == "Canceled"
    assert [i["status"] for i in await upstreams.inbound_returns(rma)] == ["cancelled"]
    notes = [c["body"] for c in await upstreams.comments(CASE)]
    assert any(f"Return {rma}" in n and "was cancelled" in n for n in notes)
    refund = await graph_app.state.orchestrator.refunds.by_workflow(origin.id)
    assert refund is not None and refund.status.value == "REJECTED" and refund.decision_note == "return cancelled"


async def test_a_replacement_return_cancel_releases_stock_and_deletes_the_order(
    gql: Callable[..., Any], upstreams: Upstreams
) -> None:
    started = (await gql(INITIATE_RETURN, return_input("c-2", (10000, 1), resolution="REPLACEMENT")))
    rma = started["data"]["initiateReturn"]["return"]["rmaNumber"]
    result = await cancel(gql, rma)
    assert result["workflow"]["status"] == "COMPLETED", result["workflow"]
    assert [r["status"] for r in await upstreams.reservations(rma)] == ["released"]
    assert await upstreams.erp("salesOrders", f"externalDocumentNumber eq '{rma}'") == []
    assert [i["status"] for i in await upstreams.inbound_returns(rma)] == ["cancelled"]


async def test_cancelling_again_answers_the_first_cancellation(gql: Callable[..., Any], upstreams: Upstreams) -> None:
    started = (await gql(INITIATE_RETURN, return_input("c-3", (10000, 1), resolution="REPLACEMENT")))
    rma = started["data"]["initiateReturn"]["return"]["rmaNumber"]
    first = await cancel(gql, rma)
    writes = len(await upstreams.writes("erp"))
    second = await cancel(gql, rma)
    assert second["workflow"]["id"] == first["workflow"]["id"]
    assert second["userErrors"] == []
    assert len(await upstreams.writes("erp")) == writes


async def test_settled_and_unknown_returns_cannot_be_cancelled(gql: Callable[..., Any], settings: Settings) -> None:
    started = (await gql(INITIATE_RETURN, return_input("c-4", (10000, 1))))["data"]["initiateReturn"]
    approved = await gql(APPROVE_REFUND, {"input": {"refundId": started["refund"]["id"], "approve": True}},
                         **bearer(settings, "supervisor"))
    assert approved["data"]["approveRefund"]["refund"]["status"] == "POSTED"
    refused = await cancel(gql, started["return"]["rmaNumber"])
    assert [(e["code"], e["field"]) for e in refused["userErrors"]] == [
        ("RETURN_NOT_CANCELLABLE", ["input", "returnId"])]
    assert refused["workflow"] is None
    unknown = await cancel(gql, "RMA-999999")
    assert [e["code"] for e in unknown["userErrors"]] == ["RETURN_NOT_FOUND"]
