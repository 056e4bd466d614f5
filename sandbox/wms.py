"""WMS sandbox: REST stock levels, shipments, reservations and inbound returns."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.common import (
    BadRequest,
    Result,
    SandboxMiddleware,
    SandboxState,
    control_routes,
    dumps,
    idempotent,
    parse_json,
    route_templates,
)
from sandbox.model import Row, SandboxData, stamp

MAX_SKUS, MAX_ORDER_NUMBERS, MAX_LIMIT = 250, 100, 1000
ERROR_TYPES = {"bad_request": "invalid_request"}
_CURSOR = re.compile(r"[A-Za-z0-9_-]+")
Handler = Callable[[Request, list[Row]], Awaitable[Result]]


def wms_error(status: int, kind: str, message: str) -> Result:
    """The WMS error body: {"error": {"type", "message"}}."""
    return Result(status, {"error": {"type": ERROR_TYPES.get(kind, kind), "message": message}})


def _cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str | None) -> str | None:
    if not cursor:
        return None
    if not _CURSOR.fullmatch(cursor):
        raise BadRequest("The cursor is invalid.")
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("The cursor is invalid.") from None


def _csv(request: Request, name: str, maximum: int, *, required: bool = False) -> list[str] | None:
    raw = request.query_params.get(name)
    if raw is None or not raw.strip():
        if required:
            raise BadRequest(f"'{name}' is required.")
        return None
    values = list(dict.fromkeys(v.strip() for v in raw.split(",") if v.strip()))
    if len(values) > maximum:
        raise BadRequest(f"At most {maximum} values are allowed in '{name}'.")
    return values


def _limit(request: Request, default: int) -> int:
    raw = request.query_params.get("limit", str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise BadRequest(f"'limit' must be between 1 and {MAX_LIMIT}.")
    return int(raw)


def _page(rows: Iterable[tuple[str, Row]], cursor: str | None, limit: int,
          name: str) -> Result:
    """Keyset page over (key, row) pairs sorted by key: no gaps or repeats across pages."""
    after = _decode_cursor(cursor)
    page: list[Row] = []
    last_key, more = "", False
    for key, row in rows:
        if after is not None and key <= after:
            continue
        if len(page) == limit:
            more = True
            break
        page.append(row)
        last_key = key
    return Result(200, {name: page, "next_cursor": _cursor(last_key) if more else None})


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise BadRequest(f"'{name}' must be a positive integer.")
    return value


def _string(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"'{name}' is required and must be a string.")
    return value


class Wms:
    """Handlers over the seeded stock, shipments, reservations and inbound returns."""

    def __init__(self, data: SandboxData, state: SandboxState,
                 clock: Callable[[], datetime]) -> None:
        self.data, self.state, self.clock = data, state, clock
        self.location_ids = {loc["id"] for loc in data.locations}

    def now(self) -> str:
        """The current timestamp."""
        return stamp(self.clock())

    async def locations(self, request: Request, events: list[Row]) -> Result:
        """GET /v1/locations."""
        return Result(200, {"locations": self.data.locations})

    async def inventory_levels(self, request: Request, events: list[Row]) -> Result:
        """GET /v1/inventory-levels: by SKU (≤250) and optionally location."""
        skus = _csv(request, "skus", MAX_SKUS, required=True) or []
        locations = _csv(request, "location_ids", MAX_LIMIT)
        wanted = set(locations) if locations else None
        inventory = self.data.inventory

        def rows() -> Iterable[tuple[str, Row]]:
            for sku in sorted(skus):
                levels = inventory.get(sku, {})
                for location_id in sorted(levels):
                    if wanted is None or location_id in wanted:
                        yield f"{sku}|{location_id}", levels[location_id]

        return _page(rows(), request.query_params.get("cursor"), _limit(request, 250),
                     "inventory_levels")

    async def shipments(self, request: Request, events: list[Row]) -> Result:
        """GET /v1/shipments: by order numbers (≤100), or all, cursor-paged by id."""
        numbers = _csv(request, "order_numbers", MAX_ORDER_NUMBERS)
        if numbers is None:
            ids: Iterable[str] = self.data.shipments
        else:
            by_order = self.data.shipments_by_order
            ids = sorted(i for number in numbers for i in by_order.get(number, []))
        shipments = self.data.shipments
        return _page(((i, shipments[i]) for i in ids), request.query_params.get("cursor"),
                     _limit(request, 100), "shipments")

    async def shipment(self, request: Request, events: list[Row]) -> Result:
        """GET /v1/shipments/{id}."""
        row = self.data.shipments.get(request.path_params["shipment_id"])
        return Result(200, row) if row else wms_error(404, "not_found", "Shipment not found.")

    def level(self, sku: str, location_id: str, *, create: bool = False) -> Row | None:
        """The stock level of a SKU at a location, optionally created empty."""
        levels = self.data.inventory.get(sku)
        if levels is None:
            return None
        if location_id not in levels and create:
            levels[location_id] = {"sku": sku, "location_id": location_id, "on_hand": 0,
                                   "reserved": 0, "available": 0, "incoming": 0, "damaged": 0,
                                   "updated_at": self.now()}
        return levels.get(location_id)

    def changed(self, level: Row, events: list[Row]) -> None:
        """Recompute availability, touch the level and queue a stock-change webhook."""
        level["available"] = level["on_hand"] - level["reserved"]
        level["updated_at"] = self.now()
        events.append({key: level[key] for key in
                       ("sku", "location_id", "on_hand", "reserved", "available")})

    async def reservations(self, request: Request, events: list[Row]) -> Result:
        """GET /v1/reservations?reference=…"""
        reference = request.query_params.get("reference")
        rows = ((i, r) for i, r in self.data.reservations.items()
                if reference is None or r["reference"] == reference)
        return _page(rows, request.query_params.get("cursor"), _limit(request, 250),
                     "reservations")

    async def reservation(self, request: Request, events: list[Row]) -> Result:
        """GET /v1/reservations/{id}."""
        row = self.data.reservations.get(request.path_params["reservation_id"])
        return Result(200, row) if row else wms_error(404, "not_found", "Reservation not found.")

    async def reserve(self, request: Request, events: list[Row]) -> Result:
        """POST /v1/reservations: hold stock, or 409 insufficient_stock with what is available."""
        body = parse_json(await request.body())
        if not isinstance(body, dict):
            raise BadRequest("The request body must be a JSON object.")
        sku, location_id = _string(body, "sku"), _string(body, "location_id")
        quantity, reference = _positive_int(body.get("quantity"), "quantity"), \
            _string(body, "reference")
        if location_id not in self.location_ids:
            raise BadRequest(f"Unknown location '{location_id}'.")
        if sku not in self.data.inventory:
            raise BadRequest(f"Unknown SKU '{sku}'.")
        level = self.level(sku, location_id)
        available = level["available"] if level else 0
        if quantity > available:
            result = wms_error(409, "insufficient_stock",
                               f"Only {available} of {sku} available at {location_id}.")
            result.body["error"]["available"] = available
            return result
        assert level is not None
        reservation_id = f"RSV-{self.data.next_number('reservation'):06d}"
        row = {"id": reservation_id, "sku": sku, "location_id": location_id,
               "quantity": quantity, "reference": reference, "status": "active",
               "created_at": self.now(), "released_at": None}
        self.data.reservations[reservation_id] = row
        level["reserved"] += quantity
        self.changed(level, events)
        return Result(201, row)

    async def release(self, request: Request, events: list[Row]) -> Result:
        """DELETE /v1/reservations/{id}: release the stock; releasing twice is a no-op."""
        row = self.data.reservations.get(request.path_params["reservation_id"])
        if row is None:
            return wms_error(404, "not_found", "Reservation not found.")
        if row["status"] == "active":
            row.update(status="released", released_at=self.now())
            level = self.level(row["sku"], row["location_id"])
            if level is not None:
                level["reserved"] = max(0, level["reserved"] - row["quantity"])
                self.changed(level, events)
        return Result(200, row)

    async def inbound_returns(self, request: Request, events: list[Row]) -> Result:
        """GET /v1/inbound-returns?rma_numbers=… (or order_numbers=…)."""
        rmas = _csv(request, "rma_numbers", MAX_ORDER_NUMBERS)
        orders = _csv(request, "order_numbers", MAX_ORDER_NUMBERS)
        rows = ((i, r) for i, r in self.data.inbound_returns.items()
                if (rmas is None or r["rma_number"] in rmas)
                and (orders is None or r["order_number"] in orders))
        return _page(rows, request.query_params.get("cursor"), _limit(request, 250),
                     "inbound_returns")

    async def inbound_return(self, request: Request, events: list[Row]) -> Result:
        """GET /v1/inbound-returns/{id}."""
        row = self.data.inbound_returns.get(request.path_params["inbound_id"])
        return Result(200, row) if row else wms_error(404, "not_found", "Inbound return not found.")

    async def expect_return(self, request: Request, events: list[Row]) -> Result:
        """POST /v1/inbound-returns: announce goods coming back for an RMA."""
        body = parse_json(await request.body())
        if not isinstance(body, dict):
            raise BadRequest("The request body must be a JSON object.")
        rma, order, location_id = (_string(body, "rma_number"), _string(body, "order_number"),
                                   _string(body, "location_id"))
        if location_id not in self.location_ids:
            raise BadRequest(f"Unknown location '{location_id}'.")
        lines = body.get("lines")
        if not isinstance(lines, list) or not lines or \
                not all(isinstance(line, dict) for line in lines):
            raise BadRequest("'lines' must be a non-empty list of {sku, quantity}.")
        clean = [{"sku": _string(line, "sku"), "quantity": _positive_int(line.get("quantity"),
                                                                       "quantity")}
                 for line in lines]
        if any(r["rma_number"] == rma and r["status"] != "cancelled"
               for r in self.data.inbound_returns.values()):
            return wms_error(409, "conflict", f"An inbound return for {rma} already exists.")
        inbound_id = f"IBR-{self.data.next_number('inbound'):06d}"
        row = {"id": inbound_id, "rma_number": rma, "order_number": order,
               "location_id": location_id, "status": "expected", "lines": clean,
               "created_at": self.now(), "received_at": None}
        self.data.inbound_returns[inbound_id] = row
        return Result(201, row)

    async def cancel_return(self, request: Request, events: list[Row]) -> Result:
        """POST /v1/inbound-returns/{id}/cancel (idempotent; refused once received)."""
        row = self.data.inbound_returns.get(request.path_params["inbound_id"])
        if row is None:
            return wms_error(404, "not_found", "Inbound return not found.")
        if row["status"] == "received":
            return wms_error(409, "invalid_state", f"{row['id']} has already been received.")
        row["status"] = "cancelled"
        return Result(200, row)

    async def receive_return(self, request: Request, events: list[Row]) -> Result:
        """POST /v1/inbound-returns/{id}/receive: the goods arrive and on_hand grows."""
        row = self.data.inbound_returns.get(request.path_params["inbound_id"])
        if row is None:
            return wms_error(404, "not_found", "Inbound return not found.")
        if row["status"] == "cancelled":
            return wms_error(409, "invalid_state", f"{row['id']} was cancelled.")
        if row["status"] == "expected":
            row.update(status="received", received_at=self.now())
            for line in row["lines"]:
                self.data.inventory.setdefault(line["sku"], {})
                level = self.level(line["sku"], row["location_id"], create=True)
                assert level is not None
                level["on_hand"] += line["quantity"]
                self.changed(level, events)
        return Result(200, row)


def create_app(data: SandboxData, *, token: str = "sandbox-token",
               rate_limit: int = 1_000_000, rate_window_seconds: float = 60.0,
               webhook_url: str | None = None, webhook_secret: str = "sandbox-webhook-secret",
               webhook_transport: httpx.AsyncBaseTransport | None = None,
               clock: Callable[[], datetime] | None = None) -> Starlette:
    """The WMS sandbox app; stock changes are POSTed to webhook_url when given."""
    state = SandboxState(token=token, seed=data.seed + 1, error=wms_error,
                         rate_limit=rate_limit, rate_window_seconds=rate_window_seconds)
    wms = Wms(data, state, clock or (lambda: datetime.now(UTC).replace(tzinfo=None)))

    async def deliver(events: list[Row]) -> None:
        async with httpx.AsyncClient(transport=webhook_transport, timeout=5.0) as client:
            for event in events:
                # An event id and time let the receiver refuse replays (signed: in the body).
                body = dumps({"id": f"evt_{uuid.uuid4().hex}", "type": "inventory_level.updated",
                              "created_at": wms.now(), "data": event})
                signature = hmac.new(webhook_secret.encode(), body, hashlib.sha256).hexdigest()
                try:
                    await client.post(webhook_url or "", content=body, headers={
                        "Content-Type": "application/json",
                        "X-Signature": f"sha256={signature}"})
                except httpx.HTTPError:
                    pass  # webhooks are best effort; a consumer catches up by reading

    def endpoint(handler: Handler, *,
                 write: bool = False) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            events: list[Row] = []
            try:
                if write:
                    body = await request.body()
                    headers = {k.lower(): v for k, v in request.headers.items()}
                    query = request.url.query
                    target = request.url.path + (f"?{query}" if query else "")
                    result = await idempotent(state, request.method, request.url.path, target,
                                              headers, body, lambda: handler(request, events))
                else:
                    result = await handler(request, events)
            except BadRequest as exc:
                result = wms_error(400, "bad_request", str(exc))
            response = result.response()
            if events and webhook_url:
                response.background = BackgroundTask(deliver, events)
            return response
        return run

    api = [
        Route("/v1/locations", endpoint(wms.locations), methods=["GET"]),
        Route("/v1/inventory-levels", endpoint(wms.inventory_levels), methods=["GET"]),
        Route("/v1/shipments", endpoint(wms.shipments), methods=["GET"]),
        Route("/v1/shipments/{shipment_id}", endpoint(wms.shipment), methods=["GET"]),
        Route("/v1/reservations", endpoint(wms.reservations), methods=["GET"]),
        Route("/v1/reservations", endpoint(wms.reserve, write=True), methods=["POST"]),
        Route("/v1/reservations/{reservation_id}", endpoint(wms.reservation), methods=["GET"]),
        Route("/v1/reservations/{reservation_id}", endpoint(wms.release, write=True),
              methods=["DELETE"]),
        Route("/v1/inbound-returns", endpoint(wms.inbound_returns), methods=["GET"]),
        Route("/v1/inbound-returns", endpoint(wms.expect_return, write=True), methods=["POST"]),
        Route("/v1/inbound-returns/{inbound_id}", endpoint(wms.inbound_return), methods=["GET"]),
        Route("/v1/inbound-returns/{inbound_id}/cancel", endpoint(wms.cancel_return, write=True),
              methods=["POST"]),
        Route("/v1/inbound-returns/{inbound_id}/receive",
              endpoint(wms.receive_return, write=True), methods=["POST"]),
    ]
    app = Starlette(routes=[*control_routes(state), *api])
    app.state.sandbox = state
    app.add_middleware(SandboxMiddleware, state=state, template_for=route_templates(api))
    return app
