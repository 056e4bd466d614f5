"""requestRefund: a goodwill credit against the invoice, approval strictly over the threshold."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from workflow_support import (
    APPROVE_REFUND,
    CASE,
    DELIVERED,
    REQUEST_REFUND,
    Facts,
    Upstreams,
    bearer,
    fast_settings,
    foreign_case,
    gid,
)

from graph.settings import Settings
from sandbox.seed import FIXTURES

THRESHOLD = Decimal("20.00")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Refunds over 20.00 wait for a supervisor."""
    return fast_settings(tmp_path, refund_approval_threshold=THRESHOLD)


def refund_input(key: str, amount: str, order: str = DELIVERED, case: bool = True) -> dict[str, Any]:
    return {"input": {"orderId": gid("Order", order), "amount": amount, "reason": "late delivery",
                      "idempotencyKey": key, **({"caseId": gid("Case", CASE)} if case else {})}}


async def test_a_goodwill_refund_posts_an_untaxed_credit_for_exactly_the_amount(
    gql: Callable[..., Any], settings: Settings, upstreams: Upstreams, facts: Facts
) -> None:
    body = await gql(REQUEST_REFUND, refund_input("gw-1", "15.00"), **bearer(settings, "agent", "agent-9"))
    result = body["data"]["requestRefund"]
    assert result["userErrors"] == []
    assert result["workflow"]["status"] == "COMPLETED"
    assert result["workflow"]["kind"] == "request_refund"
    refund = result["refund"]
    assert (refund["status"], refund["amount"], refund["requestedBy"]) == (
        "POSTED", {"amount": "15.00", "currencyCode": "GBP"}, "agent-9")
    assert refund["sourceStatus"] == "Open"
    memos = await upstreams.erp("salesCreditMemos", f"invoiceNumber eq '{facts.invoice}'")
    (memo,) = [m for m in memos if m["externalDocumentNumber"].startswith("RF-")]
    assert (memo["status"], memo["totalAmountIncludingTax"], memo["totalTaxAmount"]) == ("Open", 15.0, 0)
    notes = [c["body"] for c in await upstreams.comments(CASE)]
    assert any("15.00 GBP posted" in n for n in notes)
    order = await gql("query($n: String!) { order(number: $n) { financialStatus } }", {"n": DELIVERED})
    assert order["data"]["order"]["financialStatus"] == "PARTIALLY_REFUNDED"


async def test_over_the_threshold_waits_then_posts_on_approval(
    gql: Callable[..., Any], settings: Settings
) -> None:
    result = (await gql(REQUEST_REFUND, refund_input("gw-2", "20.01")))["data"]["requestRefund"]
    assert result["workflow"]["status"] == "AWAITING_APPROVAL"
    assert result["refund"]["status"] == "PENDING_APPROVAL"
    approved = (await gql(APPROVE_REFUND, {"input": {"refundId": result["refund"]["id"], "approve": True}},
                          **bearer(settings, "supervisor", "sup-1")))["data"]["approveRefund"]
    assert approved["refund"]["status"] == "POSTED"
    assert approved["refund"]["approvedBy"] == "sup-1"


async def test_exactly_the_threshold_needs_no_approval(gql: Callable[..., Any]) -> None:
    result = (await gql(REQUEST_REFUND, refund_input("gw-3", str(THRESHOLD))))["data"]["requestRefund"]
    assert result["workflow"]["status"] == "COMPLETED"
    assert result["refund"]["status"] == "POSTED"


async def test_a_pending_draft_counts_against_what_can_still_be_credited(
    gql: Callable[..., Any], facts: Facts
) -> None:
    waiting = (await gql(REQUEST_REFUND, refund_input("gw-4", str(facts.invoice_total))))["data"]["requestRefund"]
    assert waiting["refund"]["status"] == "PENDING_APPROVAL"
    more = (await gql(REQUEST_REFUND, refund_input("gw-5", "0.01")))["data"]["requestRefund"]
    assert [e["code"] for e in more["userErrors"]] == ["AMOUNT_EXCEEDS_REFUNDABLE"]


async def test_bad_refunds_are_refused_without_writing(
    gql: Callable[..., Any], upstreams: Upstreams, facts: Facts
) -> None:
    over = str(facts.invoice_total + Decimal("0.01"))
    cases = [
        (refund_input("gw-6", over), "AMOUNT_EXCEEDS_REFUNDABLE", ["input", "amount"]),
        (refund_input("gw-7", "-1"), "INVALID", ["input", "amount"]),
        (refund_input("gw-8", "1.005"), "INVALID", ["input", "amount"]),
        (refund_input("gw-9", "ten"), "INVALID", ["input", "amount"]),
        (refund_input("gw-10", "10.00", order=FIXTURES["open_order"], case=False), "NOT_INVOICED",
         ["input", "orderId"]),
        (refund_input("gw-11", "10.00", order="SO-999999"), "ORDER_NOT_FOUND", ["input", "orderId"]),
    ]
    for variables, code, field in cases:
        result = (await gql(REQUEST_REFUND, variables))["data"]["requestRefund"]
        assert [(e["code"], e["field"]) for e in result["userErrors"]] == [(code, field)], (variables, result)
        assert result["workflow"] is None
    assert await upstreams.writes("erp") == []


async def test_a_case_of_another_customer_is_not_found(gql: Callable[..., Any], upstreams: Upstreams) -> None:
    foreign = {"input": {**refund_input("gw-12", "5.00")["input"], "caseId": gid("Case", await foreign_case(upstreams))}}
    result = (await gql(REQUEST_REFUND, foreign))["data"]["requestRefund"]
    assert [(e["code"], e["field"]) for e in result["userErrors"]] == [("CASE_NOT_FOUND", ["input", "caseId"])]
