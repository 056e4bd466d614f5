"""Lookahead and preloading: which reads start early, and answers that need no await."""

from __future__ import annotations

import asyncio

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
from sources.errors import SourceError


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
