"""The return workflow as a benchmark flow: check eligibility, then start a return.

Each run takes one returnable unit found at setup (an order line delivered inside the return
window), asks `returnEligibility` for its order as an agent would, then `initiateReturn`s
one unit for a refund and checks the answer: no user errors, an RMA, and the workflow
COMPLETED (or still RUNNING / AWAITING_APPROVAL when the mutation's wait ran out). Units are
spent for good (the refund posts), so the setup counts how many a run may use.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from strawberry import relay

from bench.driver import Step, post_checked

ELIGIBILITY = """
query ReturnEligibility($number: String!) {
  returnEligibility(orderNumber: $number) {
    orderNumber eligible lines { eligible returnableQuantity orderLine { id sku } }
  }
}
"""

INITIATE = """
mutation InitiateReturn($input: InitiateReturnInput!) {
  initiateReturn(input: $input) {
    return { rmaNumber status }
    workflow { status steps { name status } }
    userErrors { code message }
  }
}
"""

SCAN = """
query ReturnScan($number: String!) {
  returnEligibility(orderNumber: $number) {
    lines { eligible returnableQuantity orderLine { id } }
  }
  order(number: $number) { invoices { number } }
}
"""

FINISHED = {"COMPLETED", "RUNNING", "AWAITING_APPROVAL"}


@dataclass
class Unit:
    """One returnable unit of one order line."""

    order_number: str
    line_id: str


@dataclass
class ReturnFlow:
    """Eligibility then initiateReturn, one unit per run."""

    units: list[Unit] = field(default_factory=list)
    name: str = "return-workflow"

    def step(self) -> Step:
        """The flow as a driver step (two GraphQL requests)."""

        async def run(http: httpx.AsyncClient, rng: random.Random, token: str) -> str | None:
            if not self.units:
                return "no returnable units left (raise --return-scan)"
            unit = self.units.pop()
            body, failure = await post_checked(
                http, {"query": ELIGIBILITY, "variables": {"number": unit.order_number}}, token,
                lambda b: _eligible(b, unit),
            )
            if failure:
                return failure
            variables = {"input": {
                "orderId": relay.to_base64("Order", unit.order_number),
                "lines": [{"orderLineId": unit.line_id, "quantity": 1, "reason": "DAMAGED"}],
                "resolution": "REFUND",
                "idempotencyKey": f"bench-{uuid.uuid4().hex}",
            }}
            _, failure = await post_checked(http, {"query": INITIATE, "variables": variables}, token,
                                            _started)
            return failure

        return run


def _eligible(body: dict[str, Any], unit: Unit) -> str | None:
    result = (body.get("data") or {}).get("returnEligibility") or {}
    for line in result.get("lines") or ():
        if line["orderLine"]["id"] == unit.line_id and line["returnableQuantity"] >= 1:
            return None
    return f"{unit.order_number}: the line is no longer returnable"


def _started(body: dict[str, Any]) -> str | None:
    payload = (body.get("data") or {}).get("initiateReturn") or {}
    if payload.get("userErrors"):
        return f"userErrors: {payload['userErrors'][:1]}"
    if not (payload.get("return") or {}).get("rmaNumber"):
        return "no RMA"
    status = (payload.get("workflow") or {}).get("status")
    return None if status in FINISHED else f"workflow {status}"


async def find_units(base_url: str, token: str, orders: Sequence[str], limit: int) -> list[Unit]:
    """Returnable units of the given invoiced orders (a line's returnable quantity, one per unit)."""
    units: list[Unit] = []
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as http:
        semaphore = asyncio.Semaphore(8)

        async def scan(number: str) -> list[Unit]:
            async with semaphore:
                body, failure = await post_checked(
                    http, {"query": SCAN, "variables": {"number": number}}, token, lambda b: None
                )
            data = (body or {}).get("data") or {}
            if failure or not ((data.get("order") or {}).get("invoices")):
                return []  # a refund credits an invoice: orders not invoiced yet cannot take one
            lines = (data.get("returnEligibility") or {}).get("lines") or []
            return [Unit(number, line["orderLine"]["id"])
                    for line in lines if line["eligible"] for _ in range(line["returnableQuantity"])]

        for found in await asyncio.gather(*(scan(number) for number in orders)):
            units += found
    random.Random(5).shuffle(units)
    return units[:limit]
