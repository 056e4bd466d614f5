"""Shipment resolvers; a shipment is found through its order (the WMS lists them by order)."""

from __future__ import annotations

from sources.records import Shipment

from .loaders import Loaders
from .prefetch import now_or_later


def resolve_order_shipments(loaders: Loaders, order_number: str) -> list[Shipment]:
    """The WMS shipments of an order (now or later: see resolvers/prefetch.py)."""
    return now_or_later(loaders.shipments_by_order_number.load(order_number), list)


async def resolve_shipment(
    loaders: Loaders, order_number: str, shipment_id: str
) -> Shipment | None:
    """One shipment of an order; None when either is unknown."""
    shipments = await loaders.shipments_by_order_number.load(order_number)
    return next((s for s in shipments if s.id == shipment_id), None)
