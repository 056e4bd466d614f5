"""`/metrics`: operation, source and workflow metrics, bounded labels, several workers."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from workflow_support import (
    ANY_APPROVAL,
    APPROVE_REFUND,
    DELIVERED,
    INITIATE_RETURN,
    Fault,
    bearer,
    fast_settings,
    return_input,
    running_graph,
    transports_for,
)

from graph import cli
from graph.auth import mint_token
from graph.metrics import _NAME, LabelGuard
from graph.settings import Settings
from sandbox.apps import SandboxApps

CUSTOMER_360 = """
query Customer360 {
  customer(number: "C-10001") {
    name email
    orders(first: 3) { nodes { number shipments { status } } }
    cases(first: 3) { nodes { number } }
  }
}
"""
ROOT = Path(__file__).resolve().parents[2]


def sample(name: str, **labels: str) -> float:
    """The current value of one sample in this process (0 when it does not exist yet)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Delta:
    """Sample values before an action, to assert what the action added."""

    def __init__(self, *keys: tuple[str, dict[str, str]]) -> None:
        self.keys = keys
        self.before = [sample(name, **labels) for name, labels in keys]

    def __call__(self) -> list[float]:
        return [sample(name, **labels) - b for (name, labels), b in zip(self.keys, self.before)]


def headers(settings: Settings, role: str, client: str | None = None) -> dict[str, str]:
    token = mint_token(settings, sub=f"{role}-42", roles=[role], client_id=client)
    return {"Authorization": f"Bearer {token}"}


async def test_metrics_serves_prometheus_text_with_every_family(client: httpx.AsyncClient) -> None:
    await client.post("/graphql", json={"query": CUSTOMER_360})
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    families = {family.name for family in text_string_to_metric_families(response.text)}
    assert {
        "retailgraph_operation_seconds",
        "retailgraph_operation_errors",
        "retailgraph_operation_upstream_calls",
        "retailgraph_upstream_request_seconds",
        "retailgraph_upstream_batch_keys",
        "retailgraph_cache_events",
        "retailgraph_single_flight_joins",
        "retailgraph_breaker_state",
        "retailgraph_bulkhead_rejections",
        "retailgraph_upstream_retries",
        "retailgraph_workflows_started",
        "retailgraph_workflows_finished",
        "retailgraph_workflow_duration_seconds",
        "retailgraph_workflow_exceptions",
        "retailgraph_refund_approval_wait_seconds",
        "retailgraph_refund_posting_delay_seconds",
    } <= families


async def test_an_operation_is_timed_by_name_and_client_and_counts_its_upstream_calls(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    operation = {"operation": "Customer360", "type": "query", "client": "agent-desktop"}
    delta = Delta(
        ("retailgraph_operation_seconds_count", operation),
        ("retailgraph_operation_upstream_calls_count", {"operation": "Customer360"}),
        ("retailgraph_operation_upstream_calls_sum", {"operation": "Customer360"}),
        ("retailgraph_upstream_batch_keys_count", {"source": "wms", "kind": "shipments"}),
        ("retailgraph_upstream_batch_keys_sum", {"source": "wms", "kind": "shipments"}),
    )
    response = await client.post(
        "/graphql", json={"query": CUSTOMER_360}, headers=headers(settings, "agent", "agent-desktop")
    )
    assert "errors" not in response.json()
    timed, operations, calls, batches, keys = delta()
    assert (timed, operations, batches) == (1, 1, 1)
    assert keys == 3  # three orders' shipments in one bulk read
    # companies; customer, orders and returns in one $batch; profile, requested tickets;
    # shipments
    assert calls == 5


async def test_errors_are_counted_by_code_and_clients_without_a_client_id_stay_anonymous(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    delta = Delta(
        ("retailgraph_operation_errors_total", {"operation": "Customer360", "code": "FORBIDDEN"}),
        ("retailgraph_operation_seconds_count",
         {"operation": "Customer360", "type": "query", "client": "unidentified"}),
        ("retailgraph_operation_errors_total", {"operation": "unknown", "code": "UNAUTHENTICATED"}),
    )
    body = (await client.post("/graphql", json={"query": CUSTOMER_360}, headers=headers(settings, "store"))).json()
    assert {e["extensions"]["code"] for e in body["errors"]} == {"FORBIDDEN"}  # store may not read email
    refused = await client.post("/graphql", json={"query": CUSTOMER_360},
                                headers={"Authorization": "Bearer not-a-jwt"})
    assert refused.status_code == 401
    assert delta() == [1, 1, 1]
    # The user's own id is never a label value.
    text = (await client.get("/metrics")).text
    assert "store-42" not in text


async def test_cache_hits_and_upstream_calls_are_counted_per_source(client: httpx.AsyncClient) -> None:
    delta = Delta(
        ("retailgraph_cache_events_total", {"source": "erp", "kind": "customer", "outcome": "miss"}),
        ("retailgraph_cache_events_total", {"source": "erp", "kind": "customer", "outcome": "hit"}),
        ("retailgraph_upstream_request_seconds_count",
         {"source": "erp", "route": "POST $batch", "status": "200"}),
    )
    for _ in range(2):
        await client.post("/graphql", json={"query": CUSTOMER_360})
    # The second customer read came from the entity cache; the first rode in one $batch
    # with the customer's orders (sources/erp_coalesce.py).
    assert delta() == [1, 1, 1]


def test_caller_supplied_label_values_are_bounded() -> None:
    guard = LabelGuard(2, _NAME)
    assert [guard("A"), guard("B"), guard("C"), guard("A")] == ["A", "B", "other", "A"]
    assert guard("not a name!") == "other"
    assert guard("x" * 101) == "other"


def test_serve_with_workers_shares_metrics_through_a_fresh_directory_under_the_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")  # unset for the CLI; restored at teardown
    monkeypatch.setenv("RETAILGRAPH_DATA_DIR", str(tmp_path))
    leftover = tmp_path / "prometheus" / "counter_123.db"
    leftover.parent.mkdir()
    leftover.write_bytes(b"stale")
    seen: dict[str, Any] = {}
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: seen.update(kwargs, env=os.environ.get(
        "PROMETHEUS_MULTIPROC_DIR")))
    assert cli.main(["serve", "--workers", "3"]) == 0
    assert seen["workers"] == 3
    assert seen["env"] == str((tmp_path / "prometheus").resolve())
    assert not leftover.exists()
    assert seen["access_log"] is False


@pytest.mark.slow
def test_metrics_of_several_worker_processes_are_served_together(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    worker = textwrap.dedent("""
        from graph.metrics import record_operation
        from graph.tracing import OperationRecord
        record_operation(OperationRecord(name="Customer360", type="query", client="store-app",
                                         duration_s=0.05, upstream_calls={"erp": 2},
                                         errors=[{"code": "SOURCE_UNAVAILABLE"}]))
    """)
    for _ in range(2):  # two workers, each its own process
        subprocess.run([sys.executable, "-c", worker], env=env, check=True, timeout=120)
    scrape = textwrap.dedent("""
        import asyncio
        from graph.metrics import metrics_endpoint
        print(asyncio.run(metrics_endpoint(None)).body.decode())
    """)
    text = subprocess.run([sys.executable, "-c", scrape], env=env, check=True, timeout=120,
                          capture_output=True, text=True).stdout
    values = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text) for s in family.samples
    }
    labels = (("client", "store-app"), ("operation", "Customer360"), ("type", "query"))
    assert values[("retailgraph_operation_seconds_count", labels)] == 2
    assert values[("retailgraph_operation_errors_total",
                   (("code", "SOURCE_UNAVAILABLE"), ("operation", "Customer360")))] == 2
    assert values[("retailgraph_operation_upstream_calls_sum", (("operation", "Customer360"),))] == 4


@pytest.fixture
def workflow_settings(tmp_path: Path) -> Settings:
    """Refunds wait for a supervisor; the orchestrator keeps its journal in tmp."""
    return fast_settings(tmp_path, refund_approval_threshold=ANY_APPROVAL)


@pytest.fixture
async def workflow_client(
    sandbox: SandboxApps, workflow_settings: Settings
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, Any]]]:
    transports = transports_for(sandbox)
    async with (
        running_graph(workflow_settings, transports) as app,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://graph") as http,
    ):
        yield http, transports


async def test_workflows_report_starts_outcomes_durations_approval_waits_and_posting_delays(
    workflow_client: tuple[httpx.AsyncClient, dict[str, Any]], workflow_settings: Settings
) -> None:
    http, transports = workflow_client
    kind = {"kind": "initiate_return"}
    order = (await http.post("/graphql", json={"query": f'{{ order(number: "{DELIVERED}") {{ channel region }} }}'})).json()
    where = {"channel": order["data"]["order"]["channel"], "region": order["data"]["order"]["region"]}
    delta = Delta(
        ("retailgraph_workflows_started_total", kind),
        ("retailgraph_workflows_finished_total", {**kind, "outcome": "completed"}),
        ("retailgraph_workflows_finished_total", {**kind, "outcome": "compensated"}),
        ("retailgraph_workflow_duration_seconds_count", {**kind, "outcome": "completed"}),
        ("retailgraph_workflow_exceptions_total", {**kind, **where}),
        ("retailgraph_refund_approval_wait_seconds_count", {"decision": "approved"}),
        ("retailgraph_refund_posting_delay_seconds_count", {}),
        ("retailgraph_workflow_steps_total", {"system": "erp", "step": "erp.create_credit_memo", "outcome": "failed"}),
    )
    agent = bearer(workflow_settings, "agent")
    supervisor = bearer(workflow_settings, "supervisor")

    started = (await http.post("/graphql", json={"query": INITIATE_RETURN, "variables": return_input("m-1", (10000, 1))},
                               headers=agent)).json()["data"]["initiateReturn"]
    assert started["workflow"]["status"] == "AWAITING_APPROVAL"
    approved = (await http.post("/graphql", json={"query": APPROVE_REFUND, "variables": {
        "input": {"refundId": started["refund"]["id"], "approve": True}}}, headers=supervisor)).json()
    assert approved["data"]["approveRefund"]["workflow"]["status"] == "COMPLETED", approved

    # The ERP refuses the credit memo of the next return: it is rolled back, an exception.
    transports["erp"].faults.append(Fault("POST", r"/salesCreditMemos$", mode="400"))
    failed = (await http.post("/graphql", json={"query": INITIATE_RETURN, "variables": return_input("m-2", (20000, 1))},
                              headers=agent)).json()["data"]["initiateReturn"]
    assert failed["workflow"]["status"] == "COMPENSATED"

    assert delta() == [2, 1, 1, 1, 1, 1, 1, 1]


async def test_the_dashboard_only_charts_metrics_the_graph_exports(client: httpx.AsyncClient) -> None:
    dashboard = json.loads((ROOT / "dashboards" / "retailgraph.json").read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", ())]
    assert len(exprs) >= 20
    text = (await client.get("/metrics")).text
    families = {f.name for f in text_string_to_metric_families(text)}
    charted = {
        re.sub(r"_(bucket|count|sum|total)$", "", name)
        for expr in exprs for name in re.findall(r"retailgraph_[a-z_]+", expr)
    }
    assert charted - families == set()
    titles = " ".join(p["title"] for p in dashboard["panels"]).lower()
    for watched in ("case aging", "return cycle time", "erp posting", "exception hotspots", "circuit breakers"):
        assert watched in titles
