"""Subscriptions over the in-process event bus: workflow progress, case updates, stock changes.

The orchestrator publishes `workflow:<id>` on every journal change, `case:<id>` when it writes
to a case and `inventory:<sku>` when it reserves or expects stock; source webhooks
(graph/webhooks.py) publish on the same topics. With Redis the bus is relayed between
replicas (graph/scaleout.py), so a subscriber hears changes made through any replica.
Whoever published has already invalidated everywhere; a subscriber drops only its own
process's copy before re-reading, rather than broadcasting once per subscriber.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry

from graph.context import GraphInfo
from graph.mutations.common import orchestrator, workflow_type
from graph.types.cases import Case
from graph.types.common import decode_global_id
from graph.types.inventory import InventoryLevel
from graph.types.workflows import Workflow

MAX_SKUS = 250


@strawberry.type(description="Live updates: workflow progress, case changes and stock movements.")
class Subscription:
    """The subscription root."""

    @strawberry.subscription(
        description="The workflow now, then again after every change, until it is final "
        "(COMPLETED, FAILED, COMPENSATED or CANCELLED). Ends at once for unknown ids."
    )
    async def workflow_updated(
        self,
        info: GraphInfo,
        id: Annotated[strawberry.ID, strawberry.argument(description="The workflow's global id.")],
    ) -> AsyncGenerator[Workflow, None]:
        workflow_id = decode_global_id(id, "Workflow")[1]
        async for record in orchestrator(info).follow(workflow_id):
            yield workflow_type(record)  # type: ignore[misc]

    @strawberry.subscription(description="The case each time retailgraph (or a webhook) changes it.")
    async def case_updated(
        self,
        info: GraphInfo,
        id: Annotated[strawberry.ID, strawberry.argument(description="The case's global id.")],
    ) -> AsyncGenerator[Case, None]:
        key = decode_global_id(id, "Case")[1]
        desk = info.context.sources.servicedesk
        async with orchestrator(info).bus.subscribe([f"case:{key}"]) as changes:
            while True:
                await changes.get()
                desk.drop_local("case", [int(key)])
                found = (await desk.cases_by_ids([int(key)])).get(int(key))
                if found is not None:
                    yield Case.from_record(found)

    @strawberry.subscription(
        description="The stock levels of a SKU (every location) each time its stock moves."
    )
    async def inventory_changed(
        self,
        info: GraphInfo,
        skus: Annotated[list[str], strawberry.argument(description=f"SKUs to watch (at most {MAX_SKUS}).")],
    ) -> AsyncGenerator[list[InventoryLevel], None]:
        wanted = list(dict.fromkeys(sku.strip() for sku in skus))[:MAX_SKUS]
        wms = info.context.sources.wms
        async with orchestrator(info).bus.subscribe([f"inventory:{sku}" for sku in wanted]) as changes:
            while True:
                message = await changes.get()
                sku = message.topic.split(":", 1)[1]
                wms.drop_local("inventory", [sku])
                levels = (await wms.inventory_levels([sku])).get(sku, [])
                yield [InventoryLevel.from_record(level) for level in levels]
