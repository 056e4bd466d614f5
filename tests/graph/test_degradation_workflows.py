"""A return workflow against a flapping ERP: it retries and completes, or compensates, and
never writes twice (the sandbox's `/_sandbox/writes` log shows every accepted write)."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from workflow_fixtures import graph_app, settings, transports, upstreams
from workflow_support import DELIVERED, INITIATE_RETURN, Fault, FaultyTransport, Upstreams, return_input

__all__ = ["graph_app", "settings", "transports", "upstreams"]  # fixtures shared with the conftests

CREATE_RETURN = Fault("POST", r"/salesReturnOrders$", times=2)  # 503 twice, then through


async def assert_written_once(upstreams: Upstreams) -> list[dict[str, Any]]:
    """No idempotency key accepted twice anywhere; the ERP writes, in order."""
    for name in ("erp", "wms", "servicedesk"):
        keys = [w["idempotency_key"] for w in await upstreams.writes(name)]
        assert len(keys) == len(set(keys)), f"{name} accepted a write twice"
    return await upstreams.writes("erp")


def steps_of(body: Any) -> dict[str, Any]:
    return {s["name"]: s for s in body["data"]["initiateReturn"]["workflow"]["steps"]}


async def test_the_workflow_step_retries_through_a_flapping_erp_and_writes_once(
    gql: Callable[..., Any], transports: dict[str, FaultyTransport], upstreams: Upstreams
) -> None:
    fault = Fault(CREATE_RETURN.method, CREATE_RETURN.path, times=2)
    transports["erp"].faults.append(fault)
    body = await gql(INITIATE_RETURN, return_input("flap-1", (10000, 1)))
    workflow = body["data"]["initiateReturn"]["workflow"]
    assert workflow["status"] == "COMPLETED", workflow
    # Keyed writes are retried by the orchestrator's durable step, not again underneath it.
    assert steps_of(body)["erp.create_return_order"]["attempts"] == 3 and fault.seen == 2
    writes = await assert_written_once(upstreams)
    assert [w["path"].rsplit("/", 1)[-1] for w in writes].count("salesReturnOrders") == 1
    assert len(await upstreams.erp("salesReturnOrders", f"orderNumber eq '{DELIVERED}'")) == 1


@pytest.mark.parametrize("settings", [{"write_retry_attempts": 3}], indirect=True)
async def test_with_source_retries_for_keyed_writes_the_step_succeeds_first_time(
    gql: Callable[..., Any], transports: dict[str, FaultyTransport], upstreams: Upstreams
) -> None:
    transports["erp"].faults.append(Fault(CREATE_RETURN.method, CREATE_RETURN.path, times=2))
    transports["erp"].faults.append(Fault("POST", r"/salesCreditMemos$", times=1, mode="lost"))
    body = await gql(INITIATE_RETURN, return_input("flap-2", (10000, 1)))
    assert body["data"]["initiateReturn"]["workflow"]["status"] == "COMPLETED"
    steps = steps_of(body)
    assert steps["erp.create_return_order"]["attempts"] == 1  # the source retried, same key
    assert steps["erp.create_credit_memo"]["attempts"] == 1  # the lost answer was replayed
    await assert_written_once(upstreams)
    rma = body["data"]["initiateReturn"]["return"]["rmaNumber"]
    assert len(await upstreams.erp("salesReturnOrders", f"orderNumber eq '{DELIVERED}'")) == 1
    assert len(await upstreams.erp("salesCreditMemos", f"externalDocumentNumber eq '{rma}'")) == 1


class FlappingWrites(Fault):
    """Every ERP write (not the `$batch` reads) fails with 503 at a seeded 30% rate."""

    def __init__(self, seed: int) -> None:
        super().__init__("POST|PATCH|DELETE", r"^/api/v2\.0/companies")
        self.rng = random.Random(seed)

    def matches(self, request: httpx.Request) -> bool:
        return (request.method in ("POST", "PATCH", "DELETE")
                and re.search(self.path, request.url.path) is not None
                and self.rng.random() < 0.3)


@pytest.mark.parametrize("settings", [{}, {"write_retry_attempts": 3}], indirect=True)
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_under_30_percent_erp_write_503s_a_return_completes_or_compensates_never_doubles(
    seed: int, gql: Callable[..., Any], transports: dict[str, FaultyTransport], upstreams: Upstreams
) -> None:
    flapping = FlappingWrites(seed)
    transports["erp"].faults.append(flapping)
    body = await gql(INITIATE_RETURN, return_input(f"flap-seed-{seed}", (10000, 1)))
    workflow = body["data"]["initiateReturn"]["workflow"]
    assert workflow["status"] in ("COMPLETED", "COMPENSATED"), workflow
    assert flapping.seen > 0
    await assert_written_once(upstreams)
    returns = await upstreams.erp("salesReturnOrders", f"orderNumber eq '{DELIVERED}'")
    live = [r for r in returns if r["status"] != "Canceled"]
    assert len(returns) <= 1 and len(live) == (1 if workflow["status"] == "COMPLETED" else 0)
