"""Scale-out: replicas sharing PostgreSQL (workflows) and Redis (cache, invalidation, events).

The end-to-end test runs for real on loopback: one sandbox process and two graph replicas
(`scale_app.py`), A and B, with the same database and Redis namespace. The WMS sends its
webhooks to A only, so whatever B learns about them, it learns through Redis.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol
from free_ports import free_port_base
from workflow_support import (
    ADD_CASE_NOTE,
    APPROVE_REFUND,
    CASE,
    INITIATE_RETURN,
    WORKFLOW,
    bearer,
    gid,
    return_input,
    workflow_key,
)

from graph.demo import start_sandbox
from graph.scaleout import BusRelay, ScaleOut
from graph.settings import Settings
from graph.webhooks import ReplayGuard
from orchestrator.events import EventBus
from orchestrator.lifecycle import executor_id_for
from sources.redis_link import RedisLink

ROOT = Path(__file__).resolve().parents[1]
CHILD = Path(__file__).with_name("scale_app.py")
SKU_QUERY = "query($skus: [String!]!) { inventory(skus: $skus) { location { id } reserved } }"
CASE_UPDATED = "subscription($id: ID!) { caseUpdated(id: $id) { number status } }"


# ── in process ───────────────────────────────────────────────────────────────────────────────

def test_each_process_has_its_own_executor_id_on_postgresql() -> None:
    assert executor_id_for(Settings()) is None  # SQLite: one process, DBOS's "local"
    shared = executor_id_for(Settings(database_url="postgresql://db/retailgraph"))
    assert shared == f"{socket.gethostname()}-{os.getpid()}"
    assert executor_id_for(Settings(database_url="postgresql://db/x", executor_id="pod-7")) == "pod-7"


@pytest.mark.redis
async def test_a_publication_on_one_bus_reaches_subscribers_of_another(redis_url: str, redis_prefix: str) -> None:
    links = [RedisLink(redis_url, retry_s=0.1) for _ in range(2)]
    relays = [BusRelay(link, redis_prefix) for link in links]
    buses = [EventBus(), EventBus()]
    for relay, bus, link in zip(relays, buses, links):
        bus.bind(asyncio.get_running_loop())
        relay.bind(bus)
        link.start()
    try:
        assert all([await link.wait_subscribed(5.0) for link in links])
        async with buses[0].subscribe(["case:7"]) as here, buses[1].subscribe(["case:7"]) as there:
            buses[0].publish("case:7", "note")
            assert (await here.get()).payload == "note"  # local subscribers as before
            async with asyncio.timeout(10):
                assert (await there.get()).payload == "note"  # relayed to the other replica
            buses[1].publish("case:7", "marker")
            assert (await there.get()).payload == "marker"
            async with asyncio.timeout(10):
                # Redis delivers in order: an echo of "note" would arrive before the marker.
                assert (await here.get()).payload == "marker"
            assert here.empty() and there.empty()
    finally:
        for link in links:
            await link.close()


@pytest.mark.redis
async def test_a_webhook_event_is_applied_by_one_replica_only(redis_url: str, redis_prefix: str) -> None:
    replicas = [ScaleOut(RedisLink(redis_url, retry_s=0.1), prefix=redis_prefix) for _ in range(2)]
    guards = [ReplayGuard(300.0) for _ in replicas]
    for replica in replicas:
        assert replica.link is not None
        replica.link.start()
    try:
        assert await guards[0].first_time("wms", "evt_42", replicas[0].claim_once)
        assert not await guards[1].first_time("wms", "evt_42", replicas[1].claim_once)  # delivered twice
        assert await guards[1].first_time("wms", "evt_43", replicas[1].claim_once)
    finally:
        for replica in replicas:
            await replica.close()


# ── two replica processes ────────────────────────────────────────────────────────────────────


def start_replica(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    child = subprocess.Popen([sys.executable, str(CHILD), str(port)], cwd=ROOT, env=env)
    for _ in range(600):  # polled readiness, not a timing assertion
        if child.poll() is not None:
            raise RuntimeError(f"replica exited with {child.returncode}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0).raise_for_status()
            return child
        except httpx.HTTPError:
            time.sleep(0.1)
    child.kill()
    raise RuntimeError("replica did not start")


def stop(child: subprocess.Popen[bytes]) -> None:
    child.terminate()
    try:
        child.wait(timeout=15)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait(timeout=5)


@pytest.fixture
def cluster(tmp_path: Path, postgres_url: str, redis_url: str, redis_prefix: str) -> Iterator[dict[str, Any]]:
    """The sandbox and replicas A and B; the WMS's webhooks go to A."""
    base = free_port_base(5)
    a_port, b_port = base + 3, base + 4
    sandbox = start_sandbox("127.0.0.1", base, seed=42,
                            webhooks={"wms": f"http://127.0.0.1:{a_port}/webhooks/wms"})
    urls = {name: f"http://127.0.0.1:{base + i}" for i, name in enumerate(("erp", "wms", "servicedesk"))}
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETAILGRAPH_")}
    env.update({
        "PYTHONPATH": str(ROOT), "RETAILGRAPH_DATABASE_URL": postgres_url,
        "RETAILGRAPH_REDIS_URL": redis_url, "RETAILGRAPH_REDIS_PREFIX": redis_prefix,
        "RETAILGRAPH_ERP_URL": urls["erp"], "RETAILGRAPH_WMS_URL": urls["wms"],
        "RETAILGRAPH_SERVICEDESK_URL": urls["servicedesk"], "RETAILGRAPH_LOG_LEVEL": "WARNING",
        "RETAILGRAPH_REFUND_APPROVAL_THRESHOLD": "1.00", "RETAILGRAPH_MUTATION_WAIT_S": "20",
        "RETAILGRAPH_WORKFLOW_RETRY_INTERVAL_S": "0.01",
    })
    replicas: list[subprocess.Popen[bytes]] = []
    try:
        # One after the other: the first creates the tables and DBOS's schema.
        for name, port in (("a", a_port), ("b", b_port)):
            replicas.append(start_replica(port, {**env, "RETAILGRAPH_DATA_DIR": str(tmp_path / name)}))
        yield {"a": f"http://127.0.0.1:{a_port}", "b": f"http://127.0.0.1:{b_port}", "urls": urls,
               "pids": {"a": replicas[0].pid, "b": replicas[1].pid}, "database": postgres_url}
    finally:
        for child in replicas:
            stop(child)
        stop(sandbox)


async def gql(http: httpx.AsyncClient, base: str, query: str, variables: dict[str, Any],
              headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = await http.post(f"{base}/graphql", json={"query": query, "variables": variables},
                               headers=headers or {})
    assert response.status_code == 200, response.text
    body = dict(response.json())
    assert "errors" not in body, body
    return body


async def requests_to(http: httpx.AsyncClient, url: str) -> int:
    return int((await http.get(f"{url}/_sandbox/stats")).json()["requests"])


async def subscription(url: str, query: str, variables: dict[str, Any],
                       events: asyncio.Queue[dict[str, Any]]) -> None:
    """A graphql-transport-ws subscription; each `next` payload goes to `events`."""
    address = url.replace("http://", "ws://") + "/graphql"
    async with connect(address, subprotocols=[Subprotocol("graphql-transport-ws")]) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": "subscribe",
                                  "payload": {"query": query, "variables": variables}}))
        async for raw in ws:
            message = json.loads(raw)
            assert message["type"] == "next", message
            await events.put(message["payload"])


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.slow
async def test_two_replicas_share_workflows_caches_and_events(cluster: dict[str, Any]) -> None:
    a, b, wms = cluster["a"], cluster["b"], cluster["urls"]["wms"]
    async with httpx.AsyncClient(timeout=60.0) as http:
        # A return started on A is a workflow B reads, and B's approval reaches it on A.
        started = (await gql(http, a, INITIATE_RETURN, return_input("scale-1", (10000, 1))))
        started = started["data"]["initiateReturn"]
        workflow_id = started["workflow"]["id"]
        assert started["workflow"]["status"] == "AWAITING_APPROVAL", started
        seen = (await gql(http, b, WORKFLOW, {"id": workflow_id}))["data"]["workflow"]
        assert (seen["id"], seen["status"]) == (workflow_id, "AWAITING_APPROVAL")
        approved = await gql(http, b, APPROVE_REFUND,
                             {"input": {"refundId": started["refund"]["id"], "approve": True}},
                             bearer(Settings(), "supervisor", "sup-b"))
        assert approved["data"]["approveRefund"]["workflow"]["status"] == "COMPLETED"
        with psycopg.connect(cluster["database"]) as db:
            (executor,) = db.execute("SELECT executor_id FROM dbos.workflow_status WHERE workflow_uuid = %s",
                                     (workflow_key(workflow_id),)).fetchone() or (None,)
        assert executor == f"{socket.gethostname()}-{cluster['pids']['a']}"  # ran on A, not taken by B

        # B fills the shared cache, A reads it without asking the WMS.
        levels = (await http.get(f"{wms}/v1/inventory-levels", params={"skus": "SKU-00007"},
                                 headers={"Authorization": "Bearer sandbox-token"})).json()
        level = max(levels["inventory_levels"], key=lambda row: row["available"])
        location = gid("Location", level["location_id"])
        first = (await gql(http, b, SKU_QUERY, {"skus": [level["sku"]]}))["data"]
        calls = await requests_to(http, wms)
        assert (await gql(http, b, SKU_QUERY, {"skus": [level["sku"]]}))["data"] == first
        assert (await gql(http, a, SKU_QUERY, {"skus": [level["sku"]]}))["data"] == first
        assert await requests_to(http, wms) == calls

        # The WMS tells A about a change; B drops its copy and reads the new level once.
        reserved = await http.post(f"{wms}/v1/reservations", headers={"Authorization": "Bearer sandbox-token"},
                                   json={"sku": level["sku"], "location_id": level["location_id"],
                                         "quantity": 1, "reference": "ELSEWHERE"})
        assert reserved.status_code == 201
        calls = await requests_to(http, wms)
        expected = level["reserved"] + 1
        async with asyncio.timeout(30):
            while True:  # the webhook is delivered after the WMS's answer: poll B
                body = await gql(http, b, SKU_QUERY, {"skus": [level["sku"]]})
                now = {row["location"]["id"]: row["reserved"] for row in body["data"]["inventory"]}
                if now[location] == expected:
                    break
                await asyncio.sleep(0.05)
        assert await requests_to(http, wms) == calls + 1

        # A subscriber on B hears the case event A's workflow publishes.
        events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        listener = asyncio.create_task(subscription(b, CASE_UPDATED, {"id": gid("Case", CASE)}, events))
        try:
            for attempt in range(10):  # the first note may land before B's subscription is live
                note = await gql(http, a, ADD_CASE_NOTE,
                                 {"input": {"caseId": gid("Case", CASE), "body": f"Seen from A ({attempt})"}})
                assert note["data"]["addCaseNote"]["workflow"]["status"] == "COMPLETED"
                try:
                    async with asyncio.timeout(3):
                        event = await events.get()
                    break
                except TimeoutError:
                    assert not listener.done(), listener
            else:
                raise AssertionError("B never heard of A's case note")
            assert event["data"]["caseUpdated"]["number"] == str(CASE)
        finally:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)

