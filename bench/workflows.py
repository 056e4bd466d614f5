"""`python -m bench.workflows`: durable workflows per second on SQLite, end to end in process.

The graph app, its orchestrator (DBOS + journal on SQLite in a temp dir) and the three
sandbox apps run in one process over ASGI transports, so the figures are the orchestrator's
own cost plus the sandbox's work. Workloads:
  refund     requestRefund of 0.01, approved by policy: draft memo, post, case note
  approval   requestRefund that waits for approval, then approveRefund: the DBOS send/recv path
Each client loops: start, wait for COMPLETED (the mutation waits), repeat.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from strawberry import relay

from graph.app import create_app
from graph.settings import Settings
from sandbox.apps import build
from sandbox.seed import FIXTURES

REFUND = """mutation($input: RequestRefundInput!) { requestRefund(input: $input) {
  refund { id status } workflow { status } userErrors { code message } } }"""
APPROVE = """mutation($input: ApproveRefundInput!) { approveRefund(input: $input) {
  refund { status } workflow { status } userErrors { code message } } }"""


@contextlib.asynccontextmanager
async def running(settings: Settings, latency_ms: int) -> AsyncIterator[httpx.AsyncClient]:
    """The graph with an orchestrator over a fresh sandbox; yields a client to it."""
    sandbox = build(seed=42)
    transports = {name: httpx.ASGITransport(app=getattr(sandbox, name)) for name in ("erp", "wms", "servicedesk")}
    app = create_app(settings, transports=transports)
    async with app.router.lifespan_context(app):
        for transport in transports.values():
            async with httpx.AsyncClient(transport=transport, base_url="http://s") as http:
                await http.put("/_sandbox/faults", json={"latency_ms": latency_ms})
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://graph",
                                     timeout=120) as client:
            yield client


async def one(client: httpx.AsyncClient, workload: str, key: str) -> float:
    """Run one workflow to COMPLETED; returns its end-to-end seconds."""
    started = time.perf_counter()
    variables = {"input": {"orderId": relay.to_base64("Order", FIXTURES["delivered_order"]), "amount": "0.01",
                           "reason": "bench", "idempotencyKey": key}}
    body = (await client.post("/graphql", json={"query": REFUND, "variables": variables})).json()
    result = body["data"]["requestRefund"]
    if workload == "approval":
        approve = {"input": {"refundId": result["refund"]["id"], "approve": True}}
        body = (await client.post("/graphql", json={"query": APPROVE, "variables": approve})).json()
        result = body["data"]["approveRefund"]
    if result["userErrors"] or result["workflow"]["status"] != "COMPLETED":
        raise RuntimeError(f"{workload} {key} did not complete: {result}")
    return time.perf_counter() - started


async def run(workload: str, count: int, concurrency: int, latency_ms: int, data_dir: Path) -> dict[str, Any]:
    """`count` workflows by `concurrency` closed-loop clients."""
    threshold = Decimal("0.00") if workload == "approval" else Decimal(1000000)
    settings = replace(Settings(), data_dir=data_dir, mutation_wait_s=60.0, refund_approval_threshold=threshold)
    latencies: list[float] = []
    async with running(settings, latency_ms) as client:
        await one(client, workload, "warm-up")
        queue: asyncio.Queue[int] = asyncio.Queue()
        for n in range(count):
            queue.put_nowait(n)

        async def worker() -> None:
            while not queue.empty():
                latencies.append(await one(client, workload, f"{workload}-{queue.get_nowait()}"))

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    ordered = sorted(latencies)
    return {"workload": workload, "workflows": len(latencies), "concurrency": concurrency,
            "latency_ms": latency_ms, "per_second": round(len(latencies) / elapsed, 1),
            "p50_ms": round(statistics.median(ordered) * 1000, 1),
            "p95_ms": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 1)}


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run each workload, print one line per workload."""
    parser = argparse.ArgumentParser(prog="python -m bench.workflows", description=__doc__)
    parser.add_argument("--workloads", default="refund,approval")
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency-ms", type=int, default=0, help="added upstream latency")
    args = parser.parse_args(argv)
    for workload in args.workloads.split(","):
        with tempfile.TemporaryDirectory() as data_dir:
            print(asyncio.run(run(workload, args.count, args.concurrency, args.latency_ms, Path(data_dir))),
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
