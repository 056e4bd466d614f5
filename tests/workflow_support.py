"""Shared by the orchestrator and mutation tests: the graph app with its orchestrator, the
mutation documents, fault-injecting transports, and readers of what the upstreams hold."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator, Mapping, MutableMapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any, Self

import httpx
from starlette.applications import Starlette
from strawberry import relay
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

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


# ── GraphQL documents (schema.graphql) ─────────────────────────────────────────────────────

USER_ERRORS = "userErrors { field code message }"
WORKFLOW_FIELDS = "id workflowId kind status error steps { name status attempts error }"
REFUND_FIELDS = "id status sourceStatus amount { amount currencyCode } requestedBy approvedBy"
RETURN_FIELDS = "id rmaNumber status sourceStatus resolution"


def mutation(name: str, input_type: str, selection: str) -> str:
    """A mutation document taking `$input`, selecting its payload, workflow and user errors."""
    return (f"mutation($input: {input_type}!) {{ {name}(input: $input) {{ {selection} "
            f"workflow {{ {WORKFLOW_FIELDS} }} {USER_ERRORS} }} }}")


INITIATE_RETURN = mutation("initiateReturn", "InitiateReturnInput",
                           f"return {{ {RETURN_FIELDS} }} refund {{ {REFUND_FIELDS} }}")
REQUEST_REFUND = mutation("requestRefund", "RequestRefundInput", f"refund {{ {REFUND_FIELDS} }}")
APPROVE_REFUND = mutation("approveRefund", "ApproveRefundInput", f"refund {{ {REFUND_FIELDS} }}")
RESERVE_REPLACEMENT = mutation(
    "reserveReplacement", "ReserveReplacementInput",
    "replacementOrder { id number total { amount } lines { sku quantity } } "
    "inventoryLevel { sku onHand reserved available }",
)
CANCEL_RETURN = mutation("cancelReturn", "CancelReturnInput", f"return {{ {RETURN_FIELDS} }}")
ADD_CASE_NOTE = mutation("addCaseNote", "AddCaseNoteInput", "case { id number }")
WORKFLOW = f"query($id: ID!) {{ workflow(id: $id) {{ {WORKFLOW_FIELDS} }} }}"


# ── What the upstreams hold, read through their own raw APIs ───────────────────────────────

def upstream_client(sandbox: SandboxApps, name: str) -> httpx.AsyncClient:
    """A raw client to one sandbox app with the sandbox token (use it with `async with`)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=getattr(sandbox, name)),
                             base_url=f"http://{name}", headers={"Authorization": f"Bearer {TOKEN}"},
                             timeout=30.0)


def money(value: Any) -> Decimal:
    """A JSON amount as a two-place Decimal."""
    return Decimal(str(value)).quantize(Decimal("0.01"))


@dataclass
class Upstreams:
    """Reads the ERP, WMS and service platform over HTTP, as an operator would, not the graph."""

    sandbox: SandboxApps
    company_id: str | None = None

    async def _get(self, system: str, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET one page from a sandbox app; the decoded body (2xx asserted)."""
        async with upstream_client(self.sandbox, system) as http:
            response = await http.get(path, params=dict(params or {}))
        response.raise_for_status()
        return response.json()

    async def company(self) -> str:
        """The ERP's single company id."""
        if self.company_id is None:
            self.company_id = str((await self._get("erp", "/api/v2.0/companies"))["value"][0]["id"])
        return self.company_id

    async def erp(self, entity: str, filter: str | None = None, *, expand: str | None = None) -> list[dict[str, Any]]:
        """Every row of an ERP collection matching an OData `$filter`, following `@odata.nextLink`."""
        params = {"$filter": filter, "$expand": expand}
        url: str | None = f"/api/v2.0/companies({await self.company()})/{entity}"
        query: dict[str, Any] | None = {k: v for k, v in params.items() if v is not None}
        rows: list[dict[str, Any]] = []
        while url:
            body = await self._get("erp", url, query)
            rows += body["value"]
            url, query = body.get("@odata.nextLink"), None
        return rows

    async def _wms_pages(self, path: str, name: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every row of a cursor-paged WMS list."""
        rows: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            body = await self._get("wms", path, {**params, **({"cursor": cursor} if cursor else {})})
            rows += body[name]
            cursor = body.get("next_cursor")
            if not cursor:
                return rows

    async def inbound_returns(self, rma: str) -> list[dict[str, Any]]:
        """The WMS's inbound returns announced for an RMA."""
        return await self._wms_pages("/v1/inbound-returns", "inbound_returns", {"rma_numbers": rma})

    async def reservations(self, reference: str) -> list[dict[str, Any]]:
        """The WMS's reservations carrying a reference (an RMA or a replacement order's reference)."""
        return await self._wms_pages("/v1/reservations", "reservations", {"reference": reference})

    async def levels(self, sku: str) -> dict[str, dict[str, Any]]:
        """A SKU's stock levels by location id."""
        rows = await self._wms_pages("/v1/inventory-levels", "inventory_levels", {"skus": sku})
        return {row["location_id"]: row for row in rows}

    async def level(self, sku: str, location: str) -> dict[str, Any]:
        """A SKU's stock level at one location (on_hand, reserved, available, …)."""
        return (await self.levels(sku))[location]

    async def locations(self) -> list[str]:
        """Every WMS location id, sorted."""
        return sorted(loc["id"] for loc in (await self._get("wms", "/v1/locations"))["locations"])

    async def comments(self, case: str | int) -> list[dict[str, Any]]:
        """Every comment on a ticket, oldest first, following the cursor."""
        comments: list[dict[str, Any]] = []
        params: dict[str, Any] = {"page[size]": 100}
        while True:
            body = await self._get("servicedesk", f"/api/v2/tickets/{case}/comments.json", params)
            comments += body["comments"]
            if not body["meta"]["has_more"]:
                return comments
            params = {"page[size]": 100, "page[after]": body["meta"]["after_cursor"]}

    async def writes(self, system: str) -> list[dict[str, Any]]:
        """Every write the app accepted, in order: `{method, path, idempotency_key, status}`."""
        return list(await self._get(system, "/_sandbox/writes"))


@dataclass(frozen=True)
class Line:
    """One invoiced line of the delivered order."""

    number: int
    sku: str
    quantity: int
    amount: Decimal  # including tax


@dataclass(frozen=True)
class Facts:
    """The delivered order as the ERP holds it before a test writes anything."""

    order: str
    customer: str
    invoice: str
    invoice_total: Decimal
    lines: dict[int, Line]

    def all_lines(self) -> list[tuple[int, int]]:
        """(line number, quantity) of every line: return the whole order."""
        return [(number, line.quantity) for number, line in sorted(self.lines.items())]


async def delivered_facts(upstreams: Upstreams) -> Facts:
    """Read the delivered order's invoice and lines from the ERP."""
    (invoice,) = await upstreams.erp("salesInvoices", f"orderNumber eq '{DELIVERED}' and status ne 'Canceled'",
                                     expand="salesInvoiceLines")
    lines = {int(row["sequence"]): Line(int(row["sequence"]), row["lineObjectNumber"], int(row["quantity"]),
                                        money(row["amountIncludingTax"]))
             for row in invoice["salesInvoiceLines"]}
    return Facts(order=DELIVERED, customer=invoice["customerNumber"], invoice=invoice["number"],
                 invoice_total=money(invoice["totalAmountIncludingTax"]), lines=lines)


async def stocked_location(upstreams: Upstreams, sku: str, quantity: int = 1) -> str:
    """The location with the most available stock of a SKU (at least `quantity`)."""
    levels = await upstreams.levels(sku)
    best = max(sorted(levels), key=lambda loc: levels[loc]["available"], default=None)
    assert best is not None and levels[best]["available"] >= quantity, f"no location holds {quantity} of {sku}"
    return best


async def short_location(upstreams: Upstreams, sku: str, quantity: int) -> str:
    """A real location with fewer than `quantity` of a SKU available (a stock row preferred)."""
    levels = await upstreams.levels(sku)
    short = [loc for loc in await upstreams.locations() if levels.get(loc, {"available": 0})["available"] < quantity]
    assert short, f"every location holds {quantity} of {sku}"
    return min(short, key=lambda loc: (loc not in levels, loc))


async def foreign_case(upstreams: Upstreams) -> str:
    """A ticket requested by someone other than the delivered order's customer."""
    ada = str(FIXTURES["customer_user_id"])
    tickets = (await upstreams._get("servicedesk", "/api/v2/tickets.json", {"page[size]": 100}))["tickets"]
    return next(str(t["id"]) for t in tickets if str(t["requester_id"]) != ada)


# ── Subscriptions ─────────────────────────────────────────────────────────────────────────

class Socket:
    """A bare in-process ASGI websocket speaking graphql-transport-ws; initialised on entry."""

    def __init__(self, app: Starlette, init: dict[str, Any] | None = None, timeout: float = 30.0) -> None:
        self.app, self.init, self.timeout = app, init or {}, timeout
        self.inbox: asyncio.Queue[MutableMapping[str, Any]] = asyncio.Queue()
        self.outbox: asyncio.Queue[MutableMapping[str, Any]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        scope = {"type": "websocket", "path": "/graphql", "raw_path": b"/graphql", "root_path": "",
                 "scheme": "ws", "query_string": b"", "headers": [(b"host", b"graph")],
                 "subprotocols": [GRAPHQL_TRANSPORT_WS_PROTOCOL], "server": ("graph", 80),
                 "client": ("test", 1), "asgi": {"version": "3.0"}}
        await self.inbox.put({"type": "websocket.connect"})
        self.task = asyncio.create_task(self.app(scope, self.inbox.get, self.outbox.put))
        accepted = await self.receive()
        assert accepted["type"] == "websocket.accept", accepted
        await self.send_json({"type": "connection_init", "payload": self.init})
        ack = await self.receive_json()
        assert ack["type"] == "connection_ack", ack
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.inbox.put({"type": "websocket.disconnect", "code": 1000})
        assert self.task is not None
        try:
            await asyncio.wait_for(self.task, timeout=5)
        except (TimeoutError, asyncio.CancelledError):  # pragma: no cover
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def subscribe(self, query: str, variables: dict[str, Any] | None = None, op_id: str = "1") -> None:
        """Start an operation under `op_id`."""
        await self.send_json({"id": op_id, "type": "subscribe",
                              "payload": {"query": query, "variables": variables or {}}})

    async def send_json(self, message: dict[str, Any]) -> None:
        """Send one protocol message."""
        await self.inbox.put({"type": "websocket.receive", "text": json.dumps(message)})

    async def receive(self) -> dict[str, Any]:
        """The next raw ASGI message from the app."""
        return dict(await asyncio.wait_for(self.outbox.get(), timeout=self.timeout))

    async def receive_json(self) -> dict[str, Any]:
        """The next protocol message (a text frame)."""
        message = await self.receive()
        assert message["type"] == "websocket.send", message
        return dict(json.loads(message["text"]))
