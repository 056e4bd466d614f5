"""A cancellation that loses the race to a refund changes nothing (the ERP check guards it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette

from orchestrator import WorkflowState
from workflow_support import DELIVERED, INITIATE_RETURN, Upstreams, return_input


async def test_a_cancel_started_before_the_refund_posted_refuses_and_leaves_everything(
    gql: Callable[..., Any], graph_app: Starlette, upstreams: Upstreams
) -> None:
    done = (await gql(INITIATE_RETURN, return_input("race-1", (10000, 1))))["data"]["initiateReturn"]
    assert done["refund"]["status"] == "POSTED"
    rma = done["return"]["rmaNumber"]
    (row,) = await upstreams.erp("salesReturnOrders", f"number eq '{rma}'")
    # As if cancelReturn had validated a moment before the refund posted.
    payload = {"rmaNumber": rma, "erpId": row["id"], "orderNumber": DELIVERED, "returnWorkflowId": None,
               "awaitingApproval": False, "replacementOrderErpId": None, "caseId": None, "requestedBy": "agent"}
    engine = graph_app.state.orchestrator
    started = await engine.start("cancel_return", key=rma, client_input={"returnId": rma}, payload=payload,
                                 principal="agent")
    final = await engine.wait(started.id, 30, until=lambda r: r.status is not WorkflowState.RUNNING)
    assert final.status is WorkflowState.COMPENSATED
    assert "was refunded by CM-" in final.error
    (after,) = await upstreams.erp("salesReturnOrders", f"number eq '{rma}'")
    assert after["status"] == "Released"
    assert [i["status"] for i in await upstreams.inbound_returns(rma)] == ["expected"]
