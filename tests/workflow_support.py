"""Shared by the orchestrator and mutation tests: the graph app with its orchestrator, the
mutation documents, fault-injecting transports, and readers of what the upstreams hold."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from strawberry import relay

from graph.app import create_app
from graph.auth import mint_token
from graph.settings import Settings
from sandbox.apps import SandboxApps
from sandbox.seed import FIXTURES

TOKEN = "sandbox-token"
DELIVERED = FIXTURES["delivered_order"]  # delivered 8 days ago: lines 10000 (1), 20000 (2), 30000 (1)
CASE = FIXTURES["open_ticket_id"]  # Ada's open ticket about that order


NO_APPROVAL = Decimal("1000000.00")  # refunds never wait, unless a test lowers it
ANY_APPROVAL = Decimal("1.00")  # every refund waits for a supervisor


def fast_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Development settings with a private data dir and quick retries; mutations wait long
    enough for a workflow to settle (the wait ends as soon as it does). Approval is off
    unless a test sets `refund_approval_threshold`: the seed's prices are not fixed."""
    base = Settings(data_dir=data_dir, workflow_retry_interval_s=0.01, workflow_step_attempts=3,
                    mutation_wait_s=30.0, refund_approval_threshold=NO_APPROVAL)
    return replace(base, **overrides)


def gid(type_name: str, key: object) -> str:
    """A global id."""
    return relay.to_base64(type_name, str(key))


def workflow_key(global_id: str) -> str:
    """The orchestrator's workflow id inside a Workflow global id."""
    return relay.from_base64(global_id)[1]


def return_input(key: str, *lines: tuple[int, int], resolution: str = "REFUND", case: bool = True,
                 order: str = DELIVERED, **extra: Any) -> dict[str, Any]:
    """Variables of initiateReturn for (line number, quantity) pairs of an order."""
    return {"input": {
        "orderId": gid("Order", order),
        "lines": [{"orderLineId": gid("OrderLine", f"{order}:{line}"), "quantity": qty, "reason": "DAMAGED"}
                  for line, qty in lines],
        "resolution": resolution, "idempotencyKey": key,
        **({"caseId": gid("Case", CASE)} if case else {}), **extra,
    }}


def bearer(settings: Settings, role: str, sub: str | None = None) -> dict[str, str]:
    """Headers of a caller with one role."""
    token = mint_token(settings, sub=sub or f"{role}-1", roles=[role])
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Fault:
    """Fail requests matching `method` and `path` (regex): `times` of them, then pass."""

    method: str
    path: str
    body: str = ""  # regex the request body must match too (tells a release from a cancel)
    times: int = 1_000_000
    mode: str = "503"  # "503" | "400" | "409" (short stock) | "lost" (applied upstream, answer lost)
    seen: int = 0

    def matches(self, request: httpx.Request) -> bool:
        return (request.method == self.method and re.search(self.path, request.url.path) is not None
                and re.search(self.body, request.content.decode("utf-8", "replace")) is not None)


@dataclass
class FaultyTransport(httpx.AsyncBaseTransport):
    """An ASGI transport that fails chosen requests, like respx but in front of the real sandbox."""

    inner: httpx.AsyncBaseTransport
    faults: list[Fault] = field(default_factory=list)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        for fault in self.faults:
            if fault.matches(request) and fault.seen < fault.times:
                fault.seen += 1
                if fault.mode == "lost":
                    await self.inner.handle_async_request(request)
                    raise httpx.ReadTimeout("answer lost on the way back", request=request)
                status = int(fault.mode)
                kind = "insufficient_stock" if status == 409 else "injected"
                return httpx.Response(status, json={"error": {"code": kind, "type": kind,
                                                              "message": f"injected {status}"}})
        return await self.inner.handle_async_request(request)


def transports_for(sandbox: SandboxApps) -> dict[str, FaultyTransport]:
    """One fault-injecting transport per sandbox app."""
    return {name: FaultyTransport(httpx.ASGITransport(app=getattr(sandbox, name)))
            for name in ("erp", "wms", "servicedesk")}


def graph_with_orchestrator(settings: Settings, transports: Mapping[str, httpx.AsyncBaseTransport]) -> Starlette:
    """The graph app; its lifespan starts the orchestrator."""
    return create_app(settings, transports=dict(transports))


@contextlib.asynccontextmanager
async def running_graph(settings: Settings, transports: Mapping[str, httpx.AsyncBaseTransport]) -> AsyncIterator[Starlette]:
    """The graph app with its lifespan (and orchestrator) running."""
    app = graph_with_orchestrator(settings, transports)
    async with app.router.lifespan_context(app):
        yield app
