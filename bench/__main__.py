"""`python -m bench`: sandbox + graph in separate processes, fixed workloads, a report.

Every response is checked; any failure fails the run (exit 1). Results are printed as a
table and written as JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.driver import RunResult, burst, closed_loop, constant_rate
from bench.processes import GraphProcess, cpu_seconds, peak_rss_mb
from bench.workloads import WORKLOADS
from graph.auth import mint_token
from graph.demo import start_sandbox
from graph.settings import Settings

SANDBOX_NAMES = ("erp", "wms", "servicedesk")
# The benchmark measures throughput and upstream economy, not throttling: lift the budget.
BENCH_ENV = {
    "RETAILGRAPH_COST_BUCKET_SIZE": "100000000",
    "RETAILGRAPH_COST_RESTORE_RATE": "100000000",
    "RETAILGRAPH_LOG_LEVEL": "WARNING",
}
MODES = {
    "optimized": {},
    "naive": {"RETAILGRAPH_BATCHING": "false", "RETAILGRAPH_ENTITY_CACHE": "false"},
}


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--workloads", default="customer360,inventory,customer360-burst")
    parser.add_argument("--modes", default="optimized,naive")
    parser.add_argument("--latency-ms", type=int, default=20, help="added upstream latency")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per run")
    parser.add_argument("--concurrency", type=int, default=8, help="closed-loop users")
    parser.add_argument("--rate", type=float, default=0.0, help="constant arrival rate (req/s); 0 = closed loop")
    parser.add_argument("--burst", type=int, default=64, help="size of the identical burst")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--port-base", type=int, default=18101)
    parser.add_argument("--graph-port", type=int, default=18000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", default="bench/results")
    return parser.parse_args(argv)


def _sandbox_urls(port_base: int) -> dict[str, str]:
    return {name: f"http://127.0.0.1:{port_base + i}" for i, name in enumerate(SANDBOX_NAMES)}


def _upstream_requests(urls: dict[str, str], reset: bool = False) -> int:
    total = 0
    for url in urls.values():
        if reset:
            httpx.post(f"{url}/_sandbox/stats/reset").raise_for_status()
        else:
            total += httpx.get(f"{url}/_sandbox/stats").json()["requests"]
    return total


async def _run_workload(args: argparse.Namespace, name: str, base_url: str, tokens: list[str]) -> RunResult:
    workload = WORKLOADS[name]()
    if name.endswith("burst"):
        return await burst(base_url, workload, size=args.burst, tokens=tokens)
    if args.rate > 0:
        return await constant_rate(base_url, workload, rate=args.rate, duration_s=args.duration, tokens=tokens)
    return await closed_loop(base_url, workload, concurrency=args.concurrency, duration_s=args.duration, tokens=tokens)


def _row(mode: str, name: str, result: RunResult, upstream: int, cpu_s: float, rss_mb: float) -> dict[str, Any]:
    return {
        "mode": mode, "workload": name, "requests": result.requests, "failures": result.failures,
        "rps": round(result.requests / result.elapsed_s, 1) if result.elapsed_s else 0.0,
        "p50_ms": round(result.percentile(0.50), 1), "p95_ms": round(result.percentile(0.95), 1),
        "p99_ms": round(result.percentile(0.99), 1),
        "upstream_per_request": round(upstream / result.requests, 2) if result.requests else 0.0,
        "cpu_ms_per_request": round(cpu_s * 1000 / result.requests, 2) if result.requests else 0.0,
        "peak_rss_mb": round(rss_mb, 1), "first_failure": result.first_failure,
    }


def _print_table(rows: list[dict[str, Any]]) -> None:
    columns = ["mode", "workload", "requests", "failures", "rps", "p50_ms", "p95_ms", "p99_ms",
               "upstream_per_request", "cpu_ms_per_request", "peak_rss_mb"]
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(str(row[c]).ljust(widths[c]) for c in columns))


def _print_ratios(rows: list[dict[str, Any]]) -> None:
    by_key = {(r["mode"], r["workload"]): r for r in rows}
    for (mode, name), row in by_key.items():
        naive = by_key.get(("naive", name))
        if mode != "optimized" or naive is None or not row["upstream_per_request"]:
            continue
        print(f"{name}: upstream calls/request naive ÷ optimized = "
              f"{naive['upstream_per_request'] / row['upstream_per_request']:.1f}x; "
              f"p50 naive ÷ optimized = {naive['p50_ms'] / max(row['p50_ms'], 0.1):.2f}x")


def main(argv: list[str] | None = None) -> int:
    """Run every (mode, workload) pair and report; exit 1 if any response failed its check."""
    args = _args(argv)
    urls = _sandbox_urls(args.port_base)
    sandbox = start_sandbox("127.0.0.1", args.port_base, args.seed)
    rows: list[dict[str, Any]] = []
    try:
        for url in urls.values():
            httpx.put(f"{url}/_sandbox/faults", json={"latency_ms": args.latency_ms}).raise_for_status()
        settings = Settings.from_env({})
        tokens = [mint_token(settings, sub=f"bench-{i}", roles=["agent"]) for i in range(32)]
        for mode in args.modes.split(","):
            env = {f"RETAILGRAPH_{name.upper()}_URL": url for name, url in urls.items()}
            env.update(BENCH_ENV, RETAILGRAPH_DATA_DIR=tempfile.mkdtemp(prefix="retailgraph-bench-"))
            env.update(MODES[mode])
            with GraphProcess(args.graph_port, args.workers, env) as graph:
                for name in args.workloads.split(","):
                    asyncio.run(_run_workload(args, name, graph.base_url, tokens[:2]))  # warm-up
                    _upstream_requests(urls, reset=True)
                    cpu_before = cpu_seconds(graph.pid)
                    result = asyncio.run(_run_workload(args, name, graph.base_url, tokens))
                    cpu_used = cpu_seconds(graph.pid) - cpu_before
                    rows.append(_row(mode, name, result, _upstream_requests(urls), cpu_used, peak_rss_mb(graph.pid)))
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)
    _print_table(rows)
    _print_ratios(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {"args": vars(args), "rows": rows, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    path = out / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2))
    print(f"wrote {path}")
    failed = [r for r in rows if r["failures"]]
    for row in failed:
        print(f"FAILED {row['mode']} {row['workload']}: {row['failures']} failures, first: {row['first_failure']}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
