"""operationsSummary: the ops view for supervisors and developers, from the journal and upstreams."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from workflow_support import (
    DELIVERED,
    INITIATE_RETURN,
    Fault,
    FaultyTransport,
    bearer,
    fast_settings,
    return_input,
    running_graph,
    transports_for,
)

from graph.settings import Settings
from resolvers.ops import RecentRates, case_aging, percentile
from sandbox.apps import SandboxApps
from sources.records import Case, CasePriority, CaseStatus

OPS = """
query Ops($days: Int! = 7) {
  operationsSummary(days: $days) {
    windowDays
    caseAging { openCases buckets { label minHours maxHours count } byStatus { label count }
                byPriority { label count } oldestOpenedAt truncated }
    returnCycleTimes { completed { count p50Seconds maxSeconds } inProgress }
    refunds { requested awaitingApproval posted rejected failed postingDelay { count } }
    erpPosting { attempted succeeded failed successRate firstAttemptSuccessRate
                 steps { step succeeded failed retried } }
    exceptionHotspots { channel region exceptions kinds errorCodes lastAt }
    workflows { kind started completed compensated failed inProgress }
    sources { source breakerState calls recentCalls recentErrorRate recentMeanLatencyMs }
    graph { requests recentErrorRate errorsByCode { label count } }
  }
}
"""
UNSOLVED = {"new", "open", "pending", "hold"}


@pytest.fixture
def ops_settings(tmp_path: Path) -> Settings:
    """No caching of the ops figures, so each query sees the latest."""
    return fast_settings(tmp_path, ops_summary_ttl_s=0.0)


@pytest.fixture
def transports(sandbox: SandboxApps) -> dict[str, FaultyTransport]:
    return transports_for(sandbox)


@pytest.fixture
async def http(ops_settings: Settings, transports: dict[str, FaultyTransport]) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        running_graph(ops_settings, transports) as app,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://graph") as client,
    ):
        yield client


async def post(http: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None,
               headers: dict[str, str] | None = None) -> Any:
    response = await http.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def servicedesk_calls(sandbox: SandboxApps) -> int:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox.servicedesk), base_url="http://sd") as sd:
        return int((await sd.get("/_sandbox/stats")).json()["requests"])


@pytest.mark.parametrize("role", ["agent", "store"])
async def test_only_supervisors_and_developers_may_read_it(
    http: httpx.AsyncClient, ops_settings: Settings, sandbox: SandboxApps, role: str
) -> None:
    before = await servicedesk_calls(sandbox)
    body = await post(http, OPS, headers=bearer(ops_settings, role))
    assert body["data"] == {"operationsSummary": None}
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert error["path"] == ["operationsSummary"]
    assert await servicedesk_calls(sandbox) == before  # refused before reading anything


async def test_the_gate_is_declared_in_the_schema(http: httpx.AsyncClient) -> None:
    from graph.schema import schema

    assert "operationsSummary(" in schema.as_str()
    sdl = schema.as_str().split("operationsSummary(", 1)[1].split("\n\n", 1)[0]
    assert "@requiresRole(roles: [SUPERVISOR, DEVELOPER])" in sdl


async def test_a_supervisor_sees_backlog_cycle_times_posting_and_hotspots(
    http: httpx.AsyncClient, ops_settings: Settings, sandbox: SandboxApps,
    transports: dict[str, FaultyTransport],
) -> None:
    agent = bearer(ops_settings, "agent")
    done = await post(http, INITIATE_RETURN, return_input("ops-1", (10000, 1)), agent)
    assert done["data"]["initiateReturn"]["workflow"]["status"] == "COMPLETED"
    transports["erp"].faults.append(Fault("POST", r"/salesCreditMemos$", mode="400"))
    rolled_back = await post(http, INITIATE_RETURN, return_input("ops-2", (20000, 1)), agent)
    assert rolled_back["data"]["initiateReturn"]["workflow"]["status"] == "COMPENSATED"
    order = (await post(http, f'{{ order(number: "{DELIVERED}") {{ channel region }} }}'))["data"]["order"]

    body = await post(http, OPS, headers=bearer(ops_settings, "supervisor"))
    assert "errors" not in body, body
    ops = body["data"]["operationsSummary"]
    assert ops["windowDays"] == 7

    unsolved = [t for t in sandbox.data.tickets.values() if t["status"] in UNSOLVED]
    aging = ops["caseAging"]
    assert aging["openCases"] == len(unsolved) > 0
    assert sum(b["count"] for b in aging["buckets"]) == len(unsolved)
    assert sum(s["count"] for s in aging["byStatus"]) == len(unsolved)
    assert aging["truncated"] is False
    oldest = min(datetime.fromisoformat(t["created_at"]) for t in unsolved)
    assert datetime.fromisoformat(aging["oldestOpenedAt"]) == oldest

    assert ops["workflows"] == [{"kind": "initiate_return", "started": 2, "completed": 1,
                                 "compensated": 1, "failed": 0, "inProgress": 0}]
    assert ops["returnCycleTimes"]["completed"]["count"] == 1
    assert ops["returnCycleTimes"]["inProgress"] == 0
    # The rolled-back return failed creating its credit memo: no refund was ever requested.
    assert (ops["refunds"]["requested"], ops["refunds"]["posted"]) == (1, 1)
    assert ops["refunds"]["postingDelay"]["count"] == 1

    erp = {s["step"]: s for s in ops["erpPosting"]["steps"]}
    assert erp["erp.create_credit_memo"] == {"step": "erp.create_credit_memo", "succeeded": 1,
                                             "failed": 1, "retried": 0}
    posting = ops["erpPosting"]
    assert posting["failed"] == 1 and posting["attempted"] == posting["succeeded"] + 1
    assert posting["successRate"] == round(posting["succeeded"] / posting["attempted"], 4)

    (spot,) = ops["exceptionHotspots"]
    assert (spot["channel"], spot["region"], spot["exceptions"]) == (order["channel"], order["region"], 1)
    assert spot["kinds"] == ["initiate_return"]
    assert spot["errorCodes"] == ["UPSTREAM_REJECTED"]

    health = {s["source"]: s for s in ops["sources"]}
    assert set(health) == {"erp", "wms", "servicedesk"}
    assert health["erp"]["breakerState"] == "CLOSED"
    assert health["erp"]["calls"] > 0
    assert ops["graph"]["requests"] > 0


async def test_an_unavailable_service_platform_nulls_case_aging_alone(
    http: httpx.AsyncClient, ops_settings: Settings, sandbox: SandboxApps
) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox.servicedesk), base_url="http://sd") as sd:
        (await sd.put("/_sandbox/faults", json={"outage": True})).raise_for_status()
    body = await post(http, OPS, headers=bearer(ops_settings, "developer"))
    ops = body["data"]["operationsSummary"]
    assert ops["caseAging"] is None
    (error,) = body["errors"]
    assert error["path"] == ["operationsSummary", "caseAging"]
    assert error["extensions"]["code"] == "SOURCE_UNAVAILABLE"
    assert error["extensions"]["source"] == "servicedesk"
    assert ops["workflows"] == [] and ops["erpPosting"]["attempted"] == 0
    assert {s["source"] for s in ops["sources"]} == {"erp", "wms", "servicedesk"}


async def test_the_window_is_bounded(http: httpx.AsyncClient, ops_settings: Settings) -> None:
    body = await post(http, OPS, {"days": 0}, bearer(ops_settings, "supervisor"))
    assert body["data"]["operationsSummary"] is None
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def _case(number: int, opened: datetime, status: CaseStatus = CaseStatus.OPEN,
          priority: CasePriority | None = None) -> Case:
    return Case(id=number, subject="s", description=None, status=status, source_status="open",
                priority=priority, requester_id=None, order_number=None, channel=None, tags=(),
                created_at=opened, updated_at=opened)


def test_case_aging_buckets_by_time_since_opened() -> None:
    now = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    cases = [
        _case(1, now - timedelta(hours=2)),
        _case(2, now - timedelta(hours=24)),  # exactly one day: the 1-3 day band
        _case(3, now - timedelta(days=5), CaseStatus.PENDING, CasePriority.URGENT),
        _case(4, now - timedelta(days=40), CaseStatus.ON_HOLD, CasePriority.HIGH),
    ]
    figures = case_aging(cases, now)
    assert [(b.label, b.count) for b in figures.buckets] == [
        ("< 1 day", 1), ("1-3 days", 1), ("3-7 days", 1), ("7-14 days", 0), ("14-30 days", 0), ("> 30 days", 1),
    ]
    assert figures.open_cases == 4
    assert dict(figures.by_status) == {"OPEN": 2, "PENDING": 1, "ON_HOLD": 1}
    assert dict(figures.by_priority) == {"NONE": 2, "URGENT": 1, "HIGH": 1}
    assert figures.oldest_opened_at == now - timedelta(days=40)
    assert figures.median_age_hours == 24.0


def test_percentiles_are_nearest_rank() -> None:
    assert percentile([5.0], 90) == 5.0
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50) == 5
    assert percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 90) == 9


def test_recent_rates_compare_with_a_snapshot_from_the_window_ago() -> None:
    now = [0.0]
    rates = RecentRates(window_s=300, clock=lambda: now[0])
    assert rates.delta({"erp": (10, 1)}) == {"erp": (10, 1)}  # no history: since start
    now[0] = 200
    assert rates.delta({"erp": (30, 5)}) == {"erp": (30, 5)}  # nothing 300 s old yet
    now[0] = 400
    assert rates.delta({"erp": (50, 5)}) == {"erp": (40, 4)}  # against the t=0 snapshot
    now[0] = 700
    assert rates.delta({"erp": (90, 25)}) == {"erp": (40, 20)}  # against t=400, now 300 s old


async def test_the_figures_are_published_as_gauges_for_dashboards(
    http: httpx.AsyncClient, ops_settings: Settings, sandbox: SandboxApps
) -> None:
    body = await post(http, OPS, headers=bearer(ops_settings, "supervisor"))
    aging = body["data"]["operationsSummary"]["caseAging"]
    scrape = (await http.get("/metrics")).text
    gauges = {
        s.labels["age"]: s.value
        for family in text_string_to_metric_families(scrape) if family.name == "retailgraph_open_cases"
        for s in family.samples
    }
    assert sum(gauges.values()) == aging["openCases"]
    assert gauges["lt_1d"] == aging["buckets"][0]["count"]


async def test_the_refresher_recomputes_the_gauges_until_cancelled(
    http: httpx.AsyncClient, sandbox: SandboxApps
) -> None:
    from graph.metrics import OPS_REFRESHED
    from graph.types.ops import refresh_ops_gauges, start_ops_refresher

    app = http._transport.app  # type: ignore[attr-defined]
    OPS_REFRESHED.labels("workflows").set(0)
    naps: list[float] = []

    async def sleep(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 2:
            raise asyncio.CancelledError

    before = await servicedesk_calls(sandbox)
    with pytest.raises(asyncio.CancelledError):
        await refresh_ops_gauges(app.state, 60.0, sleep)
    assert naps == [60.0, 60.0]
    assert await servicedesk_calls(sandbox) > before  # one round of reads
    assert REGISTRY.get_sample_value("retailgraph_ops_refreshed_timestamp_seconds", {"part": "workflows"}) > 0
    assert start_ops_refresher(app.state, 0.0) is None  # off by default


async def test_an_open_breaker_shows_next_to_the_business_figures(
    sandbox: SandboxApps, transports: dict[str, FaultyTransport], tmp_path: Path
) -> None:
    settings = fast_settings(tmp_path, ops_summary_ttl_s=0.0, breaker_min_calls=2, breaker_open_s=3600.0,
                             retry_attempts=1)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox.erp), base_url="http://erp") as erp:
        (await erp.put("/_sandbox/faults", json={"outage": True})).raise_for_status()
    async with (
        running_graph(settings, transports) as app,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://graph") as client,
    ):
        for _ in range(3):
            failed = await post(client, '{ orders(customerNumber: "C-10001", first: 1) { nodes { number } } }')
            assert failed["errors"][0]["extensions"]["code"] == "SOURCE_UNAVAILABLE"
        body = await post(client, OPS, headers=bearer(settings, "supervisor"))
    health = {s["source"]: s for s in body["data"]["operationsSummary"]["sources"]}
    assert health["erp"]["breakerState"] == "OPEN"
    assert health["erp"]["recentErrorRate"] == 1.0
    assert health["wms"]["breakerState"] == "CLOSED"
    graph = body["data"]["operationsSummary"]["graph"]
    codes = {entry["label"]: entry["count"] for entry in graph["errorsByCode"]}
    assert codes["SOURCE_UNAVAILABLE"] >= 3  # counted since the process started
    assert graph["recentErrorRate"] > 0
