"""WmsWrites: stock reservations and expected inbound returns, on the WMS client's pool.

Writes carry the caller's `Idempotency-Key` (the WMS replays the first response). Short
stock is a `SourceConflict` with code `insufficient_stock` and the available quantity in
its message, so callers can tell it from an outage. Reservations and inbound returns move
stock figures, so the SKU's cached inventory is dropped after each write.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from .errors import SourceNotFound
from .wms import WmsClient

T = TypeVar("T")
INSUFFICIENT_STOCK = "insufficient_stock"


@dataclass(frozen=True, slots=True)
class Reservation:
    """Stock held at a location for a reference (a replacement, an order)."""

    id: str
    sku: str
    location_id: str
    quantity: int
    reference: str | None
    status: str
    created_at: datetime | None


@dataclass(frozen=True, slots=True)
class InboundReturnLine:
    """One SKU expected back."""

    sku: str
    quantity: int


@dataclass(frozen=True, slots=True)
class InboundReturn:
    """Goods the warehouse expects back for a return (RMA)."""

    id: str
    rma_number: str
    order_number: str | None
    location_id: str
    status: str
    lines: tuple[InboundReturnLine, ...]


def _timestamp(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value)) if value else None


def reservation(raw: Mapping[str, Any]) -> Reservation:
    """A `/v1/reservations` entry."""
    return Reservation(
        id=raw["id"],
        sku=raw["sku"],
        location_id=raw["location_id"],
        quantity=int(raw["quantity"]),
        reference=raw.get("reference"),
        status=raw["status"],
        created_at=_timestamp(raw.get("created_at")),
    )


def inbound_return(raw: Mapping[str, Any]) -> InboundReturn:
    """A `/v1/inbound-returns` entry."""
    return InboundReturn(
        id=raw["id"],
        rma_number=raw["rma_number"],
        order_number=raw.get("order_number"),
        location_id=raw["location_id"],
        status=raw["status"],
        lines=tuple(InboundReturnLine(l["sku"], int(l["quantity"])) for l in raw.get("lines") or ()),
    )


class WmsWrites:
    """Typed async writes of reservations and inbound returns."""

    def __init__(self, client: WmsClient) -> None:
        self._wms = client

    async def reserve(
        self, *, sku: str, location_id: str, quantity: int, reference: str, idempotency_key: str
    ) -> Reservation:
        """Hold stock; short stock raises SourceConflict(code="insufficient_stock")."""
        raw = await self._wms._request_json(
            "POST", "/v1/reservations",
            json={"sku": sku, "location_id": location_id, "quantity": quantity, "reference": reference},
            headers={"Idempotency-Key": idempotency_key}, route="POST /v1/reservations",
        )
        self._wms.invalidate("inventory", [sku])
        return self._one(reservation, raw, "reservation")

    async def release(self, reservation_id: str, *, sku: str | None = None, idempotency_key: str) -> None:
        """Release a reservation; one already released or gone counts as released."""
        try:
            await self._wms._request_json(
                "DELETE", f"/v1/reservations/{reservation_id}",
                headers={"Idempotency-Key": idempotency_key}, route="DELETE /v1/reservations/{id}",
            )
        except SourceNotFound:
            pass
        if sku is not None:
            self._wms.invalidate("inventory", [sku])
        else:
            self._wms.invalidate("inventory")

    async def reservations(self, reference: str) -> list[Reservation]:
        """Reservations made for a reference, any status."""
        body = await self._wms._request_json(
            "GET", "/v1/reservations", params={"reference": reference}, route="GET /v1/reservations"
        )
        return [self._one(reservation, raw, "reservation") for raw in self._list(body, "reservations")]

    async def expect_return(
        self,
        *,
        rma_number: str,
        order_number: str,
        location_id: str,
        lines: Sequence[InboundReturnLine],
        idempotency_key: str,
    ) -> InboundReturn:
        """Announce goods coming back for an RMA."""
        raw = await self._wms._request_json(
            "POST", "/v1/inbound-returns",
            json={"rma_number": rma_number, "order_number": order_number, "location_id": location_id,
                  "lines": [{"sku": line.sku, "quantity": line.quantity} for line in lines]},
            headers={"Idempotency-Key": idempotency_key}, route="POST /v1/inbound-returns",
        )
        self._wms.invalidate("inventory", [line.sku for line in lines])
        return self._one(inbound_return, raw, "inbound return")

    async def cancel_return(self, inbound_id: str, *, idempotency_key: str) -> InboundReturn:
        """Stop expecting an inbound return."""
        raw = await self._wms._request_json(
            "POST", f"/v1/inbound-returns/{inbound_id}/cancel",
            headers={"Idempotency-Key": idempotency_key}, route="POST /v1/inbound-returns/{id}/cancel",
        )
        found = self._one(inbound_return, raw, "inbound return")
        self._wms.invalidate("inventory", [line.sku for line in found.lines])
        return found

    async def inbound_returns(self, rma_numbers: Sequence[str]) -> dict[str, list[InboundReturn]]:
        """Inbound returns of each RMA (every key present)."""
        body = await self._wms._request_json(
            "GET", "/v1/inbound-returns", params={"rma_numbers": ",".join(rma_numbers)},
            route="GET /v1/inbound-returns",
        )
        found: dict[str, list[InboundReturn]] = {number: [] for number in rma_numbers}
        for raw in self._list(body, "inbound_returns"):
            item = self._one(inbound_return, raw, "inbound return")
            found.setdefault(item.rma_number, []).append(item)
        return found

    def _list(self, body: Any, field: str) -> list[Any]:
        value = body.get(field) if isinstance(body, dict) else None
        if not isinstance(value, list):
            raise self._wms._malformed(f"{field} response", TypeError(f"no {field!r} list"))
        return value

    def _one(self, translate: Callable[[Mapping[str, Any]], T], raw: Any, what: str) -> T:
        try:
            return translate(raw)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._wms._malformed(what, exc) from exc
