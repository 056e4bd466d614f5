"""What `python -m bench` runs: workloads per mode, bursts, the return flow, levers, the soak.

`Bench` holds one run's state (sandbox URLs, tokens, the seed's keys, report rows). Each
measurement resets the sandbox's request counters and reads the graph's CPU before and
after, so a row's upstream requests and CPU belong to that run alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import platform
import random
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson

from bench import driver, report, wrk
from bench.flows import ReturnFlow, find_units
from bench.processes import GraphProcess, ServerProcess, cpu_seconds, peak_rss_mb, rss_mb
from bench.workloads import CUSTOMER_360, Seed, Workload, customer_360, customer_360_burst, workloads
from graph.auth import mint_token
from graph.settings import Settings

SANDBOX_NAMES = ("erp", "wms", "servicedesk")
BENCH_ENV = {  # throughput and upstream economy are under test, not throttling or logging
    "RETAILGRAPH_COST_BUCKET_SIZE": "100000000", "RETAILGRAPH_COST_RESTORE_RATE": "100000000",
    "RETAILGRAPH_MAX_QUERY_COST": "100000000", "RETAILGRAPH_LOG_LEVEL": "WARNING",
}
RATE, WRK = "constant rate", "closed-loop (wrk)"


class Bench:
    """One benchmark run: where things are, who asks, and what was measured."""

    def __init__(self, args: Any) -> None:
        self.args = args
        self.urls = {name: f"http://127.0.0.1:{args.port_base + i}" for i, name in enumerate(SANDBOX_NAMES)}
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
    def graph(self, mode_env: dict[str, str], **options: Any) -> Iterator[GraphProcess]:
        """The graph process for one mode or lever."""
        env = {f"RETAILGRAPH_{name.upper()}_URL": url for name, url in self.urls.items()}
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

    def measure(
        self, mode: str, name: str, run: str, server: ServerProcess, go: Callable[[], driver.RunResult],
        **extra: Any,
    ) -> dict[str, Any]:
        """Run `go` with counters reset; append and return its row."""
        self._stats(reset=True)
        before = cpu_seconds(server.pid)
        result = go()
        used = cpu_seconds(server.pid) - before
        found = report.row(mode, name, run, result, upstream=self._stats(), cpu_s=used,
                           rss_mb=peak_rss_mb(server.pid, server.workers), **extra)
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
                lines: list[str] | None = None) -> Callable[[], driver.RunResult]:
        if self.wrk is None:
            step = driver.request_step(workload)
            return lambda: asyncio.run(driver.closed_loop(
                server.base_url, step, concurrency=self.args.connections,
                duration_s=self.args.duration, tokens=self.tokens))
        lines = lines or wrk.request_lines(workload, self.tokens, 2000)
        binary = self.wrk
        return lambda: wrk.closed_loop(server.base_url, path, lines, workload.marker,
                                       connections=self.args.connections,
                                       duration_s=self.args.duration, binary=binary)

    def workload(self, mode: str, graph: ServerProcess, name: str) -> None:
        """A constant-rate run, then a closed-loop wrk run, of one request workload."""
        workload = _named(self.seed, name)
        rate = self.args.rate
        self.measure(mode, name, RATE, graph, self._rate(graph, driver.request_step(workload), rate),
                     rate=rate)
        if mode != "cold":
            self.measure(mode, name, WRK, graph, self._closed(graph, "/graphql", workload))

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

    def return_flows(self, mode: str, graph: GraphProcess) -> None:
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


def _named(seed: Seed, name: str) -> Workload:
    if name == "customer360-cold":
        found = customer_360(seed)
        return Workload("customer360-cold", found.query, found.variables, found.check, found.marker)
    return workloads(seed)[name]()


LEVERS: list[tuple[str, dict[str, str], dict[str, Any]]] = [
    ("all levers on", {}, {}),
    ("ERP coalescing off", {"RETAILGRAPH_ERP_COALESCE": "false"}, {}),
    ("lookahead off", {"RETAILGRAPH_PREFETCH": "false"}, {}),
    ("stdlib json", {"RETAILGRAPH_ORJSON": "false"}, {}),
    ("httpx default pool", {"RETAILGRAPH_HTTP_POOL_SIZE": "-1"}, {}),
    ("asyncio + h11", {}, {"loop": "asyncio", "http": "h11"}),
    ("2 workers", {}, {"workers": 2}),
    ("cache TTLs x0.1", {"RETAILGRAPH_CACHE_TTL_SCALE": "0.1"}, {}),
    ("persisted query (hash only)", {}, {"apq": True}),
]


def levers(bench: Bench) -> list[dict[str, Any]]:
    """The 360 with all levers, then with each one changed alone; ratios to all-on."""
    workload = customer_360(bench.seed)
    summary = []
    for label, env, options in LEVERS:
        apq = options.pop("apq", False) if options else False
        with bench.graph(env, **options) as graph:
            bench.warm_up(graph)
            lines = _apq_lines(graph, workload, bench.tokens) if apq else None
            rate_row = bench.measure(label, "customer360", RATE, graph,
                                     bench._rate(graph, driver.request_step(workload), bench.args.rate),
                                     rate=bench.args.rate)
            closed = bench.measure(label, "customer360", WRK, graph,
                                   bench._closed(graph, "/graphql", workload, lines))
        summary.append({"lever": label, "rps": closed["rps"], "p50_ms": rate_row["p50_ms"],
                        "upstream_per_request": rate_row["upstream_per_request"],
                        "cpu_ms_per_request": closed["cpu_ms_per_request"]})
    base = summary[0]
    for item in summary:
        item["rps_vs_all_on"] = round(item["rps"] / base["rps"], 3) if base["rps"] else None
        item["cpu_vs_all_on"] = round(item["cpu_ms_per_request"] / base["cpu_ms_per_request"], 3) \
            if base["cpu_ms_per_request"] else None
    report.print_table(summary, list(summary[0]))
    return summary


def _apq_lines(graph: ServerProcess, workload: Workload, tokens: list[str]) -> list[str]:
    """Hash-only request bodies, after registering the document once (Apollo APQ)."""
    digest = hashlib.sha256(workload.query.encode()).hexdigest()
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": digest}}
    rng = random.Random(11)
    first = {"query": workload.query, "variables": workload.variables(rng), "extensions": extensions}
    httpx.post(f"{graph.base_url}/graphql", json=first, headers={"Authorization": f"Bearer {tokens[0]}"},
               timeout=30).raise_for_status()
    return [f"{tokens[i % len(tokens)]}\t" + orjson.dumps(
        {"variables": workload.variables(rng), "extensions": extensions}).decode() for i in range(2000)]


def soak(bench: Bench, seconds: float) -> dict[str, Any]:
    """Mixed load at the stated rate for `seconds`, sampling each worker's RSS every 10 s."""
    mix = [("customer360", 6), ("order", 2), ("inventory", 1), ("nodes", 1)]
    chosen = [workloads(bench.seed)[name]() for name, weight in mix for _ in range(weight)]
    steps = [driver.request_step(w) for w in chosen]

    async def mixed(http: httpx.AsyncClient, rng: random.Random, token: str) -> str | None:
        return await rng.choice(steps)(http, rng, token)

    samples: list[dict[str, Any]] = []
    with bench.graph({}) as graph:
        bench.warm_up(graph)
        started = time.monotonic()

        async def sample() -> None:
            while True:
                samples.append({"t_s": round(time.monotonic() - started),
                                "rss_mb": rss_mb(graph.pid, graph.workers)})
                await asyncio.sleep(10)

        async def run() -> driver.RunResult:
            sampler = asyncio.create_task(sample())
            try:
                return await driver.constant_rate(graph.base_url, mixed, rate=bench.args.rate,
                                                  duration_s=seconds, tokens=bench.tokens)
            finally:
                sampler.cancel()

        bench.measure("optimized", "soak (mixed)", RATE, graph, lambda: asyncio.run(run()),
                      rate=bench.args.rate)
        samples.append({"t_s": round(time.monotonic() - started), "rss_mb": rss_mb(graph.pid, graph.workers)})
    half = [s["rss_mb"][0] for s in samples if s["t_s"] >= seconds / 2] or [0.0]
    summary = {"samples": samples, "second_half_min_mb": min(half), "second_half_max_mb": max(half),
               "peak_mb": max(max(s["rss_mb"]) for s in samples)}
    print(f"soak: RSS second half {summary['second_half_min_mb']}..{summary['second_half_max_mb']} MiB, "
          f"peak {summary['peak_mb']} MiB", flush=True)
    return summary


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    from importlib.metadata import version

    packages = {}
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


def profile(bench: Bench) -> dict[str, Any]:
    """py-spy samples the graph while wrk drives warm 360s; the top costs, self and by package."""
    workload = customer_360(bench.seed)
    with tempfile.TemporaryDirectory(prefix="rg-pyspy-") as folder, bench.graph({}) as graph:
        bench.warm_up(graph)
        raw = os.path.join(folder, "stacks.txt")
        spy = subprocess.Popen(["py-spy", "record", "--pid", str(graph.pid), "--duration",
                                str(max(1, round(bench.args.duration))), "--rate", "100", "--format", "raw",
                                "--output", raw, "--gil"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        bench.measure("optimized (profiled)", "customer360", WRK, graph,
                      bench._closed(graph, "/graphql", workload))
        spy.wait(timeout=60)
        stacks = open(raw).read().splitlines() if os.path.exists(raw) else []
    return _top_costs(stacks)


IDLE_LEAVES = ("Condition.wait (", "_worker (concurrent/", "EpollSelector.select (", "select (",
               "Event.wait (", "_wait_for_tstate_lock (")


def _top_costs(stacks: list[str], top: int = 20) -> dict[str, Any]:
    """Busy samples (waits left out): self time by function, inclusive time by package."""
    by_function: dict[str, int] = {}
    by_package: dict[str, int] = {}
    total = idle = 0
    for line in stacks:
        frames, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        parts = [_without_line(frame) for frame in frames.split(";")]
        leaf = parts[-1]
        if leaf.startswith(IDLE_LEAVES):
            idle += count
            continue
        total += count
        by_function[leaf] = by_function.get(leaf, 0) + count
        for package in {_package(frame) for frame in parts}:
            by_package[package] = by_package.get(package, 0) + count

    def share(found: dict[str, int]) -> dict[str, float]:
        ordered = sorted(found.items(), key=lambda item: -item[1])[:top]
        return {name: round(100 * count / max(total, 1), 1) for name, count in ordered}

    result = {"busy_samples": total, "idle_samples": idle, "self_pct_by_function": share(by_function),
              "inclusive_pct_by_package": share(by_package)}
    for name, pct in result["self_pct_by_function"].items():
        print(f"  self {pct:5.1f}%  {name}")
    for name, pct in result["inclusive_pct_by_package"].items():
        print(f"  incl {pct:5.1f}%  {name}")
    return result


def _without_line(frame: str) -> str:
    """`f (path/file.py:12)` → `f (path/file.py)`: a function's samples, whatever the line."""
    head, _, rest = frame.rpartition(":")
    return f"{head})" if head and rest.rstrip(")").isdigit() else frame


def _package(frame: str) -> str:
    """`graphql`, `strawberry`, `app:graph`, `asyncio`, … for one py-spy frame."""
    location = frame[frame.rfind("(") + 1:frame.rfind(")")] if "(" in frame else frame
    first = location.split("/")[0].removesuffix(".py")
    return f"app:{first}" if first in ("graph", "resolvers", "sources", "orchestrator", "bench") else first
