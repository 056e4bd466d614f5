"""`python -m bench`: the sandbox and the graph in separate processes, fixed workloads, a report.

One command runs, against the sandbox upstreams with `--latency-ms` of added latency:
  optimized  the graph as deployed (loaders, entity cache, ERP coalescing, lookahead)
  cold       the same graph with every cache TTL x0.002: each 360 reads everything upstream
  naive      no loaders, no cache, no coalescing, no lookahead; bulkheads, queues and breakers
             lifted so it measures the cost of the missing batching, not our protection
and the baselines for the customer-360 (bench/ceiling.py): bare graphql-core over the same
records in memory, and a plain endpoint returning the same bytes. Each workload gets a
constant-rate run (latency at a stated rate) and a closed-loop wrk run (max throughput);
every response is checked and any failure fails the run (exit 1). `--levers` measures each
performance lever by turning it off alone; `--profile` samples the graph with py-spy under
warm 360s; `--soak` runs a long mixed load and samples RSS.
docs/benchmark.md explains the figures.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
from typing import Any

import httpx
import orjson

from bench import report, scenarios, studies
from bench.processes import ServerProcess
from bench.scenarios import Bench
from graph.demo import start_sandbox

MODES: dict[str, dict[str, str]] = {
    "optimized": {},
    "cold": {"RETAILGRAPH_CACHE_TTL_SCALE": "0.002"},
    "naive": {
        "RETAILGRAPH_BATCHING": "false", "RETAILGRAPH_ENTITY_CACHE": "false",
        "RETAILGRAPH_ERP_COALESCE": "false", "RETAILGRAPH_PREFETCH": "false",
        # Lift the protection: the baseline measures missing batching, not our bulkheads.
        "RETAILGRAPH_ERP_MAX_CONCURRENCY": "10000", "RETAILGRAPH_WMS_MAX_CONCURRENCY": "10000",
        "RETAILGRAPH_SERVICEDESK_MAX_CONCURRENCY": "10000", "RETAILGRAPH_MAX_QUEUE": "100000",
        "RETAILGRAPH_BREAKER_MIN_CALLS": "1000000000", "RETAILGRAPH_HTTP_POOL_SIZE": "1000",
        "RETAILGRAPH_REQUEST_BUDGET_S": "120", "RETAILGRAPH_SOURCE_TIMEOUT_S": "120",
    },
}
DEFAULT_WORKLOADS = "customer360,floor,order,inventory,nodes,burst,returns"


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", default=DEFAULT_WORKLOADS)
    parser.add_argument("--modes", default="optimized,cold,naive")
    parser.add_argument("--latency-ms", type=int, default=20, help="added upstream latency")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run")
    parser.add_argument("--rate", type=float, default=20.0, help="stated arrival rate, requests/s")
    parser.add_argument("--flow-rate", type=float, default=2.0, help="return workflows/s")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (closed loop)")
    parser.add_argument("--burst", type=int, default=64, help="size of the identical burst")
    parser.add_argument("--bursts", type=int, default=3, help="bursts, each on a cold customer")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--loop", default="auto", help="uvicorn --loop (auto = uvloop if installed)")
    parser.add_argument("--http", default="auto", help="uvicorn --http (auto = httptools if installed)")
    parser.add_argument("--no-baselines", action="store_true", help="skip the ceiling endpoints")
    parser.add_argument("--pairs", type=int, default=3,
                        help="alternating warm-graph / ceiling closed loops for the throughput target")
    parser.add_argument("--levers", action="store_true", help="measure each lever (360 only)")
    parser.add_argument("--profile", action="store_true",
                        help="py-spy the graph under 360s (the first of --modes)")
    parser.add_argument("--soak", type=float, default=0.0, help="seconds of mixed load; samples RSS")
    parser.add_argument("--no-wrk", action="store_true", help="closed loop with the Python driver")
    parser.add_argument("--port-base", type=int, default=18101)
    parser.add_argument("--graph-port", type=int, default=18000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", default="bench/results")
    return parser.parse_args(argv)


def _run_modes(bench: Bench, args: argparse.Namespace) -> dict[str, Any]:
    """Every requested mode's workloads, then the baselines; returns the captured 360s."""
    captured: dict[str, Any] = {}
    for mode in args.modes.split(","):
        workloads = args.workloads.split(",")
        if mode == "cold":  # the cold mode is about the 360's levels and upstream minimum
            workloads = ["customer360-cold", "customer360-first5", "customer360-first50"]
        with bench.graph(MODES[mode]) as graph:
            if mode == "optimized":
                if "burst" in workloads:
                    bench.bursts(mode, graph, args.bursts, args.burst)  # first: the caches are cold
                captured = bench.warm_up(graph)  # also the ceiling's records
            for name in workloads:
                if name == "burst":
                    if mode != "optimized":  # no cache to keep cold; one burst shows the cost
                        bench.bursts(mode, graph, 1, args.burst)
                elif name == "returns":
                    bench.return_flows(mode, graph)
                else:
                    bench.workload(mode, graph, name)
            if mode == "cold":
                bench.light_load(mode, graph, "customer360-cold", min(5.0, args.rate))
            bench.note_rss(mode, graph)
        if mode == "cold":  # the same rates with no graph: the wait for the upstreams alone
            bench.upstream_floor([args.rate, min(5.0, args.rate)])
    return captured


def _run_baselines(bench: Bench, captured: dict[str, Any]) -> None:
    """The ceiling endpoints over the records the optimized graph answered with; then, for
    the throughput target, the warm graph and the ceiling in alternating closed loops."""
    with tempfile.NamedTemporaryFile(prefix="rg-ceiling-", suffix=".json", delete=False) as data:
        data.write(orjson.dumps(captured))
    env = {"RETAILGRAPH_BENCH_CEILING_DATA": data.name}
    with ServerProcess("bench.ceiling:create_app", bench.args.graph_port + 1, env,
                       workers=bench.args.workers, loop=bench.args.loop, http=bench.args.http) as server:
        bench.baseline(scenarios.CEILING, server, "/graphql-core")
        bench.baseline("same bytes", server, "/bytes")
        if bench.args.pairs > 0 and "customer360" in bench.args.workloads.split(","):
            with bench.graph(scenarios.WARM_ENV) as graph:
                bench.warm_up(graph)
                bench.paired_throughput(graph, server, bench.args.pairs)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 1 if any response failed its check."""
    args = _args(argv)
    # A terminated run still stops the sandbox and graph processes it started (finally blocks).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sandbox = start_sandbox("127.0.0.1", args.port_base, args.seed)
    bench = Bench(args)
    extra: dict[str, Any] = {}
    try:
        for url in bench.urls.values():
            httpx.put(f"{url}/_sandbox/faults", json={"latency_ms": args.latency_ms}).raise_for_status()
        bench.load_seed()
        if args.soak:
            extra["soak"] = studies.soak(bench, args.soak)
        elif args.levers:
            extra["levers"] = studies.levers(bench)
        elif args.profile:
            mode = args.modes.split(",")[0]
            extra["profile"] = studies.profile(bench, mode, MODES[mode])
        else:
            captured = _run_modes(bench, args)
            if captured and not args.no_baselines:
                _run_baselines(bench, captured)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)
    found = report.targets(bench.rows, args.latency_ms, bench.cold_counts())
    report.print_table(bench.rows)
    print()
    report.print_targets(found)
    name = "soak" if args.soak else "levers" if args.levers else "profile" if args.profile else "bench"
    path = report.write(args.out, name, {"args": vars(args), "rows": bench.rows, "targets": found,
                                         "machine": scenarios.machine(), **extra})
    print(f"wrote {path}")
    failed = [r for r in bench.rows if r["failures"]]
    for item in failed:
        print(f"FAILED {item['mode']} {item['workload']} {item['run']}: {item['failures']} failures, "
              f"first: {item['first_failure']}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
