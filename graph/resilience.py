"""The graph's side of the resilience policy: a deadline per query, `extensions.stale`, `/readyz`.

`BudgetExtension` runs every query operation inside a `RequestScope` (sources/deadline.py)
of `request_budget_s` seconds: each upstream call made for it gets at most what is left, so
the answer (partial if need be) arrives within the budget. The stale copies the sources
served instead of failing are reported as `extensions.stale = {source: age_seconds}`.

Mutations and subscriptions get no scope: a mutation's reads validate against fresh data
only (never stale), and the durable workflow a mutation starts inherits this context and
must not inherit a request's deadline (it may outlive the request by far).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from sources.breaker import OPEN
from sources.deadline import Clock, RequestScope, request_scope

DEFAULT_BUDGET_S = 2.5


class BudgetExtension(SchemaExtension):
    """A deadline budget and stale-data report for one query operation."""

    def __init__(self, budget_s: float, clock: Clock = time.monotonic) -> None:
        super().__init__()
        self.budget_s = budget_s
        self.clock = clock
        self.scope: RequestScope | None = None

    def on_execute(self) -> Iterator[None]:
        """Run a query's resolvers under the budget; other operations run unbounded."""
        if self.execution_context.operation_type is not OperationType.QUERY:
            yield
            return
        with request_scope(self.budget_s, clock=self.clock) as scope:
            self.scope = scope
            yield

    def get_results(self) -> dict[str, Any]:
        """`extensions.stale`: the oldest stale copy served per source, in whole seconds."""
        if self.scope is None or not self.scope.stale:
            return {}
        return {"stale": {source: math.ceil(age) for source, age in sorted(self.scope.stale.items())}}


def budget_extension(settings: Any) -> Callable[[], SchemaExtension]:
    """A factory for `build_schema(extensions=[...])`: one extension per operation."""
    budget_s = float(getattr(settings, "request_budget_s", DEFAULT_BUDGET_S))
    return lambda: BudgetExtension(budget_s)


async def readyz(request: Request) -> JSONResponse:
    """Readiness: each source's breaker, recent error rate and latency.

    503 only when the graph cannot serve anything useful: every source's breaker is open.
    One source down is `degraded` and still ready; the graph answers around it.
    """
    sources = getattr(request.app.state, "sources", None)
    if sources is None:
        return JSONResponse({"status": "starting", "sources": {}}, status_code=503)
    report = {client.source: client.resilience.snapshot() for client in sources}
    open_count = sum(1 for entry in report.values() if entry["breaker"] == OPEN)
    if report and open_count == len(report):
        status, code = "unavailable", 503
    elif any(entry["breaker"] != "closed" for entry in report.values()):
        status, code = "degraded", 200
    else:
        status, code = "ready", 200
    return JSONResponse({"status": status, "sources": report}, status_code=code)
