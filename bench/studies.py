"""Studies beyond the main run: each lever alone (`--levers`), a py-spy profile (`--profile`)
and the soak (`--soak`). They reuse `Bench` from bench/scenarios.py for processes and rows.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import subprocess
import tempfile
import time
from typing import Any

import httpx
import orjson

from bench import driver, report
from bench.processes import ServerProcess, rss_mb
from bench.scenarios import RATE, WARM_ENV, WRK, Bench
from bench.workloads import Workload, customer_360, workloads

WARM = WARM_ENV  # CPU levers: nothing expires during the run
COLD = {"RETAILGRAPH_CACHE_TTL_SCALE": "0.002"}  # upstream levers: every 360 reads everything
COLLECTOR_DEFAULTS = {"RETAILGRAPH_GC_FREEZE": "false", "RETAILGRAPH_GC_THRESHOLD": "0"}  # graph/collector.py

LEVERS: list[tuple[str, dict[str, str], dict[str, Any]]] = [
    ("warm: all levers on", WARM, {}),
    ("warm: lookahead + preload off", {**WARM, "RETAILGRAPH_PREFETCH": "false"}, {}),
    ("warm: strawberry's field wrappers and executor", {**WARM, "RETAILGRAPH_FAST_RESOLVERS": "false"}, {}),
    ("warm: cache hits through loader batches", {**WARM, "RETAILGRAPH_LOADER_CACHE_HITS": "false"}, {}),
    ("warm: stdlib json", {**WARM, "RETAILGRAPH_ORJSON": "false"}, {}),
    ("warm: CPython's collector defaults", {**WARM, **COLLECTOR_DEFAULTS}, {}),
    ("warm: asyncio + h11", WARM, {"loop": "asyncio", "http": "h11"}),
    ("warm: 2 workers", WARM, {"workers": 2}),
    ("warm: persisted query (hash only)", WARM, {"apq": True}),
    ("default TTLs: all levers on", {}, {}),
    ("default TTLs: cache TTLs x0.1", {"RETAILGRAPH_CACHE_TTL_SCALE": "0.1"}, {}),
    ("default TTLs: httpx default pool", {"RETAILGRAPH_HTTP_POOL_SIZE": "-1"}, {}),
    ("default TTLs: httpx's own transport", {"RETAILGRAPH_HTTP_TRANSPORT": "httpx"}, {}),
    ("cold: all levers on", COLD, {"cold": True}),
    ("cold: ERP coalescing off", {**COLD, "RETAILGRAPH_ERP_COALESCE": "false"}, {"cold": True}),
    ("cold: lookahead + preload off", {**COLD, "RETAILGRAPH_PREFETCH": "false"}, {"cold": True}),
    ("cold: httpx's own transport", {**COLD, "RETAILGRAPH_HTTP_TRANSPORT": "httpx"}, {"cold": True}),
    ("cold: httpx default pool", {**COLD, "RETAILGRAPH_HTTP_POOL_SIZE": "-1"}, {"cold": True}),
    ("cold: CPython's collector defaults", {**COLD, **COLLECTOR_DEFAULTS}, {"cold": True}),
]


def levers(bench: Bench) -> list[dict[str, Any]]:
    """The 360 with all levers on, then with each changed alone; ratios to its group's all-on."""
    workload = customer_360(bench.seed)
    summary: list[dict[str, Any]] = []
    for label, env, given in LEVERS:
        options = dict(given)
        apq, cold = options.pop("apq", False), options.pop("cold", False)
        database = None
        if int(options.get("workers", 1)) > 1:  # SQLite serves one process: workers share PostgreSQL
            database = _scratch_postgres()
            if database is None:
                print(f"  {label}: skipped, several workers need PostgreSQL at {POSTGRES_ADMIN}")
                continue
            env = {**env, "RETAILGRAPH_DATABASE_URL": database}
        try:
            summary.append(_lever(bench, workload, label, env, options, apq=apq, cold=cold))
        finally:
            if database is not None:
                _drop_postgres(database)
    for item in summary:
        group = item["lever"].split(":")[0]
        base = next(i for i in summary if i["lever"] == f"{group}: all levers on")
        for key in ("rps", "cpu_ms_per_request", "p50_ms", "upstream_per_request"):
            item[f"{key}_ratio"] = round(item[key] / base[key], 3) if base[key] else None
    report.print_table(summary, list(summary[0]))
    return summary


def _lever(bench: Bench, workload: Workload, label: str, env: dict[str, str],
           options: dict[str, Any], *, apq: bool, cold: bool) -> dict[str, Any]:
    """One configuration's closed-loop and constant-rate runs of the 360."""
    with bench.graph(env, **options) as graph:
        if not cold:
            bench.warm_up(graph)
        lines = _apq_lines(graph, workload, bench.tokens) if apq else None
        closed = bench.measure(label, "customer360", WRK, graph,
                               bench._closed(graph, "/graphql", workload, lines))
        rate_row = bench.measure(label, "customer360", RATE, graph,
                                 bench._rate(graph, driver.request_step(workload), bench.args.rate),
                                 rate=bench.args.rate)
    return {"lever": label, "rps": closed["rps"], "cpu_ms_per_request": closed["cpu_ms_per_request"],
            "p50_ms": rate_row["p50_ms"], "p95_ms": rate_row["p95_ms"],
            "upstream_per_request": rate_row["upstream_per_request"]}


POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def _scratch_postgres() -> str | None:
    """A new, empty PostgreSQL database for a multi-worker graph; None when unreachable."""
    import psycopg

    name = f"rg_bench_{os.getpid()}_{int(time.time())}"
    try:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=2) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error:
        return None
    return POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"


def _drop_postgres(url: str) -> None:
    """Drop a scratch database (best effort: the figures do not depend on it)."""
    import psycopg

    try:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=2) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    except psycopg.Error as exc:
        print(f"  could not drop {url}: {exc}")


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


def profile(bench: Bench, mode: str, env: dict[str, str]) -> dict[str, Any]:
    """py-spy samples the graph while wrk drives 360s; the top costs, self and by package."""
    workload = customer_360(bench.seed)
    with tempfile.TemporaryDirectory(prefix="rg-pyspy-") as folder, bench.graph(env) as graph:
        bench.warm_up(graph)
        raw = os.path.join(folder, "stacks.txt")
        spy = subprocess.Popen(["py-spy", "record", "--pid", str(graph.pid), "--duration",
                                str(max(1, round(bench.args.duration))), "--rate", "100", "--format", "raw",
                                "--output", raw, "--gil"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        bench.measure(f"{mode} (profiled)", "customer360", WRK, graph,
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

    result: dict[str, Any] = {"busy_samples": total, "idle_samples": idle, "self_pct_by_function": share(by_function),
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
