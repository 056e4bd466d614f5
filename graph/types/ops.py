"""The ops view: `operationsSummary`, what retail operations leaders watch next to the
technical health of the graph and its upstreams.

Business figures come from the service platform (case aging) and the orchestrator's journal
(return cycle times, refunds, ERP posting, exception hotspots) over the last `days`; technical
figures from the Prometheus samples `/metrics` serves. Each section resolves on its own, so an
unavailable service platform nulls `caseAging` alone. Upstream reads and journal
aggregates are cached per process for `RETAILGRAPH_OPS_SUMMARY_TTL_S` seconds.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import field
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Annotated, Any, TypeVar

import strawberry
from cachetools import TTLCache

from graph import metrics
from graph.context import GraphInfo
from graph.errors import BadUserInput
from orchestrator import telemetry as workflow_telemetry
from resolvers import ops as ops_resolvers

T = TypeVar("T")
logger = logging.getLogger("retailgraph.graph.ops")
MAX_DAYS = 90
DEFAULT_DAYS = 7
DEFAULT_TTL_S = 30.0


@strawberry.enum(description="A circuit breaker's state.")
class BreakerState(Enum):
    """Closed: calls flow; open: calls fail fast; half-open: probes decide."""

    CLOSED = strawberry.enum_value("CLOSED", description="Calls flow normally.")
    HALF_OPEN = strawberry.enum_value("HALF_OPEN", description="A few probe calls decide whether to close.")
    OPEN = strawberry.enum_value("OPEN", description="Calls fail fast until the open period ends.")


@strawberry.type(description="A count under a label (a status, a priority, an error code).")
class LabelCount:
    """One label and its count."""

    label: str = strawberry.field(description="What is counted.")
    count: int = strawberry.field(description="How many.")


@strawberry.type(description="Open cases whose age falls in one band.")
class AgingBucket:
    """An age band of the backlog."""

    label: str = strawberry.field(description="The band, e.g. `3-7 days`.")
    min_hours: int = strawberry.field(description="Lowest age in the band, in hours (inclusive).")
    max_hours: int | None = strawberry.field(description="Age the band ends at, in hours; null: open-ended.")
    count: int = strawberry.field(description="Open cases in the band.")


@strawberry.type(description="The service platform's open-case backlog (not solved or closed) by age.")
class CaseAging:
    """Case aging."""

    open_cases: int = strawberry.field(description="Cases neither solved nor closed.")
    buckets: list[AgingBucket] = strawberry.field(description="Open cases by time since opened.")
    by_status: list[LabelCount] = strawberry.field(description="Open cases by status.")
    by_priority: list[LabelCount] = strawberry.field(description="Open cases by priority (NONE: unset).")
    oldest_opened_at: datetime | None = strawberry.field(description="When the oldest open case was opened.")
    median_age_hours: float | None = strawberry.field(description="Median age of open cases, in hours.")
    truncated: bool = strawberry.field(description="True when the listing was cut short; counts are a floor.")


@strawberry.type(description="A distribution of durations.")
class Durations:
    """Count and percentiles of some durations, in seconds."""

    count: int = strawberry.field(description="How many were measured.")
    p50_seconds: float | None = strawberry.field(description="Median, in seconds.")
    p90_seconds: float | None = strawberry.field(description="90th percentile, in seconds.")
    max_seconds: float | None = strawberry.field(description="Longest, in seconds.")

    @classmethod
    def of(cls, values: tuple[float, ...]) -> Durations:
        """Summarise durations in seconds."""
        if not values:
            return cls(count=0, p50_seconds=None, p90_seconds=None, max_seconds=None)
        return cls(
            count=len(values),
            p50_seconds=round(ops_resolvers.percentile(values, 50), 3),
            p90_seconds=round(ops_resolvers.percentile(values, 90), 3),
            max_seconds=round(max(values), 3),
        )


@strawberry.type(description="Returns started in the window: how long they took from request to done.")
class ReturnCycleTimes:
    """Return cycle times."""

    completed: Durations = strawberry.field(description="Completed returns: initiation to completion.")
    in_progress: int = strawberry.field(description="Returns still running or waiting for approval.")


@strawberry.type(description="Refunds requested in the window, through approval and posting.")
class RefundFlow:
    """Refund flow."""

    requested: int = strawberry.field(description="Refunds requested.")
    awaiting_approval: int = strawberry.field(description="Refunds waiting for a supervisor now.")
    oldest_awaiting_since: datetime | None = strawberry.field(description="When the longest-waiting refund was requested.")
    approved: int = strawberry.field(description="Approved, not yet posted.")
    posted: int = strawberry.field(description="Posted to the ERP as credit memos.")
    rejected: int = strawberry.field(description="Rejected by a supervisor (or the approval window closed).")
    failed: int = strawberry.field(description="Failed and rolled back.")
    approval_wait: Durations = strawberry.field(description="Request to supervisor decision.")
    posting_delay: Durations = strawberry.field(description="Cleared to post (requested or approved) to posted.")


@strawberry.type(description="Outcomes of one kind of ERP write made by workflows.")
class ErpPostingStep:
    """One ERP write step."""

    step: str = strawberry.field(description="The step, e.g. erp.post_credit_memo.")
    succeeded: int = strawberry.field(description="Went through (perhaps after retries).")
    failed: int = strawberry.field(description="Failed for good.")
    retried: int = strawberry.field(description="Went through, but not at the first attempt.")


@strawberry.type(description="How reliably workflows post documents to the ERP.")
class ErpPosting:
    """ERP posting success."""

    attempted: int = strawberry.field(description="ERP writes that finished, either way.")
    succeeded: int = strawberry.field(description="ERP writes that went through.")
    failed: int = strawberry.field(description="ERP writes that failed for good.")
    success_rate: float | None = strawberry.field(description="succeeded / attempted; null when none.")
    first_attempt_success_rate: float | None = strawberry.field(
        description="Share of attempted writes that went through at the first attempt."
    )
    steps: list[ErpPostingStep] = strawberry.field(description="By step.")


@strawberry.type(description="Where workflows end in exceptions (compensated or failed), by order channel and region.")
class ExceptionHotspot:
    """Exceptions of one channel and region."""

    channel: str = strawberry.field(description="Order channel (WEB, STORE, PHONE, MARKETPLACE; UNKNOWN).")
    region: str = strawberry.field(description="Sales region (NORTH, SOUTH, …; UNKNOWN).")
    exceptions: int = strawberry.field(description="Workflows that ended compensated or failed.")
    kinds: list[str] = strawberry.field(description="Workflow kinds involved.")
    error_codes: list[str] = strawberry.field(description="Step error codes seen.")
    last_at: datetime | None = strawberry.field(description="When the latest one ended.")


@strawberry.type(description="Workflows of one kind started in the window, by where they are now.")
class WorkflowKindSummary:
    """Workflow counts of one kind."""

    kind: str = strawberry.field(description="initiate_return, request_refund, …")
    started: int = strawberry.field(description="Started.")
    completed: int = strawberry.field(description="Completed.")
    compensated: int = strawberry.field(description="Rolled back after a failed step.")
    failed: int = strawberry.field(description="Failed after the point of no return, or could not roll back.")
    cancelled: int = strawberry.field(description="Cancelled.")
    in_progress: int = strawberry.field(description="Running or awaiting approval.")
    awaiting_approval: int = strawberry.field(description="Waiting for a supervisor.")


@strawberry.type(description="One upstream's technical health, as this deployment's workers see it.")
class SourceHealth:
    """Health of one source."""

    source: str = strawberry.field(description="erp, wms or servicedesk.")
    breaker_state: BreakerState = strawberry.field(description="The circuit breaker's state.")
    calls: int = strawberry.field(description="Upstream calls since the workers started.")
    recent_calls: int = strawberry.field(
        description="Upstream calls in the source's health window (RETAILGRAPH_HEALTH_WINDOW_S)."
    )
    recent_error_rate: float | None = strawberry.field(
        description="Share of recent calls that failed (5xx, timeout, connection error); null: no calls."
    )
    recent_mean_latency_ms: float | None = strawberry.field(
        description="Mean latency of recent calls, in milliseconds; null: no calls."
    )
    retries: int = strawberry.field(description="Retries since the workers started.")
    bulkhead_rejections: int = strawberry.field(description="Calls refused by a full bulkhead since start.")
    cache_hit_rate: float | None = strawberry.field(description="Entity cache hits / lookups since start.")


@strawberry.type(description="The graph's own request health.")
class GraphHealth:
    """Health of the graph."""

    requests: int = strawberry.field(description="GraphQL requests since the workers started.")
    recent_requests: int = strawberry.field(description="GraphQL requests in the last few minutes.")
    recent_error_rate: float | None = strawberry.field(
        description="Share of recent requests with a SOURCE_UNAVAILABLE or INTERNAL error."
    )
    errors_by_code: list[LabelCount] = strawberry.field(description="Requests with an error, by code, since start.")


def _counts(pairs: tuple[tuple[str, int], ...]) -> list[LabelCount]:
    return [LabelCount(label=label, count=count) for label, count in pairs]


@strawberry.type(
    description="What retail operations leaders watch — case aging, return cycle times, refunds, "
    "ERP posting, exception hotspots — next to the technical health of the graph and its upstreams."
)
class OperationsSummary:
    """The ops view."""

    generated_at: datetime = strawberry.field(description="When these figures were computed.")
    window_days: int = strawberry.field(description="Workflow figures cover workflows started this many days back.")
    memo: strawberry.Private[dict[str, Any]] = field(default_factory=dict)

    @strawberry.field(description="The open-case backlog by age; null when the service platform is unavailable.")
    async def case_aging(self, info: GraphInfo) -> CaseAging | None:
        figures = await _cached(info, ("cases",), lambda: case_aging(info.context.sources, self.generated_at))
        return CaseAging(
            open_cases=figures.open_cases,
            buckets=[AgingBucket(label=b.label, min_hours=b.min_hours, max_hours=b.max_hours, count=b.count)
                     for b in figures.buckets],
            by_status=_counts(figures.by_status),
            by_priority=_counts(figures.by_priority),
            oldest_opened_at=figures.oldest_opened_at,
            median_age_hours=figures.median_age_hours,
            truncated=figures.truncated,
        )

    @strawberry.field(description="Return cycle times.")
    async def return_cycle_times(self, info: GraphInfo) -> ReturnCycleTimes:
        stats = await self._stats(info)
        return ReturnCycleTimes(
            completed=Durations.of(stats.return_cycle_times), in_progress=stats.returns_in_progress
        )

    @strawberry.field(description="Refunds through approval and posting.")
    async def refunds(self, info: GraphInfo) -> RefundFlow:
        r = (await self._stats(info)).refunds
        return RefundFlow(
            requested=r.requested, awaiting_approval=r.awaiting_approval,
            oldest_awaiting_since=r.oldest_awaiting_since, approved=r.approved, posted=r.posted,
            rejected=r.rejected, failed=r.failed, approval_wait=Durations.of(r.approval_waits),
            posting_delay=Durations.of(r.posting_delays),
        )

    @strawberry.field(description="ERP posting success of workflow steps.")
    async def erp_posting(self, info: GraphInfo) -> ErpPosting:
        erp = [s for s in (await self._stats(info)).steps if s.system == "erp"]
        succeeded = sum(s.succeeded for s in erp)
        failed = sum(s.failed for s in erp)
        attempted = succeeded + failed
        first_time = succeeded - sum(s.retried for s in erp)
        return ErpPosting(
            attempted=attempted, succeeded=succeeded, failed=failed,
            success_rate=round(succeeded / attempted, 4) if attempted else None,
            first_attempt_success_rate=round(first_time / attempted, 4) if attempted else None,
            steps=[ErpPostingStep(step=s.step, succeeded=s.succeeded, failed=s.failed, retried=s.retried)
                   for s in erp],
        )

    @strawberry.field(description="Channels and regions with the most exceptions, most first.")
    async def exception_hotspots(
        self,
        info: GraphInfo,
        first: Annotated[int, strawberry.argument(description="At most this many (≤ 100).")] = 10,
    ) -> list[ExceptionHotspot]:
        if not 0 <= first <= 100:
            raise BadUserInput("exceptionHotspots(first:) must be between 0 and 100.")
        spots = (await self._stats(info)).hotspots[:first]
        return [
            ExceptionHotspot(channel=s.channel, region=s.region, exceptions=s.exceptions,
                             kinds=list(s.kinds), error_codes=list(s.error_codes), last_at=s.last_at)
            for s in spots
        ]

    @strawberry.field(description="Workflows by kind and where they are now.")
    async def workflows(self, info: GraphInfo) -> list[WorkflowKindSummary]:
        return [
            WorkflowKindSummary(
                kind=k.kind, started=k.started, completed=k.completed, compensated=k.compensated,
                failed=k.failed, cancelled=k.cancelled, in_progress=k.in_progress,
                awaiting_approval=k.awaiting_approval,
            )
            for k in (await self._stats(info)).kinds
        ]

    @strawberry.field(description="Each upstream's breaker state, recent error rate, retries and rejections.")
    def sources(self, info: GraphInfo) -> list[SourceHealth]:
        figures, _ = self._health(info)
        return [
            SourceHealth(
                source=f.source, breaker_state=BreakerState(f.breaker_state), calls=f.calls,
                recent_calls=f.recent_calls, recent_error_rate=f.recent_error_rate,
                recent_mean_latency_ms=f.recent_mean_latency_ms, retries=f.retries,
                bulkhead_rejections=f.bulkhead_rejections, cache_hit_rate=f.cache_hit_rate,
            )
            for f in figures
        ]

    @strawberry.field(description="The graph's request volume and error rate.")
    def graph(self, info: GraphInfo) -> GraphHealth:
        _, figures = self._health(info)
        return GraphHealth(
            requests=figures.requests, recent_requests=figures.recent_requests,
            recent_error_rate=figures.recent_error_rate, errors_by_code=_counts(figures.errors_by_code),
        )

    async def _stats(self, info: GraphInfo) -> workflow_telemetry.WorkflowStats:
        """The journal aggregates, read once per summary (and cached per process)."""
        if "stats" not in self.memo:
            db = getattr(info.context.workflows, "db", None)
            if db is None:
                raise RuntimeError("the orchestrator is not running in this app")
            since = self.generated_at - timedelta(days=self.window_days)
            self.memo["stats"] = asyncio.ensure_future(_cached(
                info, ("workflows", self.window_days), lambda: workflow_stats(db, since)))
        stats: workflow_telemetry.WorkflowStats = await asyncio.shield(self.memo["stats"])
        return stats

    def _health(self, info: GraphInfo) -> tuple[tuple[ops_resolvers.SourceFigures, ...], ops_resolvers.GraphFigures]:
        """Technical health, read once per summary."""
        if "health" not in self.memo:
            state = _state(info)
            rates = getattr(state, "ops_rates", None) if state is not None else None
            if rates is None:
                rates = ops_resolvers.RecentRates()
                if state is not None:
                    state.ops_rates = rates
            samples = ops_resolvers.Samples.read(metrics.registry())
            self.memo["health"] = ops_resolvers.technical_health(samples, rates, _live(info))
        health: tuple[tuple[ops_resolvers.SourceFigures, ...], ops_resolvers.GraphFigures] = self.memo["health"]
        return health


async def case_aging(sources: Any, now: datetime) -> ops_resolvers.CaseAgingFigures:
    """Case aging from the service platform, also published as gauges."""
    figures = await ops_resolvers.resolve_case_aging(sources, now)
    metrics.record_case_aging(figures)
    return figures


async def workflow_stats(db: Any, since: datetime) -> workflow_telemetry.WorkflowStats:
    """The journal aggregates, also published as gauges."""
    stats = await workflow_telemetry.workflow_stats(db, since)
    metrics.record_workflow_backlog(stats)
    return stats


async def refresh_ops_gauges(
    state: Any, interval_s: float, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
) -> None:
    """Recompute the ops gauges every `interval_s` (RETAILGRAPH_OPS_REFRESH_S) until cancelled,
    so dashboards see case aging and backlogs without anyone opening the ops view."""
    while True:
        await sleep(interval_s)
        now = datetime.now(UTC)
        try:
            await case_aging(state.sources, now)
            db = getattr(getattr(state, "workflows", None), "db", None)
            if db is not None:
                await workflow_stats(db, now - timedelta(days=DEFAULT_DAYS))
        except Exception:
            logger.warning("ops gauges not refreshed", exc_info=True)


def start_ops_refresher(state: Any, interval_s: float) -> asyncio.Task[None] | None:
    """Start the refresher when an interval is configured (off by default)."""
    if interval_s <= 0:
        return None
    return asyncio.get_running_loop().create_task(refresh_ops_gauges(state, interval_s))


def operations_summary(info: GraphInfo, days: int) -> OperationsSummary:
    """The Query.operationsSummary resolver: the sections resolve as they are selected."""
    if not 1 <= days <= MAX_DAYS:
        raise BadUserInput(f"operationsSummary(days:) must be between 1 and {MAX_DAYS}.")
    return OperationsSummary(generated_at=datetime.now(UTC), window_days=days)


def _live(info: GraphInfo) -> dict[str, Any]:
    """Each source's resilience snapshot (breaker, recent calls and errors), where it has one."""
    found: dict[str, Any] = {}
    for client in info.context.sources:
        resilience = getattr(client, "resilience", None)
        if resilience is not None and hasattr(resilience, "snapshot"):
            found[client.source] = resilience.snapshot()
    return found


def _state(info: GraphInfo) -> Any:
    """The app's state, where per-process caches live (None outside an app)."""
    request = info.context.request
    app = getattr(request, "app", None) if request is not None else None
    return getattr(app, "state", None)


async def _cached(info: GraphInfo, key: tuple[Any, ...], compute: Callable[[], Awaitable[T]]) -> T:
    """`compute()`, reused for the configured TTL within this process."""
    state = _state(info)
    ttl = float(getattr(info.context.settings, "ops_summary_ttl_s", DEFAULT_TTL_S))
    if state is None or ttl <= 0:
        return await compute()
    cache: TTLCache[tuple[Any, ...], Any] | None = getattr(state, "ops_cache", None)
    if cache is None:
        cache = state.ops_cache = TTLCache(maxsize=64, ttl=ttl)
    if key in cache:
        value: T = cache[key]
        return value
    value = await compute()
    cache[key] = value
    return value
