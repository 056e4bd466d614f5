"""What `python -m bench` runs: workloads per mode, bursts, the return flow, the baselines.

`Bench` holds one run's state (sandbox URLs, tokens, the seed's keys, report rows). Each
measurement resets the sandbox's request counters and reads the graph's CPU before and
after, so a row's upstream requests and CPU belong to that run alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import random
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from typing import Any

import httpx

from bench import driver, report, wrk
from bench.flows import ReturnFlow, find_units
from bench.processes import GraphProcess, ServerProcess, cpu_seconds, peak_rss_mb
from bench.report import CEILING, UPSTREAM_FLOOR, WARM, WRK
from bench.workloads import (
    CUSTOMER_360,
    MIN_360_REQUESTS,
    Seed,
    Workload,
    customer_360,
    customer_360_burst,
    workloads,
)
from graph.auth import mint_token
from graph.settings import Settings

SANDBOX_NAMES = ("erp", "wms", "servicedesk")
BENCH_ENV = {  # throughput and upstream economy are under test, not throttling or logging
    "RETAILGRAPH_COST_BUCKET_SIZE": "100000000", "RETAILGRAPH_COST_RESTORE_RATE": "100000000",
    "RETAILGRAPH_MAX_QUERY_COST": "100000000", "RETAILGRAPH_LOG_LEVEL": "WARNING",
}
RATE = "constant rate"
# The throughput target's graph (report.WARM): deployed, with every record the 360 reads kept
# fresh for the whole run (TTLs x100: stock 500 s), as the ceiling holds them in memory. The
# optimized mode's closed loop, with deployed TTLs, also pays for refreshing 5-second stock.
WARM_ENV = {"RETAILGRAPH_CACHE_TTL_SCALE": "100"}


def sandbox_urls(port_base: int) -> dict[str, str]:
    """Each sandbox app's loopback URL (`python -m sandbox` serves them on consecutive ports)."""
    return {name: f"http://127.0.0.1:{port_base + i}" for i, name in enumerate(SANDBOX_NAMES)}


def sandbox_env(urls: Mapping[str, str]) -> dict[str, str]:
    """The sandbox's URLs as the graph (and the upstream floor) read them from the environment."""
    return {f"RETAILGRAPH_{name.upper()}_URL": url for name, url in urls.items()}


class Bench:
    """One benchmark run: where things are, who asks, and what was measured."""

    def __init__(self, args: Any) -> None:
        self.args = args
        self.urls = sandbox_urls(args.port_base)
        settings = Settings.from_env({})
        self.tokens = [mint_token(settings, sub=f"bench-{i}", roles=["agent"], ttl_s=86_400) for i in range(32)]
        self.seed = Seed()
        self.rows: list[dict[str, Any]] = []
        self.units: list[Any] | None = None
        self.wrk = None if args.no_wrk else wrk.wrk_path()

    def load_seed(self) -> None:
        """Every order number (live and archived) from the ERP, for the order lookups."""
        headers = {"Authorization": "Bearer sandbox-token", "Prefer": "odata.maxpagesize=1000"}
        with httpx.Client(base_url=self.urls["erp"], headers=headers, timeout=30) as erp:
            company = erp.get("/api/v2.0/companies").json()["value"][0]["id"]
            numbers: set[str] = set()
            for entity, field in (("salesOrders", "number"), ("salesInvoices", "orderNumber")):
                url: str | None = f"/api/v2.0/companies({company})/{entity}?$select={field}"
                while url:
                    body = erp.get(url).json()
                    numbers |= {row[field] for row in body["value"] if row.get(field)}
                    url = body.get("@odata.nextLink")
        self.seed = Seed(orders=tuple(sorted(numbers)))

    @contextlib.contextmanager
    def graph(self, mode_env: dict[str, str], **options: Any) -> Iterator[ServerProcess]:
        """The graph process for one mode or lever."""
        env = sandbox_env(self.urls)
        env.update(BENCH_ENV, RETAILGRAPH_DATA_DIR=tempfile.mkdtemp(prefix="rg-bench-"))
        env.update(mode_env)
        workers = options.pop("workers", self.args.workers)
        options = {"loop": self.args.loop, "http": self.args.http, **options}
        with GraphProcess(self.args.graph_port, workers, env, **options) as graph:
            yield graph

    def _stats(self, reset: bool = False) -> int:
        total = 0
        for url in self.urls.values():
            if reset:
                httpx.post(f"{url}/_sandbox/stats/reset").raise_for_status()
            else:
                total += httpx.get(f"{url}/_sandbox/stats").json()["requests"]
        return total

    def settle(self, server: ServerProcess, limit_s: float = 90.0) -> None:
        """Wait until the server has finished what earlier runs left it (under 5% of a core)."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            before = cpu_seconds(server.pid)
            time.sleep(0.5)
            if cpu_seconds(server.pid) - before < 0.025:
                return

    def measure(
        self, mode: str, name: str, run: str, server: ServerProcess, go: Callable[[], driver.RunResult],
        **extra: Any,
    ) -> dict[str, Any]:
        """Run `go` on a settled server with counters reset; append and return its row."""
        self.settle(server)
        self._stats(reset=True)
        upstream_before = upstream_seconds(server)
        before = cpu_seconds(server.pid)
        result = go()
        used = cpu_seconds(server.pid) - before
        found = report.row(mode, name, run, result, upstream=self._stats(), cpu_s=used,
                           rss_mb=peak_rss_mb(server.pid, server.workers), **extra)
        upstream_after = upstream_seconds(server)
        calls = upstream_after[1] - upstream_before[1]
        found["upstream_call_ms"] = round(1000 * (upstream_after[0] - upstream_before[0]) / calls, 1) \
            if calls > 0 else None
        self.rows.append(found)
        print(f"  {mode:22s} {name:24s} {run:18s} rps={found['rps']} p50={found['p50_ms']} "
              f"up/req={found['upstream_per_request']} cpu/req={found['cpu_ms_per_request']}ms "
              f"failures={found['failures']}", flush=True)
        return found

    def warm_up(self, graph: ServerProcess) -> dict[str, Any]:
        """One checked 360 (first: 10) per customer; returns each `{"data": …}` by number."""
        workload = customer_360(self.seed)
        captured: dict[str, Any] = {}

        async def run() -> None:
            async with httpx.AsyncClient(base_url=graph.base_url, timeout=60) as http:
                gate = asyncio.Semaphore(8)

                async def one(index: int, number: str) -> None:
                    body = {"query": CUSTOMER_360, "variables": {"number": number, "first": 10}}
                    async with gate:
                        found, failure = await driver.post_checked(http, body, self.tokens[index % 32],
                                                                   workload.check)
                        if failure and failure.startswith("transport:"):
                            # A pooled keep-alive connection the server closed as we reused it
                            # (an idempotent read, not measured): once more, on a fresh one.
                            print(f"  warm-up: {number} retried after {failure}")
                            found, failure = await driver.post_checked(
                                http, body, self.tokens[index % 32], workload.check)
                    if failure or found is None:
                        raise RuntimeError(f"warm-up 360 of {number} failed: {failure}")
                    captured[number] = {"data": found["data"]}

                await asyncio.gather(*(one(i, n) for i, n in enumerate(self.seed.customers)))

        asyncio.run(run())
        return captured

    def _rate(self, graph: ServerProcess, step: driver.Step, rate: float) -> Callable[[], driver.RunResult]:
        return lambda: asyncio.run(driver.constant_rate(
            graph.base_url, step, rate=rate, duration_s=self.args.duration, tokens=self.tokens))

    def _closed(self, server: ServerProcess, path: str, workload: Workload,
                lines: list[str] | None = None, connections: int | None = None,
                ) -> Callable[[], driver.RunResult]:
        connections = connections or self.args.connections
        if self.wrk is None:
            step = driver.request_step(workload)
            return lambda: asyncio.run(driver.closed_loop(
                server.base_url, step, concurrency=connections,
                duration_s=self.args.duration, tokens=self.tokens))
        lines = lines or wrk.request_lines(workload, self.tokens, 2000)
        binary = self.wrk
        return lambda: wrk.closed_loop(server.base_url, path, lines, workload.marker,
                                       connections=connections,
                                       duration_s=self.args.duration, binary=binary)

    def light_load(self, mode: str, graph: ServerProcess, name: str, rate: float) -> None:
        """One more constant-rate run at a low rate: latency without queueing behind CPU."""
        workload = _named(self.seed, name)
        self.measure(mode, name, f"{RATE} (light)", graph,
                     self._rate(graph, driver.request_step(workload), rate), rate=rate)

    def workload(self, mode: str, graph: ServerProcess, name: str) -> None:
        """A closed-loop wrk run (max throughput), then a constant-rate run (latency).

        The rate is the stated `--rate` unless this mode cannot sustain it (above 70% of its
        closed-loop maximum): then half its maximum, so latency is measured, not a queue.
        """
        workload = _named(self.seed, name)
        rate = self.args.rate
        if mode != "cold":
            # The naive graph needs seconds per request at 16 connections: fewer, so some finish.
            connections = min(4, self.args.connections) if mode == "naive" else None
            closed = self.measure(mode, name, WRK, graph,
                                  self._closed(graph, "/graphql", workload, connections=connections))
            if closed["rps"] and rate > 0.7 * closed["rps"]:
                rate = max(0.2, round(0.5 * closed["rps"], 1))
        self.measure(mode, name, RATE, graph, self._rate(graph, driver.request_step(workload), rate),
                     rate=rate)

    def bursts(self, mode: str, graph: ServerProcess, rounds: int, size: int) -> None:
        """`rounds` bursts of `size` identical 360s, each for a customer nobody asked for yet."""
        merged = driver.RunResult()

        def go() -> driver.RunResult:
            for index in range(rounds):
                customer = self.seed.customers[-1 - index]
                step = driver.request_step(customer_360_burst(self.seed, customer))
                result = asyncio.run(driver.burst(graph.base_url, step, size=size, tokens=self.tokens))
                for latency in result.latencies_ms:
                    merged.record(latency, None)
                merged.failures += result.failures
                merged.first_failure = merged.first_failure or result.first_failure
                merged.elapsed_s += result.elapsed_s
            return merged

        self.measure(mode, "customer360-burst", f"burst of {size} (cold)", graph, go)

    def return_flows(self, mode: str, graph: ServerProcess) -> None:
        """The return workflow at `--flow-rate`, then closed loop with two agents."""
        if self.units is None:
            recent = list(self.seed.orders)[-300:]
            self.units = asyncio.run(find_units(graph.base_url, self.tokens[0], recent, 10_000))
            print(f"  {len(self.units)} returnable units found for the return workflow", flush=True)
        flow = ReturnFlow(self.units)
        rate = self.args.flow_rate
        self.measure(mode, flow.name, RATE, graph, self._rate(graph, flow.step(), rate), rate=rate,
                     unit="workflow")
        self.measure(mode, flow.name, "closed loop (2 agents)", graph, lambda: asyncio.run(
            driver.closed_loop(graph.base_url, flow.step(), concurrency=2,
                               duration_s=self.args.duration, tokens=self.tokens)), unit="workflow")

    def baseline(self, label: str, server: ServerProcess, path: str) -> None:
        """The 360 against a baseline endpoint: the same requests, rate and closed loop."""
        workload = customer_360(self.seed)

        async def post(http: httpx.AsyncClient, rng: random.Random, token: str) -> str | None:
            body = {"query": workload.query, "variables": workload.variables(rng)}
            response = await http.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
            return None if response.status_code == 200 and workload.check(response.json()) is None \
                else f"HTTP {response.status_code}: {response.text[:120]}"

        self.measure(label, "customer360", RATE, server,
                     lambda: asyncio.run(driver.constant_rate(server.base_url, post, rate=self.args.rate,
                                                              duration_s=self.args.duration,
                                                              tokens=self.tokens)), rate=self.args.rate)
        self.measure(label, "customer360", WRK, server, self._closed(server, path, workload))

    def upstream_floor(self, rates: list[float]) -> None:
        """The cold 360's six upstream requests in their two levels and nothing else
        (bench/upstream_floor.py), at the cold graph's rates: what no server here can beat."""
        env = sandbox_env(self.urls)
        minimum = sum(MIN_360_REQUESTS.values())

        async def post(http: httpx.AsyncClient, rng: random.Random, token: str) -> str | None:
            body = {"variables": {"number": rng.choice(self.seed.customers), "first": 10}}
            response = await http.post("/upstream-floor", json=body)
            if response.status_code != 200:
                return f"HTTP {response.status_code}: {response.text[:120]}"
            found = response.json()
            return None if found["requests"] == minimum and found["orders"] else f"read {found}"

        with ServerProcess("bench.upstream_floor:create_app", self.args.graph_port + 2, env,
                           loop=self.args.loop, http=self.args.http) as server:
            for index, rate in enumerate(rates):
                run = RATE if index == 0 else f"{RATE} (light)"
                self.measure(UPSTREAM_FLOOR, "customer360-cold", run, server,
                             lambda rate=rate: asyncio.run(driver.constant_rate(  # type: ignore[misc]
                                 server.base_url, post, rate=rate, duration_s=self.args.duration,
                                 tokens=self.tokens)), rate=rate)

    def paired_throughput(self, graph: ServerProcess, ceiling: ServerProcess, pairs: int) -> None:
        """The throughput target's runs: the warm graph's and the ceiling's closed loops,
        alternated `pairs` times with the same request lines, so both sides of each ratio
        meet the same moment of a shared, noisy host (report.py takes the median ratio)."""
        workload = customer_360(self.seed)
        lines = wrk.request_lines(workload, self.tokens, 2000) if self.wrk else None
        for index in range(1, pairs + 1):
            run = f"{WRK}, pair {index}"
            self.measure(WARM, "customer360", run, graph, self._closed(graph, "/graphql", workload, lines))
            self.measure(CEILING, "customer360", run, ceiling,
                         self._closed(ceiling, "/graphql-core", workload, lines))

    def note_rss(self, mode: str, graph: ServerProcess) -> None:
        """Print the mode's peak RSS per worker."""
        print(f"  {mode}: peak RSS per worker {peak_rss_mb(graph.pid, graph.workers)} MiB", flush=True)

    def cold_counts(self) -> dict[str, float]:
        """Upstream requests per 360 in the cold mode, by page size."""
        counts = {}
        for item in self.rows:
            if item["mode"] == "cold" and item["run"] == RATE and item["workload"].startswith("customer360-first"):
                counts[item["workload"].split("-")[1]] = item["upstream_per_request"]
        return counts


def upstream_seconds(server: ServerProcess) -> tuple[float, float]:
    """The graph's own upstream timing so far (/metrics): (seconds, attempts); zeros elsewhere."""
    try:
        text = httpx.get(f"{server.base_url}/metrics", timeout=5).text
    except httpx.HTTPError:
        return 0.0, 0.0
    total = count = 0.0
    for line in text.splitlines():
        if line.startswith("retailgraph_upstream_request_seconds_sum"):
            total += float(line.rsplit(" ", 1)[1])
        elif line.startswith("retailgraph_upstream_request_seconds_count"):
            count += float(line.rsplit(" ", 1)[1])
    return total, count


def _named(seed: Seed, name: str) -> Workload:
    if name == "customer360-cold":
        return replace(customer_360(seed), name="customer360-cold")
    return workloads(seed)[name]()


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    from importlib.metadata import version

    packages: dict[str, str | None] = {}
    for name in ("strawberry-graphql", "graphql-core", "starlette", "uvicorn", "uvloop", "httptools",
                 "httpx", "orjson", "aiodataloader"):
        try:
            packages[name] = version(name)
        except Exception:  # noqa: BLE001 - not installed is a fact worth reporting too
            packages[name] = None
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False).stdout.split("\n")[0] \
        if os.path.exists("/usr/bin/wrk") else None
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "packages": packages,
            "wrk": wrk_version, "processor": platform.processor() or platform.machine()}
