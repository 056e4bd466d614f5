"""WmsClient: stock levels, locations and shipments from the warehouse system's REST API.

Bulk reads pack up to 250 SKUs (100 order numbers) per request, follow `next_cursor`, and
run the chunks of one logical read concurrently. Inventory is cached per SKU for seconds
only: stock is the fastest-moving truth in the graph, and webhooks invalidate it sooner.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from . import statuses
from .http import HttpSource
from .records import InventoryLevel, Location, LocationKind, Shipment, ShipmentLine

T = TypeVar("T")
MAX_SKUS = 250
MAX_ORDER_NUMBERS = 100
MAX_PAGE = 1000
_KINDS = {"warehouse": LocationKind.WAREHOUSE, "store": LocationKind.STORE}


def _timestamp(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value)) if value else None


def _shipped_order(item: Shipment) -> tuple[bool, float, str]:
    """Sort key: shipped first, by time, unshipped last."""
    when = item.shipped_at
    return when is None, when.timestamp() if when else 0.0, item.id


def location(raw: Mapping[str, Any]) -> Location:
    """A `/v1/locations` entry."""
    kind = str(raw["type"]).lower()
    if kind not in _KINDS:
        raise ValueError(f"unknown location type {raw['type']!r}")
    return Location(
        id=raw["id"],
        code=raw["code"],
        name=raw["name"],
        kind=_KINDS[kind],
        region=raw.get("region"),
    )


def inventory_level(raw: Mapping[str, Any]) -> InventoryLevel:
    """A `/v1/inventory-levels` entry."""
    return InventoryLevel(
        sku=raw["sku"],
        location_id=raw["location_id"],
        on_hand=int(raw["on_hand"]),
        reserved=int(raw["reserved"]),
        available=int(raw["available"]),
        incoming=int(raw.get("incoming") or 0),
        damaged=int(raw.get("damaged") or 0),
        updated_at=_timestamp(raw.get("updated_at")),
    )


def shipment(raw: Mapping[str, Any]) -> Shipment:
    """A `/v1/shipments` entry."""
    return Shipment(
        id=raw["id"],
        order_number=raw["order_number"],
        carrier=raw.get("carrier"),
        tracking_number=raw.get("tracking_number"),
        status=statuses.shipment_status(raw["status"]),
        source_status=raw["status"],
        location_id=raw.get("location_id"),
        shipped_at=_timestamp(raw.get("shipped_at")),
        delivered_at=_timestamp(raw.get("delivered_at")),
        lines=tuple(
            ShipmentLine(
                sku=line["sku"],
                quantity=int(line["quantity"]),
                order_line_number=(
                    None
                    if line.get("order_line_sequence") is None
                    else int(line["order_line_sequence"])
                ),
            )
            for line in raw.get("lines") or ()
        ),
    )


class WmsClient(HttpSource):
    """Typed async reads of WMS locations, inventory levels and shipments."""

    source = "wms"
    CACHE_FAMILIES = {"locations": "locations", "inventory": "inventory", "shipments": "shipments"}

    async def locations(self) -> list[Location]:
        """Every stock location (cached for minutes: locations rarely change)."""
        async def fetch(keys: list[str]) -> dict[str, tuple[Location, ...]]:
            body = await self._request_json("GET", "/v1/locations", route="GET locations")
            return {"all": tuple(self._each(body, "locations", location, "location"))}

        found = await self._load("locations", ["all"], fetch)
        return list(found["all"])

    async def inventory_levels(
        self, skus: Sequence[str], location_ids: Sequence[str] | None = None
    ) -> dict[str, list[InventoryLevel]]:
        """Stock per SKU at every location (or only `location_ids`); every SKU key present.

        Levels are fetched and cached per SKU across all locations and filtered here, so a
        read narrowed to a few stores and a full read share one cache entry.
        """
        async def fetch(keys: list[str]) -> dict[str, tuple[InventoryLevel, ...]]:
            size = max(1, min(self.config.max_batch, MAX_SKUS))
            chunks = [keys[i:i + size] for i in range(0, len(keys), size)]
            pages = await asyncio.gather(
                *(
                    self._paged(
                        "/v1/inventory-levels",
                        {"skus": ",".join(chunk)},
                        "inventory_levels",
                        inventory_level,
                        "inventory level",
                    )
                    for chunk in chunks
                )
            )
            grouped: dict[str, list[InventoryLevel]] = {}
            for level in (level for page in pages for level in page):
                grouped.setdefault(level.sku, []).append(level)
            return {
                sku: tuple(sorted(g, key=lambda lv: lv.location_id)) for sku, g in grouped.items()
            }

        found = await self._load("inventory", skus, fetch, many=True)
        wanted = None if location_ids is None else set(location_ids)
        return {
            sku: [lv for lv in levels if wanted is None or lv.location_id in wanted]
            for sku, levels in found.items()
        }

    async def shipments_by_order_numbers(
        self, numbers: Sequence[str]
    ) -> dict[str, list[Shipment]]:
        """Each order's shipments, oldest first (every key present)."""
        async def fetch(keys: list[str]) -> dict[str, tuple[Shipment, ...]]:
            step = MAX_ORDER_NUMBERS
            chunks = [keys[i:i + step] for i in range(0, len(keys), step)]
            pages = await asyncio.gather(
                *(
                    self._paged(
                        "/v1/shipments",
                        {"order_numbers": ",".join(chunk)},
                        "shipments",
                        shipment,
                        "shipment",
                    )
                    for chunk in chunks
                )
            )
            grouped: dict[str, list[Shipment]] = {}
            for item in (s for page in pages for s in page):
                grouped.setdefault(item.order_number, []).append(item)
            return {number: tuple(sorted(g, key=_shipped_order)) for number, g in grouped.items()}

        found = await self._load("shipments", numbers, fetch, many=True)
        return {number: list(value) for number, value in found.items()}

    async def _paged(
        self,
        path: str,
        params: Mapping[str, str],
        field: str,
        translate: Callable[[Mapping[str, Any]], T],
        what: str,
    ) -> list[T]:
        """Every item of a cursor-paginated listing."""
        items: list[T] = []
        cursor: str | None = None
        limit = str(max(1, min(self.config.page_size, MAX_PAGE)))
        while True:
            query = {**params, "limit": limit}
            if cursor:
                query["cursor"] = cursor
            body = await self._request_json("GET", path, params=query, route=f"GET {path}")
            items.extend(self._each(body, field, translate, what))
            cursor = body.get("next_cursor") if isinstance(body, dict) else None
            if not cursor:
                return items

    def _each(
        self, body: Any, field: str, translate: Callable[[Mapping[str, Any]], T], what: str
    ) -> list[T]:
        """Translate the list under `field`; anything off-shape is a malformed upstream."""
        try:
            return [translate(raw) for raw in body[field]]
        except (KeyError, TypeError, ValueError) as exc:
            raise self._malformed(what, exc) from exc
