"""Lookahead and preloading: which reads start early, and answers that need no await."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from fake_sources import FakeSources, build_dataset

from resolvers.loaders import Loaders
from resolvers.prefetch import (
    OrderWants,
    and_then,
    now_or_later,
    prefetch_customer,
    prefetch_orders,
    preload_orders,
)
from sources.deadline import current_scope, request_scope
from sources.errors import SourceError
from sources.records import Order


async def test_now_or_later_answers_at_once_when_the_load_has_finished() -> None:
    loaders = Loaders(FakeSources(build_dataset()))
    future = loaders.customer_by_number.load("C-1")
    pending = now_or_later(future, lambda customer: customer.number)
    assert asyncio.iscoroutine(pending)
    assert await pending == "C-1"
    assert now_or_later(loaders.customer_by_number.load("C-1"), lambda c: c.number) == "C-1"
    assert and_then("C-1", str.lower) == "c-1"


async def test_a_failed_load_is_awaited_so_its_field_errors() -> None:
    fake = FakeSources(build_dataset())
    fake.fail("erp.customers_by_numbers")
    loaders = Loaders(fake)
    future = loaders.customer_by_number.load("C-1")
    await asyncio.gather(future, return_exceptions=True)
    answer = now_or_later(future, lambda customer: customer)
    assert asyncio.iscoroutine(answer)
    with pytest.raises(SourceError):
        await answer


async def test_lookahead_starts_only_the_reads_the_selection_needs() -> None:
    fake = FakeSources(build_dataset())
    loaders = Loaders(fake)
    prefetch_customer(loaders, "C-1", {"name", "loyalty"})
    await asyncio.sleep(0.01)
    assert [name for name, _ in fake.log] == ["servicedesk.profiles_by_customer_numbers"]


async def test_lookahead_of_orders_reads_orders_and_returns_together() -> None:
    fake = FakeSources(build_dataset())
    loaders = Loaders(fake)
    prefetch_customer(loaders, "C-1", {"orders"})
    await asyncio.sleep(0.01)
    assert sorted(name for name, _ in fake.log) == [
        "erp.orders_by_customer_numbers", "erp.returns_by_customer_numbers"]


async def test_no_lookahead_without_batching() -> None:
    fake = FakeSources(build_dataset())
    loaders = Loaders(fake, batching=False)
    prefetch_customer(loaders, "C-1", {"orders", "loyalty", "cases"})
    await asyncio.sleep(0.01)
    assert fake.log == []


async def test_preloaded_orders_answer_their_children_without_waiting() -> None:
    fake = FakeSources(build_dataset(orders_per_customer=4))
    loaders = Loaders(fake)
    orders = await loaders.orders_by_customer_number.load("C-1")
    wants = OrderWants(shipments=True, returns=True, invoices=True, credit_memos=True,
                       products=True, stock=True)
    await preload_orders(loaders, orders, wants)
    for order in orders:
        assert loaders.shipments_by_order_number.load(order.number).done()
        assert loaders.returns_by_order_number.load(order.number).done()
        for line in order.lines:
            assert loaders.product_by_sku.load(line.sku).done()
            assert loaders.inventory_levels_by_sku.load(line.sku).done()
    # one bulk call per kind, whatever the number of orders and lines
    assert all(count == 1 for count in fake.calls.values())


async def test_the_orders_page_starts_its_reads_the_moment_the_orders_arrive() -> None:
    fake = FakeSources(build_dataset(orders_per_customer=4))
    loaders = Loaders(fake)
    prefetch_orders(loaders, "C-1", lambda orders: orders[:2], OrderWants(shipments=True))
    await asyncio.sleep(0.01)  # nobody asks for the orders' children: the prefetch does
    shipments = [keys for name, keys in fake.log if name == "wms.shipments_by_order_numbers"]
    orders = await loaders.orders_by_customer_number.load("C-1")
    assert shipments == [(tuple(order.number for order in orders[:2]),)]
    assert [name for name, _ in fake.log].count("erp.orders_by_customer_numbers") == 1


async def test_an_orders_prefetch_whose_orders_fail_starts_nothing() -> None:
    fake = FakeSources(build_dataset())
    fake.fail("erp.orders_by_customer_numbers")
    loaders = Loaders(fake)
    prefetch_orders(loaders, "C-1", list, OrderWants(shipments=True, products=True))
    await asyncio.sleep(0.01)
    assert [name for name, _ in fake.log] == ["erp.orders_by_customer_numbers"]


class _DecodesThenWaits:
    """The fake ERP's customer orders, announced to the request scope as a real client does
    the moment it has decoded them, then held back until `release` is set."""

    def __init__(self, fake: FakeSources) -> None:
        self.release = asyncio.Event()
        self.one_turn_later: list[str] = []
        read = fake.erp.orders_by_customer_numbers

        async def orders_by_customer_numbers(numbers: Sequence[str]) -> dict[str, list[Order]]:
            found = await read(numbers)
            scope = current_scope()
            assert scope is not None
            scope.decoded("erp", "orders_by_customer", found)
            await asyncio.sleep(0)
            self.one_turn_later = [name for name, _ in fake.log]
            await self.release.wait()
            return found

        fake.erp.orders_by_customer_numbers = orders_by_customer_numbers  # type: ignore[method-assign]


async def test_the_next_level_leaves_when_the_orders_are_decoded_not_when_they_are_answered() -> None:
    fake = FakeSources(build_dataset(orders_per_customer=4, customers=2))
    held = _DecodesThenWaits(fake)
    with request_scope(5.0):
        loaders = Loaders(fake)
        wants = OrderWants(shipments=True, products=True, stock=True)
        picked: list[int] = []

        def pick(orders: list[Order]) -> list[Order]:
            picked.append(len(orders))
            return orders

        for customer in ("C-1", "C-2"):
            prefetch_orders(loaders, customer, pick, wants)
        orders = loaders.orders_by_customer_number.load("C-1")
        await asyncio.sleep(0.01)
        assert not orders.done()  # GraphQL has not got the orders yet...
        started = [name for name, _ in fake.log]
        # ...and their children's reads are out: one batch each for both customers' orders
        assert started.count("wms.shipments_by_order_numbers") == 1
        assert started.count("erp.products_by_skus") == 1
        assert started.count("wms.inventory_levels") == 1
        shipped = next(keys for name, keys in fake.log if name == "wms.shipments_by_order_numbers")
        assert len(shipped[0]) == 8
        # the batches were dispatched at the decode, not after the loop's queue
        assert "wms.shipments_by_order_numbers" in held.one_turn_later
        held.release.set()
        await orders
        await asyncio.sleep(0.01)
        assert [name for name, _ in fake.log] == started  # nothing read twice
        assert picked == [4, 4]  # each page chosen once: at the decode, not again at the answer


async def test_a_loader_dispatched_now_batches_what_it_has_and_skips_the_empty_dispatch() -> None:
    fake = FakeSources(build_dataset(orders_per_customer=4))
    loaders = Loaders(fake)
    orders = await loaders.orders_by_customer_number.load("C-1")
    loads = [loaders.shipments_by_order_number.load(order.number) for order in orders]
    loaders.dispatch_now()
    await asyncio.gather(*loads)
    await asyncio.sleep(0)  # the dispatch aiodataloader scheduled finds the queue empty
    assert fake.calls["wms.shipments_by_order_numbers"] == 1
    assert loaders.batch_counts()["shipments_by_order_number"] == 1


async def test_preloading_does_not_hold_the_orders_back_for_reads_in_flight() -> None:
    fake = FakeSources(build_dataset(orders_per_customer=4))
    loaders = Loaders(fake)
    orders = await loaders.orders_by_customer_number.load("C-1")
    release = asyncio.Event()
    read = fake.wms.shipments_by_order_numbers

    async def slow_shipments(numbers: Sequence[str]) -> dict[str, list[Any]]:
        await release.wait()
        return await read(numbers)

    fake.wms.shipments_by_order_numbers = slow_shipments  # type: ignore[method-assign]
    fake.fail("wms.inventory_levels")
    wants = OrderWants(shipments=True, products=True, stock=True)
    await asyncio.wait_for(preload_orders(loaders, orders, wants), timeout=5)
    shipments = loaders.shipments_by_order_number.load(orders[0].number)
    assert not shipments.done()  # the orders go on; their shipments answer later
    assert loaders.product_by_sku.load(orders[0].lines[0].sku).done()
    stock = loaders.inventory_levels_by_sku.load(orders[0].lines[0].sku)
    assert stock.done() and isinstance(stock.exception(), SourceError)  # the child reports it
    release.set()
    assert await shipments is not None
