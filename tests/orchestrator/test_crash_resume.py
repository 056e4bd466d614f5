"""A process killed mid-workflow: on restart the workflow completes, each write happened once.

Everything runs for real on loopback: the sandbox upstreams in one process, the graph with
its orchestrator in another, which is SIGKILLed while a step's request is in flight.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from free_ports import free_port_base
from workflow_support import DELIVERED, INITIATE_RETURN, WORKFLOW, return_input

from graph.demo import start_sandbox

pytestmark = pytest.mark.slow
CHILD = Path(__file__).with_name("crash_app.py")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def ports() -> tuple[int, int]:
    base = free_port_base(4)
    return base, base + 3  # sandbox on base..base+2, graph on base+3


@pytest.fixture
def sandbox_urls(ports: tuple[int, int]) -> Iterator[dict[str, str]]:
    child = start_sandbox("127.0.0.1", ports[0], seed=42)
    try:
        yield {name: f"http://127.0.0.1:{ports[0] + i}" for i, name in enumerate(("erp", "wms", "servicedesk"))}
    finally:
        child.terminate()
        child.wait(timeout=10)


def start_graph(port: int, data_dir: Path, urls: dict[str, str]) -> subprocess.Popen[bytes]:
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(port), str(data_dir), urls["erp"], urls["wms"], urls["servicedesk"]],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    for _ in range(300):  # polled readiness, not a timing assertion
        if child.poll() is not None:
            raise RuntimeError(f"graph exited with {child.returncode}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0).raise_for_status()
            return child
        except httpx.HTTPError:
            time.sleep(0.1)
    child.kill()
    raise RuntimeError("graph did not start")


def gql(port: int, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": query, "variables": variables},
                          timeout=30.0)
    response.raise_for_status()
    return dict(response.json())


def wait_for(port: int, workflow_id: str, done: Any) -> dict[str, Any]:
    for _ in range(600):
        workflow = gql(port, WORKFLOW, {"id": workflow_id})["data"]["workflow"]
        if done(workflow):
            return dict(workflow)
        time.sleep(0.05)
    raise AssertionError(f"workflow never reached the expected state: {workflow}")


def test_a_killed_process_resumes_its_workflow_and_writes_each_document_once(
    tmp_path: Path, ports: tuple[int, int], sandbox_urls: dict[str, str]
) -> None:
    graph_port = ports[1]
    # The WMS answers slowly, so the kill lands while the inbound-return request is in flight.
    httpx.put(f"{sandbox_urls['wms']}/_sandbox/faults", json={"latency_ms": 1500}).raise_for_status()
    first = start_graph(graph_port, tmp_path, sandbox_urls)
    try:
        started = gql(graph_port, INITIATE_RETURN, return_input("crash-1", (10000, 1)))["data"]["initiateReturn"]
        assert started["userErrors"] == []
        workflow_id = started["workflow"]["id"]
        wait_for(graph_port, workflow_id, lambda w: any(
            s["name"] == "wms.expect_inbound_return" and s["status"] == "RUNNING" for s in w["steps"]))
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    assert first.returncode == -signal.SIGKILL

    httpx.put(f"{sandbox_urls['wms']}/_sandbox/faults", json={"latency_ms": 0}).raise_for_status()
    second = start_graph(graph_port, tmp_path, sandbox_urls)
    try:
        final = wait_for(graph_port, workflow_id, lambda w: w["status"] != "RUNNING")
    finally:
        second.terminate()
        second.wait(timeout=10)

    assert final["status"] == "COMPLETED", final
    attempts = {s["name"]: s["attempts"] for s in final["steps"]}
    assert attempts["erp.create_return_order"] == 1  # checkpointed before the kill: not run again
    assert attempts["erp.authorize_return"] == 1
    assert attempts["wms.expect_inbound_return"] == 2  # in flight at the kill: run again, same key

    writes = {name: httpx.get(f"{url}/_sandbox/writes").json() for name, url in sandbox_urls.items()}
    for name, accepted in writes.items():
        keys = [w["idempotency_key"] for w in accepted]
        assert len(keys) == len(set(keys)), f"{name} applied a write twice: {accepted}"
    routes = Counter((w["method"], w["path"].rsplit("/", 1)[-1].split("(")[0]) for w in writes["erp"])
    assert routes[("POST", "salesReturnOrders")] == 1
    assert routes[("POST", "salesCreditMemos")] == 1
    assert routes[("POST", "Microsoft.NAV.post")] == 1
    assert [w["path"] for w in writes["wms"]] == ["/v1/inbound-returns"]
    company = httpx.get(f"{sandbox_urls['erp']}/api/v2.0/companies",
                        headers={"Authorization": "Bearer sandbox-token"}).json()["value"][0]["id"]
    returns = httpx.get(f"{sandbox_urls['erp']}/api/v2.0/companies({company})/salesReturnOrders",
                        params={"$filter": f"orderNumber eq '{DELIVERED}'"},
                        headers={"Authorization": "Bearer sandbox-token"}).json()["value"]
    assert len(returns) == 1
