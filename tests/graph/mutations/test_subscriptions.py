"""workflowUpdated and caseUpdated over graphql-transport-ws, and the event log in the graph."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from workflow_support import (
    ADD_CASE_NOTE,
    ANY_APPROVAL,
    APPROVE_REFUND,
    CASE,
    INITIATE_RETURN,
    RESERVE_REPLACEMENT,
    Facts,
    Socket,
    Upstreams,
    bearer,
    fast_settings,
    gid,
    return_input,
    stocked_location,
)

from graph.settings import Settings

FOLLOW = "subscription($id: ID!) { workflowUpdated(id: $id) { status steps { name status } } }"


async def until_complete(ws: Socket, pick: Callable[[dict[str, Any]], Any]) -> list[Any]:
    seen = []
    while True:
        message = await ws.receive_json()
        if message["type"] == "complete":
            return seen
        assert message["type"] == "next", message
        seen.append(pick(message["payload"]["data"]))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Every refund in this module waits for a supervisor."""
    return fast_settings(tmp_path, refund_approval_threshold=ANY_APPROVAL)


async def test_workflow_updated_follows_a_refund_through_approval_to_the_end(
    gql: Callable[..., Any], settings: Settings, graph_app: Starlette, facts: Facts
) -> None:
    result = (await gql(INITIATE_RETURN, return_input("sub-1", *facts.all_lines())))
    result = result["data"]["initiateReturn"]
    workflow_id = result["workflow"]["id"]
    async with Socket(graph_app) as ws:
        await ws.subscribe(FOLLOW, {"id": workflow_id})
        first = await ws.receive_json()
        assert first["payload"]["data"]["workflowUpdated"]["status"] == "AWAITING_APPROVAL"
        approved = await gql(APPROVE_REFUND, {"input": {"refundId": result["refund"]["id"], "approve": True}},
                             **bearer(settings, "supervisor"))
        assert approved["data"]["approveRefund"]["workflow"]["status"] == "COMPLETED"
        statuses = await until_complete(ws, lambda data: data["workflowUpdated"]["status"])
    assert statuses[-1] == "COMPLETED"
    assert "RUNNING" in statuses  # the steps after the approval were seen running

    body = await gql("query($id: ID!) { workflow(id: $id) { events { type version subject data } } }",
                     {"id": workflow_id})
    events = body["data"]["workflow"]["events"]
    types = [event["type"] for event in events]
    assert types[:3] == ["ReturnRequested", "ReturnAuthorized", "InboundReturnExpected"]
    for expected in ("RefundRequested", "RefundApproved", "RefundPosted", "CaseNoteAdded", "WorkflowCompleted"):
        assert expected in types
    assert types.index("RefundApproved") < types.index("RefundPosted") < types.index("WorkflowCompleted")
    posted = next(event for event in events if event["type"] == "RefundPosted")
    assert posted["version"] == 1 and Decimal(posted["data"]["amount"]) == facts.invoice_total


async def test_an_unknown_workflow_completes_at_once(graph_app: Starlette) -> None:
    async with Socket(graph_app) as ws:
        await ws.subscribe(FOLLOW, {"id": gid("Workflow", "initiateReturn-nothing")})
        assert (await ws.receive_json())["type"] == "complete"


async def test_case_updated_sees_a_note_added_by_a_mutation(gql: Callable[..., Any], graph_app: Starlette) -> None:
    async with Socket(graph_app) as ws:
        await ws.subscribe("subscription($id: ID!) { caseUpdated(id: $id) { number updatedAt } }",
                           {"id": gid("Case", CASE)})
        added = await gql(ADD_CASE_NOTE, {"input": {"caseId": gid("Case", CASE), "body": "Parcel found."}})
        assert added["data"]["addCaseNote"]["workflow"]["status"] == "COMPLETED"
        message = await ws.receive_json()
        assert message["type"] == "next"
        assert message["payload"]["data"]["caseUpdated"]["number"] == CASE
        await ws.send_json({"id": "1", "type": "complete"})


async def test_inventory_changed_reports_a_reservation(
    gql: Callable[..., Any], graph_app: Starlette, upstreams: Upstreams, facts: Facts
) -> None:
    from test_reserve_replacement import reserve_input

    sku = facts.lines[10000].sku
    location = await stocked_location(upstreams, sku)
    before = (await upstreams.level(sku, location))["reserved"]
    async with Socket(graph_app) as ws:
        await ws.subscribe("subscription($skus: [String!]!) { inventoryChanged(skus: $skus) "
                           "{ sku location { id } reserved } }", {"skus": [sku]})
        reserved = await gql(RESERVE_REPLACEMENT, reserve_input("sub-rep", 10000, 1, location))
        assert reserved["data"]["reserveReplacement"]["workflow"]["status"] == "COMPLETED"
        message = await ws.receive_json()
        levels = {level["location"]["id"]: level["reserved"] for level in message["payload"]["data"]["inventoryChanged"]}
        assert levels[gid("Location", location)] == before + 1
        await ws.send_json({"id": "1", "type": "complete"})
