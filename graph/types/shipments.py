"""Shipment: the WMS's record of goods leaving a location for a customer."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Self

import strawberry
from strawberry import relay

from graph.context import GraphInfo
from graph.types import inventory as inventory_types
from graph.types import orders as order_types
from graph.types.enums import ShipmentStatus
from resolvers import inventory as inventory_resolvers
from resolvers import orders as order_resolvers
from sources import records

if TYPE_CHECKING:
    from graph.types.inventory import Location
    from graph.types.orders import Order, OrderLine

__all__ = ["Shipment", "ShipmentLine", "ShipmentStatus"]

OrderRef = Annotated["Order", strawberry.lazy("graph.types.orders")]
OrderLineRef = Annotated["OrderLine", strawberry.lazy("graph.types.orders")]
LocationRef = Annotated["Location", strawberry.lazy("graph.types.inventory")]


@strawberry.type(description="Units of one order line in a shipment.")
class ShipmentLine:
    """Units of one order line in a shipment."""

    order_number: strawberry.Private[str]
    order_line_number: strawberry.Private[int | None]
    sku: str = strawberry.field(description="The SKU shipped.")
    quantity: int = strawberry.field(description="Units shipped.")

    @strawberry.field(
        description="The order line shipped; null when the WMS did not say which line."
    )
    async def order_line(self, info: GraphInfo) -> OrderLineRef | None:
        if self.order_line_number is None:
            return None
        found = await order_resolvers.resolve_order_line(
            info.context.loaders, self.order_number, self.order_line_number
        )
        return None if found is None else order_types.OrderLine.from_record(*found)


@strawberry.type(
    description="A WMS shipment of (part of) an order. Id key: `<order number>:<shipment id>`."
)
class Shipment(relay.Node):
    """A WMS shipment."""

    record: strawberry.Private[records.Shipment]
    shipment_id: str = strawberry.field(description="The WMS's shipment id, e.g. SHP-000123.")
    carrier: str | None = strawberry.field(description="Carrier: DPD, Royal Mail, UPS, DHL, …")
    tracking_number: str | None = strawberry.field(description="The carrier's tracking number.")
    status: ShipmentStatus = strawberry.field(description="Canonical shipment status.")
    source_status: str = strawberry.field(
        description="The shipment status exactly as the WMS reports it (picking, in_transit, …)."
    )
    shipped_at: datetime | None = strawberry.field(description="When it left the location.")
    delivered_at: datetime | None = strawberry.field(description="When the carrier delivered it.")
    lines: list[ShipmentLine] = strawberry.field(description="What the shipment holds.")

    @classmethod
    def resolve_id(cls, root: Self, *, info: strawberry.Info) -> str:
        """The natural key behind the global id."""
        return f"{root.record.order_number}:{root.shipment_id}"

    @classmethod
    def from_record(cls, record: records.Shipment) -> Shipment:
        """Wrap a canonical shipment."""
        return cls(
            record=record,
            shipment_id=record.id,
            carrier=record.carrier,
            tracking_number=record.tracking_number,
            status=record.status,
            source_status=record.source_status,
            shipped_at=record.shipped_at,
            delivered_at=record.delivered_at,
            lines=[
                ShipmentLine(
                    order_number=record.order_number,
                    order_line_number=line.order_line_number,
                    sku=line.sku,
                    quantity=line.quantity,
                )
                for line in record.lines
            ],
        )

    @strawberry.field(description="The order shipped.")
    async def order(self, info: GraphInfo) -> OrderRef | None:
        found = await order_resolvers.resolve_order(info.context.loaders, self.record.order_number)
        return None if found is None else order_types.Order.from_record(found)

    @strawberry.field(description="The warehouse or store it left from.")
    async def location(self, info: GraphInfo) -> LocationRef | None:
        if self.record.location_id is None:
            return None
        found = await inventory_resolvers.resolve_location(
            info.context.loaders, self.record.location_id
        )
        return None if found is None else inventory_types.Location.from_record(found)
