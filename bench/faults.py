"""`python -m bench.faults`: the graph under injected ERP faults, at a steady request rate.

Two measurements, each against the sandbox and the graph in their own processes:

1. **Errors**: 30% of ERP calls answer 503 (`/_sandbox/faults` `error_rate`) for `--duration`
   seconds while agent customer-360 queries arrive at `--rate` per second (default 10, well inside what one
   worker sustains on two cores, so queueing does not swamp the figures) over all 200 seeded
   customers. Reported: complete answers (no errors), partial answers (data with
   SOURCE_UNAVAILABLE on some fields), answers that served stale ERP data, p50/p99 latency
   against the request budget, and ERP attempts per query (the sandbox's own count) next to
   the same run without faults. Run with the entity cache on (production) and off (every
   query reaches the ERP: the worst case).
2. **Outage**: under the same load, the ERP goes fully down; `/readyz` is polled to time
   outage → breaker open, then the ERP comes back and recovery → breaker closed is timed.

Results print as a table and are written as JSON under `--out`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.processes import GraphProcess
from bench.scenarios import sandbox_env, sandbox_urls
from bench.workloads import WORKLOADS
from graph.auth import mint_token
from graph.demo import start_sandbox
from graph.settings import Settings


@dataclass
class Tally:
    """What the queries of one run got back."""

    latencies_ms: list[float] = field(default_factory=list)
    complete: int = 0
    partial: int = 0
    failed: int = 0
    stale: int = 0
    codes: dict[str, int] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return len(self.latencies_ms)

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


async def _query(http: httpx.AsyncClient, body: dict[str, Any], token: str, tally: Tally, scheduled: float) -> None:
    try:
        response = await http.post("/graphql", json=body, headers={"Authorization": f"Bearer {token}"})
        payload = response.json() if response.status_code == 200 else {}
    except (httpx.HTTPError, ValueError):
        response, payload = None, {}
    tally.latencies_ms.append((time.perf_counter() - scheduled) * 1000)
    errors = payload.get("errors") or []
    for error in errors:
        code = (error.get("extensions") or {}).get("code", "?")
        tally.codes[code] = tally.codes.get(code, 0) + 1
    if "stale" in (payload.get("extensions") or {}):
        tally.stale += 1
    if response is None or not payload.get("data") or not payload["data"].get("customer"):
        tally.failed += 1
    elif errors:
        tally.partial += 1
    else:
        tally.complete += 1


async def steady_load(base_url: str, rate: float, duration_s: float, tokens: list[str], seed: int) -> Tally:
    """Customer-360 queries on a fixed schedule (latency counts from the scheduled start)."""
    workload = WORKLOADS["customer360"]()
    tally = Tally()
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0, limits=limits) as http:
        start = time.perf_counter()
        tasks = []
        for index in range(int(rate * duration_s)):
            scheduled = start + index / rate
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            rng = random.Random(seed * 100_000 + index)
            body = {"query": workload.query, "variables": workload.variables(rng)}
            tasks.append(asyncio.create_task(_query(http, body, tokens[index % len(tokens)], tally, scheduled)))
        await asyncio.gather(*tasks)
    return tally


def _control(url: str, path: str, body: dict[str, Any] | None = None) -> Any:
    if body is None:
        response = httpx.post(f"{url}{path}") if path.endswith("reset") else httpx.get(f"{url}{path}")
    else:
        response = httpx.put(f"{url}{path}", json=body)
    response.raise_for_status()
    return response.json()


async def _breaker_state(http: httpx.AsyncClient) -> str:
    report = (await http.get("/readyz")).json()
    return str(report["sources"]["erp"]["breaker"])


async def _time_until(http: httpx.AsyncClient, wanted: str, since: float, limit_s: float) -> float | None:
    while time.perf_counter() - since < limit_s:
        if await _breaker_state(http) == wanted:
            return time.perf_counter() - since
        await asyncio.sleep(0.02)
    return None


async def outage_timings(base_url: str, erp_url: str, rate: float, tokens: list[str], seed: int) -> dict[str, Any]:
    """Time outage → breaker open and recovery → breaker closed, under steady load."""
    load = asyncio.create_task(steady_load(base_url, rate, 30.0, tokens, seed))
    async with httpx.AsyncClient(base_url=base_url, timeout=5.0) as http:
        await asyncio.sleep(3.0)
        down = time.perf_counter()
        await asyncio.to_thread(_control, erp_url, "/_sandbox/faults", {"outage": True})
        to_open = await _time_until(http, "open", down, 15.0)
        await asyncio.sleep(2.0)
        up = time.perf_counter()
        await asyncio.to_thread(_control, erp_url, "/_sandbox/faults", {"outage": False})
        to_closed = await _time_until(http, "closed", up, 20.0)
    tally = await load
    return {
        "outage_to_open_s": None if to_open is None else round(to_open, 3),
        "recovery_to_closed_s": None if to_closed is None else round(to_closed, 3),
        "queries_during": tally.requests,
        "complete": tally.complete, "partial": tally.partial, "failed": tally.failed,
        "p99_ms": round(tally.percentile(0.99), 1),
    }


def _row(label: str, tally: Tally, erp_attempts: int, budget_ms: float) -> dict[str, Any]:
    n = max(1, tally.requests)
    return {
        "run": label, "queries": tally.requests,
        "complete_pct": round(100 * tally.complete / n, 1),
        "partial_pct": round(100 * tally.partial / n, 1),
        "failed_pct": round(100 * tally.failed / n, 1),
        "answered_pct": round(100 * (tally.complete + tally.partial) / n, 1),
        "stale_pct": round(100 * tally.stale / n, 1),
        "p50_ms": round(tally.percentile(0.50), 1), "p99_ms": round(tally.percentile(0.99), 1),
        "budget_ms": budget_ms,
        "erp_attempts_per_query": round(erp_attempts / n, 2),
        "codes": tally.codes,
    }


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=10.0, help="queries per second")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of injected 503s")
    parser.add_argument("--error-rate", type=float, default=0.3)
    parser.add_argument("--latency-ms", type=int, default=10, help="added upstream latency")
    parser.add_argument("--budget-s", type=float, default=2.5, help="RETAILGRAPH_REQUEST_BUDGET_S")
    parser.add_argument("--caches", default="on,off", help="entity cache settings to run")
    parser.add_argument("--port-base", type=int, default=18301)
    parser.add_argument("--graph-port", type=int, default=18300)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", default="bench/results")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the error-rate runs and the outage timing; print and save the figures."""
    args = _args(argv)
    urls = sandbox_urls(args.port_base)
    settings = Settings.from_env({})
    tokens = [mint_token(settings, sub=f"agent-{i}", roles=["agent"]) for i in range(32)]
    rows: list[dict[str, Any]] = []
    outage: dict[str, Any] = {}
    sandbox = start_sandbox("127.0.0.1", args.port_base, args.seed)
    try:
        for cache in args.caches.split(","):
            env = sandbox_env(urls)
            env.update({"RETAILGRAPH_REQUEST_BUDGET_S": str(args.budget_s),
                        "RETAILGRAPH_ENTITY_CACHE": "true" if cache == "on" else "false",
                        # Governance is not under test: no query may be refused for its cost.
                        "RETAILGRAPH_MAX_QUERY_COST": "1000000",
                        "RETAILGRAPH_COST_BUCKET_SIZE": "1000000000",
                        "RETAILGRAPH_COST_RESTORE_RATE": "1000000000",
                        "RETAILGRAPH_LOG_LEVEL": "ERROR"})  # one log line per query drowns the figures
            for url in urls.values():
                _control(url, "/_sandbox/faults", {"latency_ms": args.latency_ms, "error_rate": 0.0,
                                                   "outage": False})
            with GraphProcess(args.graph_port, 1, env) as graph:
                asyncio.run(steady_load(graph.base_url, args.rate, 3.0, tokens, seed=1))  # warm-up
                runs = (("no faults", 0.0), (f"{args.error_rate:.0%} ERP 503s", args.error_rate))
                for offset, (label, error_rate) in enumerate(runs):
                    _control(urls["erp"], "/_sandbox/faults", {"error_rate": error_rate})
                    _control(urls["erp"], "/_sandbox/stats/reset")
                    # A different customer sequence per run: the second must not replay the first's.
                    seed = args.seed + 1000 * offset
                    tally = asyncio.run(steady_load(graph.base_url, args.rate, args.duration, tokens, seed))
                    attempts = _control(urls["erp"], "/_sandbox/stats")["requests"]
                    rows.append(_row(f"cache {cache}, {label}", tally, attempts, args.budget_s * 1000))
                    print(json.dumps(rows[-1]), flush=True)
                _control(urls["erp"], "/_sandbox/faults", {"error_rate": 0.0})
                if cache == args.caches.split(",")[0]:
                    outage = asyncio.run(outage_timings(graph.base_url, urls["erp"], args.rate, tokens, args.seed))
                    print(json.dumps({"outage": outage}), flush=True)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)
    columns = ["run", "queries", "complete_pct", "partial_pct", "failed_pct", "stale_pct",
               "p50_ms", "p99_ms", "budget_ms", "erp_attempts_per_query"]
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for row in rows:
        print("  ".join(str(row[c]).ljust(widths[c]) for c in columns))
    print(f"ERP outage → breaker open: {outage.get('outage_to_open_s')} s; "
          f"recovery → breaker closed: {outage.get('recovery_to_closed_s')} s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"faults-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({"args": vars(args), "rows": rows, "outage": outage}, indent=2))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
