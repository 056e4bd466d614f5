"""Idempotency keys through the graph: duplicates replay, reuse is refused, failures store nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from workflow_support import DELIVERED, INITIATE_RETURN, Upstreams, return_input


async def test_twenty_concurrent_duplicates_make_exactly_one_return(
    gql: Callable[..., Any], upstreams: Upstreams
) -> None:
    variables = return_input("same-key", (20000, 1))
    bodies = await asyncio.gather(*(gql(INITIATE_RETURN, variables) for _ in range(20)))
    results = [body["data"]["initiateReturn"] for body in bodies]
    assert all(r["userErrors"] == [] for r in results), results
    assert len({r["workflow"]["id"] for r in results}) == 1
    assert {r["return"]["rmaNumber"] for r in results if r["return"]} == {results[0]["return"]["rmaNumber"]}
    assert all(r["workflow"]["status"] == "COMPLETED" for r in results)
    returns = await upstreams.erp("salesReturnOrders", f"orderNumber eq '{DELIVERED}'")
    assert len(returns) == 1
    rma = returns[0]["number"]
    assert len(await upstreams.erp("salesCreditMemos", f"externalDocumentNumber eq '{rma}'")) == 1
    assert len(await upstreams.inbound_returns(rma)) == 1
    for system in ("erp", "wms", "servicedesk"):
        keys = [w["idempotency_key"] for w in await upstreams.writes(system)]
        assert len(keys) == len(set(keys)), f"{system} got a write twice"
    attempts = {s["name"]: s["attempts"] for s in results[0]["workflow"]["steps"]}
    assert attempts["erp.create_return_order"] == 1


async def test_a_repeat_after_completion_replays_instead_of_revalidating(
    gql: Callable[..., Any], upstreams: Upstreams
) -> None:
    variables = return_input("replay", (10000, 1))
    first = (await gql(INITIATE_RETURN, variables))["data"]["initiateReturn"]
    # The line is no longer returnable, yet the same request answers what it answered before.
    second = (await gql(INITIATE_RETURN, variables))["data"]["initiateReturn"]
    assert second["userErrors"] == []
    assert second["workflow"]["id"] == first["workflow"]["id"]
    assert second["return"]["rmaNumber"] == first["return"]["rmaNumber"]
    assert len(await upstreams.erp("salesReturnOrders", f"orderNumber eq '{DELIVERED}'")) == 1
    fresh = (await gql(INITIATE_RETURN, return_input("another-key", (10000, 1))))["data"]["initiateReturn"]
    assert [e["code"] for e in fresh["userErrors"]] == ["QUANTITY_EXCEEDS_RETURNABLE"]


async def test_the_same_key_with_a_different_input_is_refused_and_writes_nothing(
    gql: Callable[..., Any], upstreams: Upstreams
) -> None:
    await gql(INITIATE_RETURN, return_input("reused", (10000, 1)))
    before = {system: len(await upstreams.writes(system)) for system in ("erp", "wms", "servicedesk")}
    body = await gql(INITIATE_RETURN, return_input("reused", (30000, 1)))
    result = body["data"]["initiateReturn"]
    assert result["return"] is None and result["workflow"] is None
    assert result["userErrors"] == [{"field": ["input", "idempotencyKey"], "code": "IDEMPOTENCY_KEY_REUSED",
                                     "message": "This idempotency key was already used with a different input."}]
    after = {system: len(await upstreams.writes(system)) for system in ("erp", "wms", "servicedesk")}
    assert after == before


async def test_a_refused_input_stores_nothing_so_the_key_stays_free(
    gql: Callable[..., Any], upstreams: Upstreams
) -> None:
    refused = (await gql(INITIATE_RETURN, return_input("free", (20000, 5))))["data"]["initiateReturn"]
    assert [e["code"] for e in refused["userErrors"]] == ["QUANTITY_EXCEEDS_RETURNABLE"]
    assert refused["workflow"] is None
    assert await upstreams.writes("erp") == []
    accepted = (await gql(INITIATE_RETURN, return_input("free", (20000, 2))))["data"]["initiateReturn"]
    assert accepted["userErrors"] == []
    assert accepted["workflow"]["status"] == "COMPLETED"


async def test_a_key_must_be_usable(gql: Callable[..., Any]) -> None:
    for key in ("", "x" * 256):
        result = (await gql(INITIATE_RETURN, return_input(key, (10000, 1))))["data"]["initiateReturn"]
        assert [(e["code"], e["field"]) for e in result["userErrors"]] == [("INVALID", ["input", "idempotencyKey"])]
