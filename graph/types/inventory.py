"""Product, Location and InventoryLevel: the ERP catalogue and the WMS's stock truth."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self

import strawberry
from strawberry import relay

from graph.context import GraphInfo
from graph.types.common import Money, decode_global_id
from graph.types.enums import LocationKind
from resolvers import inventory as inventory_resolvers
from resolvers.prefetch import and_then
from sources import records

__all__ = ["InventoryLevel", "Location", "LocationIds", "LocationKind", "Product"]

LocationIds = Annotated[
    list[strawberry.ID] | None,
    strawberry.argument(
        description="Only these locations (Location ids); every location if omitted."
    ),
]


def location_keys(location_ids: list[strawberry.ID] | None) -> set[str] | None:
    """WMS location ids from Location global ids (BAD_USER_INPUT for anything else)."""
    if location_ids is None:
        return None
    return {decode_global_id(value, "Location")[1] for value in location_ids}


@strawberry.type(description="A WMS location: a warehouse or a store. Id key: the WMS location id.")
class Location(relay.Node):
    """A WMS location."""

    location_id: str = strawberry.field(description="The WMS's location id, e.g. LOC-01.")
    code: str = strawberry.field(description="Short code, e.g. DC-NORTH.")
    name: str = strawberry.field(description="Display name.")
    kind: LocationKind = strawberry.field(description="Warehouse or store.")
    region: str | None = strawberry.field(description="Region the location serves.")

    @classmethod
    def resolve_id(cls, root: Self, *, info: strawberry.Info) -> str:
        """The natural key behind the global id."""
        return root.location_id

    @classmethod
    def from_record(cls, record: records.Location) -> Location:
        """Wrap a canonical location."""
        return cls(
            location_id=record.id,
            code=record.code,
            name=record.name,
            kind=record.kind,
            region=record.region,
        )


@strawberry.type(description="Stock of one SKU at one location, as the WMS reports it.")
class InventoryLevel:
    """Stock of one SKU at one location."""

    location_id: strawberry.Private[str]
    sku: str = strawberry.field(description="The SKU.")
    on_hand: int = strawberry.field(description="Units physically at the location.")
    reserved: int = strawberry.field(description="Units promised to orders or replacements.")
    available: int = strawberry.field(description="Units free to promise: on hand − reserved.")
    incoming: int = strawberry.field(description="Units expected in (transfers, returns).")
    damaged: int = strawberry.field(description="Units damaged and not sellable.")
    updated_at: datetime | None = strawberry.field(description="When the WMS last changed it.")

    @classmethod
    def from_record(cls, record: records.InventoryLevel) -> InventoryLevel:
        """Wrap a canonical inventory level."""
        return cls(
            location_id=record.location_id,
            sku=record.sku,
            on_hand=record.on_hand,
            reserved=record.reserved,
            available=record.available,
            incoming=record.incoming,
            damaged=record.damaged,
            updated_at=record.updated_at,
        )

    @strawberry.field(description="Where the stock is; null if the WMS no longer lists it.")
    def location(self, info: GraphInfo) -> Location | None:
        return and_then(
            inventory_resolvers.resolve_location_now(info.context.loaders, self.location_id),
            lambda found: None if found is None else Location.from_record(found),
        )


@strawberry.type(
    description="A catalogue item from the ERP; stock comes from the WMS. Id key: the SKU."
)
class Product(relay.Node):
    """A catalogue item."""

    record: strawberry.Private[records.Product]
    sku: str = strawberry.field(description="Stock-keeping unit, e.g. SKU-00001.")
    name: str = strawberry.field(description="Display name.")
    item_type: str = strawberry.field(
        description="ERP item type: Inventory, Service, Non-Inventory."
    )
    category: str | None = strawberry.field(description="ERP item category code.")
    unit_price: Money = strawberry.field(description="List price of one unit before tax.")
    blocked: bool = strawberry.field(description="True when the ERP blocks selling the item.")

    @classmethod
    def resolve_id(cls, root: Self, *, info: strawberry.Info) -> str:
        """The natural key behind the global id."""
        return root.sku

    @classmethod
    def from_record(cls, record: records.Product) -> Product:
        """Wrap a canonical product."""
        return cls(
            record=record,
            sku=record.sku,
            name=record.name,
            item_type=record.item_type,
            category=record.category,
            unit_price=Money.from_record(record.unit_price),
            blocked=record.blocked,
        )

    @strawberry.field(description="Stock per location from the WMS, ordered by location id.")
    async def inventory(
        self, info: GraphInfo, location_ids: LocationIds = None
    ) -> list[InventoryLevel] | None:
        wanted = location_keys(location_ids)
        found = await inventory_resolvers.resolve_inventory(
            info.context.loaders, [self.sku], wanted
        )
        return [InventoryLevel.from_record(level) for level in found]

    @strawberry.field(description="Units available to promise across every location (WMS).")
    def total_available(self, info: GraphInfo) -> int | None:
        return inventory_resolvers.resolve_total_available(info.context.loaders, self.sku)
