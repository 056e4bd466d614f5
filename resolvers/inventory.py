"""Product, location and stock resolvers (ERP catalogue, WMS stock truth)."""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Sequence

from sources.records import InventoryLevel, Location, Product

from .loaders import Loaders
from .prefetch import now_or_later


async def resolve_product(loaders: Loaders, sku: str) -> Product | None:
    """An item by SKU; None when unknown."""
    return await loaders.product_by_sku.load(sku.strip())


async def resolve_location(loaders: Loaders, location_id: str) -> Location | None:
    """A WMS location by id; None when unknown."""
    return await loaders.location_by_id.load(location_id)


async def resolve_inventory(
    loaders: Loaders, skus: Sequence[str], location_ids: Collection[str] | None = None
) -> list[InventoryLevel]:
    """Stock of each SKU at each (or each given) location, in SKU order then location id."""
    wanted = list(dict.fromkeys(sku.strip() for sku in skus))
    per_sku = await asyncio.gather(*(loaders.inventory_levels_by_sku.load(s) for s in wanted))
    levels: list[InventoryLevel] = []
    for sku_levels in per_sku:
        chosen = [lv for lv in sku_levels if location_ids is None or lv.location_id in location_ids]
        levels.extend(sorted(chosen, key=lambda lv: lv.location_id))
    return levels


async def preload_locations(loaders: Loaders, levels: Sequence[InventoryLevel]) -> None:
    """Load the levels' locations together, so each level's `location` answers at once."""
    ids = dict.fromkeys(level.location_id for level in levels)
    await asyncio.gather(*(loaders.location_by_id.load(i) for i in ids), return_exceptions=True)


def resolve_total_available(loaders: Loaders, sku: str) -> int:
    """Units available to promise across every location (now or later: resolvers/prefetch.py)."""
    return now_or_later(
        loaders.inventory_levels_by_sku.load(sku),
        lambda levels: sum(max(0, level.available) for level in levels),
    )


def resolve_product_now(loaders: Loaders, sku: str) -> Product | None:
    """An item by SKU, now when already loaded (resolvers/prefetch.py), else later."""
    return now_or_later(loaders.product_by_sku.load(sku.strip()), lambda product: product)


def resolve_location_now(loaders: Loaders, location_id: str) -> Location | None:
    """A WMS location by id, now when already loaded, else later."""
    return now_or_later(loaders.location_by_id.load(location_id), lambda location: location)
