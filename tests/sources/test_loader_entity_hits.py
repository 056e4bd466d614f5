"""Loaders answer fresh entity-cache hits at once: no batch, no task, no upstream call."""

from __future__ import annotations

from typing import Any

from resolvers.loaders import Loaders
from sandbox.seed import FIXTURES
from sources import Sources

ADA = FIXTURES["customer"]


async def test_a_fresh_hit_is_answered_at_load_and_a_miss_is_batched(
    sources: Sources, recorders: dict[str, Any], clock: Any
) -> None:
    first = Loaders(sources)
    future = first.orders_by_customer_number.load(ADA)
    assert not future.done()  # nothing cached yet: queued for the tick's batch
    orders = await future
    assert first.batch_counts() == {"orders_by_customer_number": 1}
    calls = sum(len(r.requests) for r in recorders.values())

    second = Loaders(sources)  # the next request
    hit = second.orders_by_customer_number.load(ADA)
    assert hit.done() and hit.result() == orders and isinstance(hit.result(), list)
    # what the customer's documents primed (sources/erp.py) answers at once too
    returns = second.returns_by_order_number.load(orders[0].number)
    assert returns.done()
    assert second.batch_counts() == {}
    assert sum(len(r.requests) for r in recorders.values()) == calls

    clock.now += 3600  # every TTL has passed: back to the batch and the upstream
    third = Loaders(sources)
    stale = third.orders_by_customer_number.load(ADA)
    assert not stale.done()
    assert await stale == orders
    assert third.batch_counts() == {"orders_by_customer_number": 1}
    assert sum(len(r.requests) for r in recorders.values()) > calls


async def test_an_invalidated_entity_is_read_again(sources: Sources) -> None:
    await Loaders(sources).product_by_sku.load("SKU-00001")
    assert Loaders(sources).product_by_sku.load("SKU-00001").done()
    sources.erp.invalidate("product", ["SKU-00001"])
    assert not Loaders(sources).product_by_sku.load("SKU-00001").done()


async def test_without_batching_every_load_is_its_own_call(sources: Sources) -> None:
    await Loaders(sources).product_by_sku.load("SKU-00002")
    assert not Loaders(sources, batching=False).product_by_sku.load("SKU-00002").done()
