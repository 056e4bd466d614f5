"""Failure injected at every step of the return workflow: retries, then compensation, no orphans.

Faults are injected in front of the real sandbox (per route and body), so each step's own
upstream call fails while the compensations that follow can still reach the same system.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from workflow_support import (
    CASE,
    DELIVERED,
    INITIATE_RETURN,
    Facts,
    Fault,
    FaultyTransport,
    Upstreams,
    return_input,
    upstream_client,
)

from sandbox.seed import FIXTURES

# step → (system, the request that step makes)
REFUND_STEPS: dict[str, tuple[str, Fault]] = {
    "erp.create_return_order": ("erp", Fault("POST", r"/salesReturnOrders$")),
    "erp.authorize_return": ("erp", Fault("PATCH", r"/salesReturnOrders\(", body="Released")),
    "wms.expect_inbound_return": ("wms", Fault("POST", r"^/v1/inbound-returns$")),
    "servicedesk.note_return_authorized": ("servicedesk", Fault("PUT", r"/tickets/", body="authorized for")),
    "erp.create_credit_memo": ("erp", Fault("POST", r"/salesCreditMemos$")),
    "erp.post_credit_memo": ("erp", Fault("POST", r"Microsoft\.NAV\.post$")),
}
REPLACEMENT_STEPS: dict[str, tuple[str, Fault]] = {
    "wms.reserve_replacement.10000": ("wms", Fault("POST", r"^/v1/reservations$")),
    "erp.create_replacement_order": ("erp", Fault("POST", r"/salesOrders$")),
    "servicedesk.note_replacement": ("servicedesk", Fault("PUT", r"/tickets/", body="Replacement order")),
}


async def assert_nothing_left(upstreams: Upstreams) -> None:
    """No live return order, credit memo, inbound return or reservation for the order."""
    returns = await upstreams.erp("salesReturnOrders", f"orderNumber eq '{DELIVERED}'")
    assert all(r["status"] == "Canceled" for r in returns), returns
    for rma in returns:
        memos = await upstreams.erp("salesCreditMemos", f"externalDocumentNumber eq '{rma['number']}'")
        assert all(m["status"] == "Canceled" for m in memos), memos
        assert all(i["status"] == "cancelled" for i in await upstreams.inbound_returns(rma["number"]))
        assert all(r["status"] == "released" for r in await upstreams.reservations(rma["number"]))
    replacements = await upstreams.erp("salesOrders", "startswith(externalDocumentNumber,'RMA-')")
    assert replacements == []


@pytest.mark.parametrize("step", list(REFUND_STEPS))
async def test_an_outage_at_each_refund_step_is_retried_then_compensated(
    step: str, gql: Callable[..., Any], transports: dict[str, FaultyTransport], upstreams: Upstreams, facts: Facts
) -> None:
    system, fault = REFUND_STEPS[step]
    transports[system].faults.append(fault)
    body = await gql(INITIATE_RETURN, return_input(f"fault-{step}", (10000, 1)))
    workflow = body["data"]["initiateReturn"]["workflow"]
    assert workflow["status"] == "COMPENSATED", workflow
    steps = {s["name"]: s for s in workflow["steps"]}
    assert steps[step]["status"] == "FAILED"
    assert steps[step]["attempts"] == 3  # settings: three attempts for transient failures
    assert "injected 503" in workflow["error"] and "after 3 attempts" in workflow["error"]
    before = list(steps)[: list(steps).index(step)]
    assert all(steps[name]["status"] in ("COMPENSATED", "COMPLETED", "SKIPPED") for name in before)
    assert fault.seen == 3
    await assert_nothing_left(upstreams)
    memos = await upstreams.erp("salesCreditMemos", f"invoiceNumber eq '{facts.invoice}'")
    assert all(m["status"] == "Canceled" for m in memos if m["externalDocumentNumber"].startswith("RMA-"))


@pytest.mark.parametrize("step", list(REPLACEMENT_STEPS))
async def test_an_outage_at_each_replacement_step_is_compensated(
    step: str, gql: Callable[..., Any], transports: dict[str, FaultyTransport], upstreams: Upstreams
) -> None:
    system, fault = REPLACEMENT_STEPS[step]
    transports[system].faults.append(fault)
    body = await gql(INITIATE_RETURN, return_input(f"fault-{step}", (10000, 1), resolution="REPLACEMENT"))
    result = body["data"]["initiateReturn"]
    assert result["userErrors"] == []
    workflow = result["workflow"]
    assert workflow["status"] == "COMPENSATED", workflow
    assert {s["name"]: s["status"] for s in workflow["steps"]}[step] == "FAILED"
    await assert_nothing_left(upstreams)


async def test_a_refused_write_is_not_retried_and_is_compensated(
    gql: Callable[..., Any], transports: dict[str, FaultyTransport], upstreams: Upstreams
) -> None:
    fault = Fault("POST", r"/salesCreditMemos$", mode="400")
    transports["erp"].faults.append(fault)
    body = await gql(INITIATE_RETURN, return_input("refused", (10000, 1)))
    workflow = body["data"]["initiateReturn"]["workflow"]
    assert workflow["status"] == "COMPENSATED"
    assert {s["name"]: s["attempts"] for s in workflow["steps"]}["erp.create_credit_memo"] == 1
    assert fault.seen == 1
    await assert_nothing_left(upstreams)
    notes = [c["body"] for c in await upstreams.comments(CASE)]
    assert any("was rolled back" in n and "injected 400" in n for n in notes)


async def test_a_failure_after_posting_fails_forward_and_keeps_the_refund(
    gql: Callable[..., Any], transports: dict[str, FaultyTransport], upstreams: Upstreams
) -> None:
    transports["servicedesk"].faults.append(Fault("PUT", r"/tickets/", body="posted as credit memo"))
    body = await gql(INITIATE_RETURN, return_input("after-pivot", (10000, 1)))
    workflow = body["data"]["initiateReturn"]["workflow"]
    assert workflow["status"] == "FAILED"  # money went back; only the note is missing
    assert {s["name"]: s["status"] for s in workflow["steps"]}["erp.post_credit_memo"] == "COMPLETED"
    rma = body["data"]["initiateReturn"]["return"]["rmaNumber"]
    (memo,) = await upstreams.erp("salesCreditMemos", f"externalDocumentNumber eq '{rma}'")
    assert memo["status"] == "Open"


@pytest.mark.parametrize("step", ["erp.create_return_order", "wms.expect_inbound_return",
                                  "erp.create_credit_memo", "erp.post_credit_memo"])
async def test_a_lost_answer_is_retried_with_the_same_key_and_writes_once(
    step: str, gql: Callable[..., Any], transports: dict[str, FaultyTransport], upstreams: Upstreams
) -> None:
    system, route = REFUND_STEPS[step]
    lost = Fault(route.method, route.path, body=route.body, times=1, mode="lost")
    transports[system].faults.append(lost)
    body = await gql(INITIATE_RETURN, return_input(f"lost-{step}", (10000, 1)))
    workflow = body["data"]["initiateReturn"]["workflow"]
    assert workflow["status"] == "COMPLETED", workflow
    assert {s["name"]: s["attempts"] for s in workflow["steps"]}[step] == 2
    writes = await upstreams.writes(system)
    keys = [w["idempotency_key"] for w in writes]
    assert len(keys) == len(set(keys)), "a retried step wrote twice"
    assert len(await upstreams.erp("salesReturnOrders", f"orderNumber eq '{DELIVERED}'")) == 1
    rma = body["data"]["initiateReturn"]["return"]["rmaNumber"]
    assert len(await upstreams.erp("salesCreditMemos", f"externalDocumentNumber eq '{rma}'")) == 1
    assert len(await upstreams.inbound_returns(rma)) == 1


def test_the_fault_table_covers_every_step_before_the_pivot() -> None:
    from orchestrator.return_initiate import entries

    payload = {"resolution": "REFUND", "lines": [{"lineNumber": 10000}]}
    names = [entry.name for entry in entries(payload)]
    assert set(REFUND_STEPS) == set(names[: names.index("erp.post_credit_memo") + 1]) - {"approval"}
    assert FIXTURES["delivered_order"] == DELIVERED


async def test_an_upstream_outage_during_validation_starts_nothing(
    gql: Callable[..., Any], upstreams: Upstreams
) -> None:
    async with upstream_client(upstreams.sandbox, "wms") as wms:
        (await wms.put("/_sandbox/faults", json={"outage": True})).raise_for_status()
    body = await gql(INITIATE_RETURN, return_input("wms-down", (10000, 1)))
    assert body["data"]["initiateReturn"] is None
    assert {e["extensions"]["code"] for e in body["errors"]} == {"SOURCE_UNAVAILABLE"}
    for system in ("erp", "wms", "servicedesk"):
        assert await upstreams.writes(system) == []
    async with upstream_client(upstreams.sandbox, "wms") as wms:
        (await wms.put("/_sandbox/faults", json={"outage": False})).raise_for_status()
    again = (await gql(INITIATE_RETURN, return_input("wms-down", (10000, 1))))["data"]["initiateReturn"]
    assert again["workflow"]["status"] == "COMPLETED"  # the key was not spent by the failed attempt
