"""bench/report.py: the throughput target is the median of alternating graph/ceiling pairs."""

from __future__ import annotations

from typing import Any

from bench import report
from bench.driver import RunResult


def _row(mode: str, run: str, rps: float, upstream: int = 0) -> dict[str, Any]:
    result = RunResult()
    for _ in range(int(rps)):
        result.record(1.0, None)
    result.elapsed_s = 1.0
    return report.row(mode, "customer360", run, result, upstream=upstream, cpu_s=0.1, rss_mb=[100.0])


def _throughput(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [t for t in report.targets(rows, 20, {}) if t["target"].startswith("warm 360 throughput")]


def test_the_target_is_the_median_pair_and_single_runs_are_context() -> None:
    rows = [
        _row("optimized", "closed-loop (wrk)", 90, upstream=27),
        _row("graphql-core ceiling", "closed-loop (wrk)", 100),
    ]
    for index, (graph, ceiling) in enumerate([(40, 100), (70, 100), (30, 60)], start=1):
        run = f"closed-loop (wrk), pair {index}"
        rows += [_row("warm (records fresh)", run, graph), _row("graphql-core ceiling", run, ceiling)]
    target, context = _throughput(rows)
    assert (target["value"], target["threshold"], target["met"]) == (0.5, 0.6, False)  # 0.4, 0.7, 0.5
    assert "3 alternating pairs" in target["note"]
    # The single deployed-TTL run (0.9 here, minutes from its ceiling run) does not decide it.
    assert context["target"].endswith("(context)") and context["value"] == 0.9
    assert context["threshold"] == 0.0 and "0.3 upstream requests" in context["note"]


def test_without_pairs_the_single_runs_are_the_target() -> None:
    rows = [
        _row("optimized", "closed-loop (wrk)", 70),
        _row("graphql-core ceiling", "closed-loop (wrk)", 100),
        _row("warm (records fresh)", "closed-loop (wrk), pair 1", 50),  # its ceiling run is missing
    ]
    (target,) = _throughput(rows)
    assert (target["value"], target["threshold"], target["met"]) == (0.7, 0.6, True)
    assert rows[2]["p50_ms"] is None  # wrk's latencies are a hint, pair runs included


def _latency_row(mode: str, run: str, p50_ms: float, rate: float) -> dict[str, Any]:
    result = RunResult()
    for _ in range(10):
        result.record(p50_ms, None)
    result.elapsed_s = 10 / rate
    return report.row(mode, "customer360-cold", run, result, upstream=60, cpu_s=0.1, rss_mb=[100.0],
                      rate=rate)


def test_the_cold_360_is_judged_against_the_nominal_budget_and_against_the_upstream_floor() -> None:
    rows = [_latency_row("cold", "constant rate", 55.0, 20),
            _latency_row("upstream floor", "constant rate", 50.0, 20),
            _latency_row("cold", "constant rate (light)", 60.0, 5)]  # no floor at 5/s: no floor target
    found = {t["target"]: t for t in report.targets(rows, 20, {})}
    floor = found["p50 upstream floor at 20/s / (1.15 x 2 levels x 20 ms)"]
    assert (floor["value"], floor["met"]) == (round(50 / 46, 3), False)
    against_floor = found["p50 cold 360 (every read upstream) / (1.15 x p50 upstream floor)"]
    assert (against_floor["value"], against_floor["met"]) == (round(55 / 57.5, 3), True)
    assert found["p50 cold 360 (every read upstream) / (1.15 x 2 levels x 20 ms)"]["met"] is False
    assert not [name for name in found if "light load / (1.15 x p50" in name or "floor at 5" in name]


def test_with_no_injected_latency_only_the_floor_and_measured_call_judge_the_cold_360() -> None:
    rows = [_latency_row("cold", "constant rate", 16.0, 20),
            _latency_row("upstream floor", "constant rate", 8.0, 20)]
    names = [t["target"] for t in report.targets(rows, 0, {})]
    assert names == ["p50 cold 360 (every read upstream) / (1.15 x p50 upstream floor)"]
