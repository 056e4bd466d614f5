"""The ops view's figures: case aging from the service platform, and technical health read
from the sources' live resilience state and the Prometheus samples `/metrics` serves.

A source's breaker state and recent error rate come from its resilience layer (the same
rolling window `/readyz` reports) when it has one. Otherwise, and for the graph's own error
rate, recent rates compare the counters with a snapshot taken at least `window_s` earlier by
a previous call (`RecentRates`): the last few minutes once the view has been looked at
before, the time since the process started until then.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sources.records import Case

if TYPE_CHECKING:
    from sources import Sources

# (label, from hours, below hours) — what a contact centre's backlog report uses.
AGING_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("< 1 day", 0, 24),
    ("1-3 days", 24, 72),
    ("3-7 days", 72, 168),
    ("7-14 days", 168, 336),
    ("14-30 days", 336, 720),
    ("> 30 days", 720, None),
)
BREAKER_STATES = {0: "CLOSED", 1: "HALF_OPEN", 2: "OPEN"}
SOURCE_NAMES = ("erp", "wms", "servicedesk")
SERVER_CODES = frozenset({"SOURCE_UNAVAILABLE", "INTERNAL"})


class SampleSource(Protocol):
    """A Prometheus registry (anything with `collect()`)."""

    def collect(self) -> Iterable[Any]:
        """Metric families with their samples."""


@dataclass(frozen=True)
class Bucket:
    """Open cases of one age band."""

    label: str
    min_hours: int
    max_hours: int | None
    count: int


@dataclass(frozen=True)
class CaseAgingFigures:
    """The open-case backlog by age, status and priority."""

    open_cases: int
    buckets: tuple[Bucket, ...]
    by_status: tuple[tuple[str, int], ...]
    by_priority: tuple[tuple[str, int], ...]
    oldest_opened_at: datetime | None
    median_age_hours: float | None
    truncated: bool


def case_aging(cases: Sequence[Case], now: datetime, *, truncated: bool = False) -> CaseAgingFigures:
    """Bucket unsolved cases by how long ago they were opened."""
    ages = sorted(max(0.0, (now - case.created_at).total_seconds() / 3600) for case in cases)
    buckets = tuple(
        Bucket(label, low, high, sum(1 for age in ages if age >= low and (high is None or age < high)))
        for label, low, high in AGING_BUCKETS
    )
    return CaseAgingFigures(
        open_cases=len(cases),
        buckets=buckets,
        by_status=_counts(case.status.name for case in cases),
        by_priority=_counts(case.priority.name if case.priority else "NONE" for case in cases),
        oldest_opened_at=min((case.created_at for case in cases), default=None),
        median_age_hours=round(percentile(ages, 50), 2) if ages else None,
        truncated=truncated,
    )


async def resolve_case_aging(sources: Sources, now: datetime) -> CaseAgingFigures:
    """Case aging over every unsolved ticket of the service platform."""
    page = await sources.servicedesk.unsolved_cases()
    return case_aging(page.items, now, truncated=page.has_more)


def _counts(values: Iterable[str]) -> tuple[tuple[str, int], ...]:
    tally: dict[str, int] = {}
    for value in values:
        tally[value] = tally.get(value, 0) + 1
    return tuple(sorted(tally.items(), key=lambda item: (-item[1], item[0])))


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank `q`th percentile of `values` (which must not be empty)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


# -- technical health --------------------------------------------------------------------------


@dataclass(frozen=True)
class Samples:
    """The samples of a registry, indexed by sample name."""

    by_name: Mapping[str, tuple[tuple[Mapping[str, str], float], ...]]

    @classmethod
    def read(cls, registry: SampleSource) -> Samples:
        """Collect every family once."""
        found: dict[str, list[tuple[Mapping[str, str], float]]] = {}
        for family in registry.collect():
            for sample in family.samples:
                found.setdefault(sample.name, []).append((sample.labels, sample.value))
        return cls({name: tuple(values) for name, values in found.items()})

    def total(self, name: str, where: Callable[[Mapping[str, str]], bool] = lambda _: True) -> float:
        """Sum of the samples called `name` whose labels pass `where`."""
        return sum(value for labels, value in self.by_name.get(name, ()) if where(labels))

    def highest(self, name: str, where: Callable[[Mapping[str, str]], bool]) -> float | None:
        """The largest matching sample (a gauge across worker processes), None if none."""
        values = [value for labels, value in self.by_name.get(name, ()) if where(labels)]
        return max(values) if values else None


def upstream_failed(status: str) -> bool:
    """True for an upstream outcome that counts against the source's health."""
    if status.isdigit():
        code = int(status)
        return code >= 500 or code == 429
    return True  # timeout, connection error


class RecentRates:
    """Snapshots of cumulative (calls, failures) per key, to turn counters into recent rates."""

    def __init__(self, window_s: float = 300.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.window_s = window_s
        self._clock = clock
        self._snapshots: deque[tuple[float, dict[str, tuple[float, float]]]] = deque()

    def delta(self, totals: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        """(calls, failures) per key since the newest snapshot at least `window_s` old."""
        now = self._clock()
        base: dict[str, tuple[float, float]] = {}
        while self._snapshots and now - self._snapshots[0][0] >= self.window_s:
            if len(self._snapshots) > 1 and now - self._snapshots[1][0] >= self.window_s:
                self._snapshots.popleft()  # a newer snapshot is old enough too
                continue
            base = self._snapshots[0][1]
            break
        self._snapshots.append((now, dict(totals)))
        return {
            key: (calls - base.get(key, (0.0, 0.0))[0], failures - base.get(key, (0.0, 0.0))[1])
            for key, (calls, failures) in totals.items()
        }


@dataclass(frozen=True)
class SourceFigures:
    """One upstream's health as this replica (or every worker) sees it."""

    source: str
    breaker_state: str
    calls: int
    recent_calls: int
    recent_error_rate: float | None
    recent_mean_latency_ms: float | None
    retries: int
    bulkhead_rejections: int
    cache_hit_rate: float | None


@dataclass(frozen=True)
class GraphFigures:
    """The graph's own request health."""

    requests: int
    recent_requests: int
    recent_error_rate: float | None
    errors_by_code: tuple[tuple[str, int], ...]


def technical_health(
    samples: Samples, rates: RecentRates, live: Mapping[str, Mapping[str, Any]] | None = None
) -> tuple[tuple[SourceFigures, ...], GraphFigures]:
    """Breaker state, call volume, recent error rate, retries and rejections per source,
    and the graph's request volume and error rate. `live` holds each source's resilience
    snapshot (`breaker`, `calls`, `error_rate`, `latency_ms.mean`), which wins over samples."""
    live = live or {}
    totals: dict[str, tuple[float, float]] = {}
    for source in SOURCE_NAMES:
        totals[source] = (
            samples.total("retailgraph_upstream_request_seconds_count", _source(source)),
            samples.total(
                "retailgraph_upstream_request_seconds_count",
                _source(source, lambda labels: upstream_failed(labels.get("status", ""))),
            ),
        )
    requests = samples.total("retailgraph_operation_seconds_count")
    # Server-side failures only: refusals and bad input say nothing about the graph's health.
    errored = samples.total(
        "retailgraph_operation_errors_total", lambda labels: labels.get("code") in SERVER_CODES
    )
    totals["graph"] = (requests, errored)
    recent = rates.delta(totals)
    figures = []
    for source in SOURCE_NAMES:
        mine = _source(source)
        hits = samples.total(
            "retailgraph_cache_events_total", _source(source, lambda l: l.get("outcome") == "hit")
        )
        lookups = samples.total(
            "retailgraph_cache_events_total",
            _source(source, lambda l: l.get("outcome") in ("hit", "miss")),
        )
        state = samples.highest("retailgraph_breaker_state", mine)
        breaker = BREAKER_STATES.get(int(state or 0), "CLOSED")
        calls, failures = recent[source]
        error_rate, latency = _rate(failures, calls), None
        snapshot = live.get(source)
        if snapshot is not None:
            breaker = str(snapshot.get("breaker", breaker)).upper()
            calls = float(snapshot.get("calls", calls))
            error_rate = float(snapshot["error_rate"]) if calls else None
            latency = (snapshot.get("latency_ms") or {}).get("mean") if calls else None
        figures.append(
            SourceFigures(
                source=source,
                breaker_state=breaker,
                calls=int(totals[source][0]),
                recent_calls=int(calls),
                recent_error_rate=error_rate,
                recent_mean_latency_ms=latency,
                retries=int(samples.total("retailgraph_upstream_retries_total", mine)),
                bulkhead_rejections=int(samples.total("retailgraph_bulkhead_rejections_total", mine)),
                cache_hit_rate=_rate(hits, lookups),
            )
        )
    by_code: dict[str, int] = {}
    for labels, value in samples.by_name.get("retailgraph_operation_errors_total", ()):
        code = labels.get("code", "UNKNOWN")
        by_code[code] = by_code.get(code, 0) + int(value)
    calls, failures = recent["graph"]
    graph = GraphFigures(
        requests=int(requests),
        recent_requests=int(calls),
        recent_error_rate=_rate(failures, calls),
        errors_by_code=tuple(sorted(by_code.items(), key=lambda item: (-item[1], item[0]))),
    )
    return tuple(figures), graph


Where = Callable[[Mapping[str, str]], bool]


def _source(name: str, also: Where = lambda _: True) -> Where:
    """Samples of one source (that also pass `also`)."""
    return lambda labels: labels.get("source") == name and also(labels)


def _rate(part: float, whole: float) -> float | None:
    return round(min(1.0, max(0.0, part / whole)), 4) if whole > 0 else None
