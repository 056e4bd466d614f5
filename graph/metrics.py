"""Prometheus metrics: the operation metrics recorded here, and `/metrics` serving every family.

Families (docs/observability.md lists them with their labels):

    retailgraph_operation_seconds            histogram  operation, type, client
    retailgraph_operation_errors_total       counter    operation, code
    retailgraph_operation_upstream_calls     histogram  operation
    retailgraph_open_cases                   gauge      age          (ops view: case aging)
    retailgraph_workflows_in_progress        gauge      kind, state  (ops view: backlog)
    retailgraph_refunds_awaiting_approval    gauge
    retailgraph_ops_refreshed_timestamp_seconds  gauge  part
    retailgraph_upstream_* / cache / breaker / bulkhead / retries      sources/telemetry.py
    retailgraph_workflow* / refund_*                                   orchestrator/telemetry.py

Several uvicorn workers share one scrape through prometheus-client's multiprocess mode: when
`PROMETHEUS_MULTIPROC_DIR` is set (before the process imports prometheus-client; `retailgraph
serve --workers N` sets it under the data directory), every process writes its samples
there and `/metrics` aggregates all of them.

Operation names and client ids come from callers, so each label keeps at most a fixed number
of distinct values per process; later newcomers are counted as `other`.
"""

from __future__ import annotations

import os
import re
import threading
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.requests import Request
from starlette.responses import Response

import orchestrator.telemetry  # noqa: F401 - defines the business metric families
import sources.telemetry  # noqa: F401 - defines the source metric families
from sources.telemetry import child  # `metric.labels(...)`, remembered per process

if TYPE_CHECKING:
    from graph.tracing import OperationRecord
    from orchestrator.telemetry import WorkflowStats
    from resolvers.ops import CaseAgingFigures

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
OTHER = "other"
_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]{0,99}$")
_CLIENT = re.compile(r"^[\w.:@/-]{1,100}$")

OPERATION_SECONDS = Histogram(
    "retailgraph_operation_seconds",
    "GraphQL request latency, from the first byte in to the response, by operation and client.",
    ["operation", "type", "client"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
OPERATION_ERRORS = Counter(
    "retailgraph_operation_errors_total",
    "GraphQL requests that answered at least one error with this code.",
    ["operation", "code"],
)
OPERATION_UPSTREAM_CALLS = Histogram(
    "retailgraph_operation_upstream_calls",
    "Upstream HTTP calls one GraphQL request made (retries included).",
    ["operation"],
    buckets=(0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89),
)
# Set whenever the ops view computes them (a query, or the refresher of
# RETAILGRAPH_OPS_REFRESH_S); any replica's latest value is right, they read shared systems.
OPEN_CASES = Gauge(
    "retailgraph_open_cases",
    "Service cases neither solved nor closed, by age band since opened.",
    ["age"],
    multiprocess_mode="mostrecent",
)
WORKFLOWS_IN_PROGRESS = Gauge(
    "retailgraph_workflows_in_progress",
    "Workflows started in the ops window and not finished, by kind and state.",
    ["kind", "state"],
    multiprocess_mode="mostrecent",
)
REFUNDS_AWAITING_APPROVAL = Gauge(
    "retailgraph_refunds_awaiting_approval",
    "Refunds waiting for a supervisor's decision.",
    multiprocess_mode="mostrecent",
)
OPS_REFRESHED = Gauge(
    "retailgraph_ops_refreshed_timestamp_seconds",
    "When the ops gauges were last computed, by part (cases, workflows).",
    ["part"],
    multiprocess_mode="mostrecent",
)
AGE_LABELS = {"< 1 day": "lt_1d", "1-3 days": "1d_3d", "3-7 days": "3d_7d",
              "7-14 days": "7d_14d", "14-30 days": "14d_30d", "> 30 days": "gt_30d"}


def record_case_aging(figures: CaseAgingFigures) -> None:
    """Publish the open-case backlog by age band."""
    for bucket in figures.buckets:
        child(OPEN_CASES, AGE_LABELS.get(bucket.label, bucket.label)).set(bucket.count)
    child(OPS_REFRESHED, "cases").set_to_current_time()


def record_workflow_backlog(stats: WorkflowStats) -> None:
    """Publish the workflows in progress and the refunds waiting for approval."""
    for kind in stats.kinds:
        child(WORKFLOWS_IN_PROGRESS, kind.kind, "running").set(kind.in_progress - kind.awaiting_approval)
        child(WORKFLOWS_IN_PROGRESS, kind.kind, "awaiting_approval").set(kind.awaiting_approval)
    REFUNDS_AWAITING_APPROVAL.set(stats.refunds.awaiting_approval)
    child(OPS_REFRESHED, "workflows").set_to_current_time()


class LabelGuard:
    """Admits at most `limit` distinct label values; the rest become `other`."""

    def __init__(self, limit: int, pattern: re.Pattern[str]) -> None:
        self.limit = limit
        self.pattern = pattern
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, value: str) -> str:
        """The label value to use for `value`."""
        if value in self._seen:
            return value
        if not self.pattern.match(value):
            return OTHER
        with self._lock:
            if len(self._seen) >= self.limit:
                return OTHER
            self._seen.add(value)
        return value


operation_label = LabelGuard(200, _NAME)
client_label = LabelGuard(100, _CLIENT)


def record_operation(record: OperationRecord) -> None:
    """The metrics of one finished GraphQL request."""
    operation = operation_label(record.name or "unknown")
    client = client_label(record.client)
    child(OPERATION_SECONDS, operation, record.type or "unknown", client).observe(record.duration_s)
    for code in record.error_codes:
        child(OPERATION_ERRORS, operation, code).inc()
    child(OPERATION_UPSTREAM_CALLS, operation).observe(sum(record.upstream_calls.values()))


def multiprocess_enabled() -> bool:
    """True when samples are shared between worker processes through files."""
    return bool(os.environ.get(MULTIPROC_ENV))


def registry() -> CollectorRegistry:
    """Every metric of this process, or of every worker in multiprocess mode."""
    if not multiprocess_enabled():
        return REGISTRY
    collected = CollectorRegistry()
    multiprocess.MultiProcessCollector(collected)
    return collected


async def metrics_endpoint(request: Request) -> Response:
    """`GET /metrics`: the Prometheus text exposition."""
    return Response(generate_latest(registry()), media_type=CONTENT_TYPE_LATEST)


def process_exiting() -> None:
    """Drop this process's live gauges from the shared directory (multiprocess mode only)."""
    if multiprocess_enabled():
        multiprocess.mark_process_dead(os.getpid())
