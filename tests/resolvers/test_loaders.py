"""Loaders: one bulk call per tick, key order, None/[] for missing keys, failures per batch."""

from __future__ import annotations

import asyncio

import pytest
from fake_sources import FakeSources, build_dataset

from resolvers.loaders import Loaders
from sources.errors import SourceUnavailable


async def test_keys_asked_in_one_tick_become_one_call_answered_in_key_order() -> None:
    fake = FakeSources(build_dataset(orders_per_customer=3))
    loaders = Loaders(fake)
    found = await asyncio.gather(
        loaders.order_by_number.load("SO-10003"),
        loaders.order_by_number.load("SO-404"),
        loaders.order_by_number.load("SO-10001"),
        loaders.order_by_number.load("SO-10003"),
    )
    assert [o and o.number for o in found] == ["SO-10003", None, "SO-10001", "SO-10003"]
    assert fake.log == [("erp.orders_by_numbers", (("SO-10003", "SO-404", "SO-10001"),))]


async def test_list_loaders_answer_an_empty_list_for_unknown_keys() -> None:
    loaders = Loaders(FakeSources(build_dataset()))
    shipments, none = await asyncio.gather(
        loaders.shipments_by_order_number.load("SO-10001"),
        loaders.shipments_by_order_number.load("SO-404"),
    )
    assert [s.id for s in shipments] == ["SHP-10001"]
    assert none == []


async def test_a_failed_batch_fails_each_of_its_keys_with_the_source_error() -> None:
    fake = FakeSources(build_dataset())
    fake.fail("erp.products_by_skus")
    loaders = Loaders(fake)
    results = await asyncio.gather(
        loaders.product_by_sku.load("SKU-001"),
        loaders.product_by_sku.load("SKU-002"),
        loaders.customer_by_number.load("C-1"),
        return_exceptions=True,
    )
    assert all(isinstance(r, SourceUnavailable) and r.source == "erp" for r in results[:2])
    assert results[2].number == "C-1"
    assert fake.calls["erp.products_by_skus"] == 1


async def test_batches_split_at_the_upstream_limit() -> None:
    fake = FakeSources(build_dataset())
    loaders = Loaders(fake)
    await asyncio.gather(*(loaders.case_by_id.load(n) for n in range(1, 251)))
    sizes = [len(args[0]) for name, args in fake.log if name == "servicedesk.cases_by_ids"]
    assert sizes == [100, 100, 50]
    await asyncio.gather(*(loaders.inventory_levels_by_sku.load(f"S{n}") for n in range(300)))
    sizes = [len(args[0]) for name, args in fake.log if name == "wms.inventory_levels"]
    assert sizes == [250, 50]


async def test_lists_prime_the_by_key_loaders() -> None:
    fake = FakeSources(build_dataset(orders_per_customer=2))
    loaders = Loaders(fake)
    orders = await loaders.orders_by_customer_number.load("C-1")
    again = await loaders.order_by_number.load(orders[1].number)
    cases = await loaders.cases_by_customer_number.load("C-1")
    case = await loaders.case_by_id.load(cases[0].id)
    assert again is orders[1] and case is cases[0]
    assert "erp.orders_by_numbers" not in fake.calls
    assert "servicedesk.cases_by_ids" not in fake.calls


async def test_loads_are_cached_for_the_request() -> None:
    fake = FakeSources(build_dataset())
    loaders = Loaders(fake)
    first = await loaders.customer_by_number.load("C-1")
    second = await loaders.customer_by_number.load("C-1")
    assert first is second
    assert fake.calls["erp.customers_by_numbers"] == 1


async def test_without_batching_every_load_is_its_own_call() -> None:
    fake = FakeSources(build_dataset(orders_per_customer=3))
    loaders = Loaders(fake, batching=False)
    await asyncio.gather(*(loaders.order_by_number.load(f"SO-1000{n}") for n in (1, 2, 3, 1)))
    assert fake.calls["erp.orders_by_numbers"] == 4


async def test_locations_are_listed_once_per_batch() -> None:
    fake = FakeSources(build_dataset())
    loaders = Loaders(fake)
    found = await asyncio.gather(
        *(loaders.location_by_id.load(i) for i in ("LOC-03", "LOC-01", "LOC-09"))
    )
    assert [loc and loc.code for loc in found] == ["SITE-3", "SITE-1", None]
    assert fake.calls["wms.locations"] == 1


async def test_call_loaders_dedup_identical_calls_and_fail_alone() -> None:
    fake = FakeSources(build_dataset())
    loaders = Loaders(fake)
    pages = await asyncio.gather(
        loaders.case_comments_page.load((501, 2, None)),
        loaders.case_comments_page.load((501, 2, None)),
        loaders.case_comments_page.load((501, 2, "zd-2")),
    )
    assert [c.body for c in pages[2].items] == ["comment 2", "comment 3"]
    assert pages[0] is pages[1]
    assert fake.calls["servicedesk.case_comments"] == 2


async def test_profiles_by_user_id_degrade_to_unknown_without_the_client_method() -> None:
    loaders = Loaders(FakeSources(build_dataset()))
    assert await loaders.profile_by_user_id.load(1001) is None


@pytest.mark.parametrize("batching", [True, False])
async def test_batch_counts_report_dispatched_batches(batching: bool) -> None:
    loaders = Loaders(FakeSources(build_dataset(orders_per_customer=3)), batching=batching)
    await asyncio.gather(*(loaders.order_by_number.load(f"SO-1000{n}") for n in (1, 2, 3)))
    assert loaders.batch_counts() == {"order_by_number": 1 if batching else 3}


async def test_erp_keys_are_not_split_at_100_the_client_packs_its_own_batch() -> None:
    fake = FakeSources(build_dataset())
    loaders = Loaders(fake)
    skus = [f"SKU-{n:05d}" for n in range(250)]
    await asyncio.gather(*(loaders.product_by_sku.load(sku) for sku in skus))
    # The $batch cap is 100 inner requests, not 100 keys: one source call takes all 250.
    assert [name for name, _ in fake.log] == ["erp.products_by_skus"]
    assert len(fake.log[0][1][0]) == 250
