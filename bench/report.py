"""The benchmark's report: rows per run, ratios against the in-run baselines, the targets.

A row is one (mode, workload, run) measurement. `targets()` turns the rows of one run into
the issue's ratios, each with its threshold and whether it is met; `write()` prints the
table and the targets and stores everything as JSON under bench/results/.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bench.driver import RunResult
from bench.workloads import MIN_360_LEVELS, MIN_360_REQUESTS

# Row names the targets look up (bench/scenarios.py measures under them).
WRK = "closed-loop (wrk)"
CEILING = "graphql-core ceiling"
WARM = "warm (records fresh)"
UPSTREAM_FLOOR = "upstream floor"

COLUMNS = ["mode", "workload", "run", "rate", "requests", "failures", "error_rate", "rps", "p50_ms",
           "p95_ms", "p99_ms", "upstream_per_request", "upstream_call_ms", "cpu_ms_per_request",
           "peak_rss_mb"]


def row(
    mode: str, workload: str, run: str, result: RunResult, *, upstream: int, cpu_s: float,
    rss_mb: Sequence[float], rate: float | None = None, unit: str = "request",
) -> dict[str, Any]:
    """One measurement as a report row (`unit`: what one counted request is)."""
    count = result.requests
    percentiles = not run.startswith(WRK)  # wrk's own p50/p99 are only a hint
    return {
        "mode": mode, "workload": workload, "run": run, "unit": unit,
        "rate": rate, "requests": count, "failures": result.failures,
        "error_rate": round(result.failures / count, 4) if count else 0.0,
        "rps": round(count / result.elapsed_s, 1) if result.elapsed_s else 0.0,
        "p50_ms": round(result.percentile(0.50), 1) if percentiles else None,
        "p95_ms": round(result.percentile(0.95), 1) if percentiles else None,
        "p99_ms": round(result.percentile(0.99), 1) if percentiles else None,
        "upstream_per_request": round(upstream / count, 3) if count else 0.0,
        "cpu_ms_per_request": round(cpu_s * 1000 / count, 2) if count else 0.0,
        "peak_rss_mb": list(rss_mb), "first_failure": result.first_failure,
    }


def _find(rows: Sequence[Mapping[str, Any]], mode: str, workload: str, run: str) -> Mapping[str, Any] | None:
    for candidate in rows:
        if (candidate["mode"], candidate["workload"], candidate["run"]) == (mode, workload, run):
            return candidate
    return None


def _pairs(rows: Sequence[Mapping[str, Any]]) -> list[tuple[float, float]]:
    """(warm graph rps, ceiling rps) of each alternating closed-loop pair, in order."""
    found = []
    index = 1
    while True:
        run = f"{WRK}, pair {index}"
        graph = _find(rows, WARM, "customer360", run)
        ceiling = _find(rows, CEILING, "customer360", run)
        if graph is None or ceiling is None:
            return [(g, c) for g, c in found if c]
        found.append((graph["rps"], ceiling["rps"]))
        index += 1


def _target(name: str, value: float | None, threshold: float, *, at_most: bool, note: str) -> dict[str, Any]:
    met = None if value is None else (value <= threshold if at_most else value >= threshold)
    return {"target": name, "value": None if value is None else round(value, 3),
            "threshold": threshold, "comparison": "<=" if at_most else ">=", "met": met, "note": note}


def targets(rows: Sequence[Mapping[str, Any]], latency_ms: float, cold: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets as ratios measured in this run."""
    out: list[dict[str, Any]] = []
    minimum = sum(MIN_360_REQUESTS.values())
    cold_5, cold_50 = cold.get("first5"), cold.get("first50")
    if cold_5 is not None and cold_50 is not None:
        out.append(_target("cold 360 upstream requests, first:50 / first:5", cold_50 / max(cold_5, 1e-9),
                           1.05, at_most=True,
                           note=f"first:5 {cold_5}, first:50 {cold_50} per 360; a statistical figure "
                                "(SKUs shared across requests), exact equality is a test"))
        out.append(_target("cold 360 upstream requests / stated minimum", max(cold_5, cold_50) / minimum,
                           1.0, at_most=True, note=f"minimum {minimum} = {MIN_360_REQUESTS}"))
    burst = _find(rows, "optimized", "customer360-burst", "burst of 64 (cold)")
    if burst is not None:
        out.append(_target("64 identical 360s: upstream requests per client request",
                           burst["upstream_per_request"], 0.2, at_most=True,
                           note=f"cold cache, {burst['requests']} requests in bursts"))
    out += _latency_targets(rows, latency_ms)
    ours = _find(rows, "optimized", "customer360", WRK)
    ceiling = _find(rows, CEILING, "customer360", WRK)
    same_bytes = _find(rows, "same bytes", "customer360", WRK)
    pairs = _pairs(rows)
    if pairs:
        ratios = sorted(graph / ceiling for graph, ceiling in pairs)
        out.append(_target(
            "warm 360 throughput / graphql-core ceiling", ratios[len(ratios) // 2], 0.6, at_most=False,
            note=f"median of {len(pairs)} alternating pairs, records fresh on both sides; pairs "
                 + ", ".join(f"{g} vs {c} rps" for g, c in pairs)))
    if ours and ceiling and ceiling["rps"]:
        out.append(_target(
            "warm 360 throughput, deployed TTLs / graphql-core ceiling" + (" (context)" if pairs else ""),
            ours["rps"] / ceiling["rps"], 0.0 if pairs else 0.6, at_most=False,
            note=f"{ours['rps']} vs {ceiling['rps']} rps, single runs minutes apart; the graph also "
                 f"refreshed expired stock ({ours['upstream_per_request']} upstream requests per 360)"))
    floor = _find(rows, "optimized", "floor", WRK)
    if floor and ceiling and ceiling["rps"]:
        out.append(_target("one-field governed query throughput / graphql-core 360 ceiling",
                           floor["rps"] / ceiling["rps"], 0.0, at_most=False,
                           note=f"{floor['rps']} vs {ceiling['rps']} rps (context: what every request "
                                "costs before its fields; bounds the 360 ratio from above)"))
    if ours and same_bytes and same_bytes["rps"]:
        out.append(_target("warm 360 throughput / same-bytes endpoint", ours["rps"] / same_bytes["rps"], 0.0,
                           at_most=False, note=f"{ours['rps']} vs {same_bytes['rps']} rps (context only)"))
    naive = _find(rows, "naive", "customer360", "constant rate")
    optimized = _find(rows, "optimized", "customer360", "constant rate")
    if naive and optimized and optimized["upstream_per_request"]:
        out.append(_target("naive / optimized upstream requests per 360",
                           naive["upstream_per_request"] / optimized["upstream_per_request"], 1.0,
                           at_most=False, note="context: what loaders, cache, coalescing and lookahead save"))
    return out


def _latency_targets(rows: Sequence[Mapping[str, Any]], latency_ms: float) -> list[dict[str, Any]]:
    """The 360's p50 against the nominal budget (levels x injected latency, when there is
    any), the measured upstream call, and the upstream floor measured at the same rate."""
    out: list[dict[str, Any]] = []
    budget = 1.15 * MIN_360_LEVELS * latency_ms
    for mode, workload, run, label in (
        ("cold", "customer360-cold", "constant rate", "cold 360 (every read upstream)"),
        ("cold", "customer360-cold", "constant rate (light)", "cold 360, light load"),
        ("optimized", "customer360", "constant rate", "360 over the seed, warm caches"),
    ):
        found = _find(rows, mode, workload, run)
        floor = _find(rows, UPSTREAM_FLOOR, workload, run) if mode == "cold" else None
        if floor is not None and not floor["p50_ms"]:
            floor = None
        if floor is not None and budget:
            out.append(_target(
                f"p50 upstream floor at {floor['rate']}/s"
                f" / (1.15 x {MIN_360_LEVELS} levels x {latency_ms:g} ms)",
                floor["p50_ms"] / budget, 1.0, at_most=True,
                note=f"p50 {floor['p50_ms']} ms at {floor['rate']}/s for the six upstream requests in "
                     "their two levels with no GraphQL (bench/upstream_floor.py): above 1, no server "
                     "here can meet the nominal budget"))
        if found is None or found["p50_ms"] is None:
            continue
        if budget:
            out.append(_target(f"p50 {label} / (1.15 x {MIN_360_LEVELS} levels x {latency_ms:g} ms)",
                               found["p50_ms"] / budget, 1.0, at_most=True,
                               note=f"p50 {found['p50_ms']} ms at {found['rate']}/s; budget {budget:.0f} ms"))
        call_ms = found.get("upstream_call_ms")
        if mode == "cold" and call_ms:
            measured = 1.15 * MIN_360_LEVELS * call_ms
            out.append(_target(
                f"p50 {label} / (1.15 x {MIN_360_LEVELS} levels x measured upstream call)",
                found["p50_ms"] / measured, 1.0, at_most=True,
                note=f"an upstream call took {call_ms} ms on average (injected {latency_ms:g} ms "
                     f"+ the sandbox's own work + the network stack); budget {measured:.0f} ms"))
        if floor is not None:
            out.append(_target(
                f"p50 {label} / (1.15 x p50 upstream floor)",
                found["p50_ms"] / (1.15 * floor["p50_ms"]), 1.0, at_most=True,
                note=f"{found['p50_ms']} ms against {floor['p50_ms']} ms for the same six requests in "
                     "two levels with nothing else, same rate and sandbox: the issue's 15% on top "
                     "of what the levels cost here"))
    return out


def print_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] = COLUMNS) -> None:
    """A fixed-width table of `rows`."""
    if not rows:
        return
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for line in cells:
        print("  ".join(v.ljust(w) for v, w in zip(line, widths)))


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return "/".join(str(v) for v in value)
    return str(value)


def print_targets(found: Sequence[Mapping[str, Any]]) -> None:
    """One line per target: value, comparison, threshold, met or not."""
    for item in found:
        verdict = {True: "MET", False: "NOT MET", None: "n/a"}[item["met"]]
        print(f"{verdict:8s} {item['target']}: {item['value']} {item['comparison']} {item['threshold']}"
              f"  ({item['note']})")


def write(out_dir: str, name: str, report: Mapping[str, Any]) -> Path:
    """Store the report as JSON; returns the file."""
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({**report, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
                               indent=2, default=str))
    return path
