"""Metrics and trace hooks the sources report through.

The sources never know about HTTP endpoints of our own or exporters; they call these
functions, which record into prometheus-client metrics (scraped at `/metrics` by the graph)
and OpenTelemetry spans (exported only when an exporter is configured).
"""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

tracer = trace.get_tracer("retailgraph.sources")
M = TypeVar("M", bound=MetricWrapperBase)

UPSTREAM_SECONDS = Histogram(
    "retailgraph_upstream_request_seconds",
    "Upstream HTTP call latency by source, route and outcome status.",
    ["source", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
UPSTREAM_BATCH_KEYS = Histogram(
    "retailgraph_upstream_batch_keys",
    "Keys asked for in one bulk upstream read.",
    ["source", "kind"],
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500),
)
CACHE_EVENTS = Counter(
    "retailgraph_cache_events_total",
    "Entity cache lookups by kind and outcome (hit, miss, stale).",
    ["source", "kind", "outcome"],
)
SINGLE_FLIGHT_JOINS = Counter(
    "retailgraph_single_flight_joins_total",
    "Reads that joined an identical upstream call already in flight.",
    ["source"],
)
RETRIES = Counter(
    "retailgraph_upstream_retries_total", "Upstream call retries by source.", ["source", "reason"]
)
BREAKER_STATE = Gauge(
    "retailgraph_breaker_state",
    "Circuit breaker state per source: 0 closed, 1 half-open, 2 open.",
    ["source"],
    multiprocess_mode="max",
)
BREAKER_TRANSITIONS = Counter(
    "retailgraph_breaker_transitions_total",
    "Circuit breaker transitions per source.",
    ["source", "to_state"],
)
BULKHEAD_REJECTIONS = Counter(
    "retailgraph_bulkhead_rejections_total",
    "Upstream calls refused because the source's bulkhead was full.",
    ["source"],
)


# The labelled children of the metrics, by (metric, *label values): `metric.labels(...)`
# validates its arguments and looks the child up under a lock, dozens of times per request.
# prometheus-client keeps every child until `metric.remove()`/`clear()` (which nothing here
# calls; whoever does must call `forget_children()`), so remembering them changes nothing but
# the cost. Children are per process, in multiprocess mode too (a child's value re-opens its
# file after a fork), so the cache is per process as well. Label values are low-cardinality
# strings (sources, kinds, outcomes, routes, statuses; graph/metrics.py bounds the callers'
# ones); past CHILDREN_LIMIT entries, further children are simply not remembered.
CHILDREN_LIMIT = 4096
_CHILDREN: dict[tuple[object, ...], MetricWrapperBase] = {}


def child(metric: M, *labels: str) -> M:
    """`metric.labels(*labels)`, remembered (label values must be plain strings)."""
    key = (metric, *labels)
    found = _CHILDREN.get(key)
    if found is None:
        found = metric.labels(*labels)
        if len(_CHILDREN) < CHILDREN_LIMIT:
            _CHILDREN[key] = found
    return found  # type: ignore[return-value]


def forget_children() -> None:
    """Drop every remembered child (after a `metric.remove()`/`clear()` elsewhere)."""
    _CHILDREN.clear()


# Upstream calls per source made on behalf of the current operation (the graph opens a tally
# per request; the dict is shared by every task spawned from it, loader batches included).
_TALLY: ContextVar[dict[str, int] | None] = ContextVar("retailgraph_upstream_tally", default=None)


def record_upstream_call(source: str, route: str, status: str, seconds: float) -> None:
    """One finished upstream call; `status` is the HTTP status or an error kind."""
    child(UPSTREAM_SECONDS, source, route, status).observe(seconds)
    tally = _TALLY.get()
    if tally is not None:
        tally[source] = tally.get(source, 0) + 1


@contextmanager
def tally_upstream_calls() -> Iterator[dict[str, int]]:
    """Count, by source, the upstream calls made in this context until the block exits."""
    tally: dict[str, int] = {}
    token = _TALLY.set(tally)
    try:
        yield tally
    finally:
        _TALLY.reset(token)


def record_batch(source: str, kind: str, keys: int) -> None:
    """The size of one bulk read."""
    child(UPSTREAM_BATCH_KEYS, source, kind).observe(keys)


def record_cache(source: str, kind: str, outcome: str, count: int = 1) -> None:
    """Cache outcomes: `hit`, `miss` or `stale`."""
    if count:
        child(CACHE_EVENTS, source, kind, outcome).inc(count)


def record_join(source: str) -> None:
    """A read shared an in-flight call."""
    child(SINGLE_FLIGHT_JOINS, source).inc()


def record_retry(source: str, reason: str) -> None:
    """A call is being retried."""
    child(RETRIES, source, reason).inc()


def record_breaker(source: str, state: str) -> None:
    """The breaker moved to `state` (closed, half_open, open)."""
    child(BREAKER_STATE, source).set({"closed": 0, "half_open": 1, "open": 2}[state])
    child(BREAKER_TRANSITIONS, source, state).inc()


def record_bulkhead_rejection(source: str) -> None:
    """The bulkhead refused a call."""
    child(BULKHEAD_REJECTIONS, source).inc()


@contextmanager
def upstream_span(
    source: str, method: str, route: str, headers: MutableMapping[str, str]
) -> Iterator[Span]:
    """A client span around one upstream call; injects W3C `traceparent` into `headers`."""
    template = route.removeprefix(f"{method} ")  # routes often start with their method
    with tracer.start_as_current_span(
        f"{source} {method} {template}",
        kind=SpanKind.CLIENT,
        attributes={"retailgraph.source": source, "http.request.method": method, "url.template": template},
    ) as span:
        propagate.inject(headers)
        try:
            yield span
        except Exception as exc:
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise
