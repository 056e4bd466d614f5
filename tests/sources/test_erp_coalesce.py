"""The ERP coalescer: reads that start together share one `$batch`, each keeps its own outcome."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from sandbox.seed import FIXTURES
from sources import Sources, SourceRejected
from sources.config import SourceConfig
from sources.deadline import request_scope
from sources.erp import ErpClient

ADA = FIXTURES["customer"]


def batch_sizes(recorder: Any) -> list[int]:
    """Inner request count of each `$batch` sent, in order."""
    return [
        len(json.loads(request.content)["requests"])
        for request in recorder.requests
        if request.url.path.endswith("$batch")
    ]


async def test_distinct_reads_started_together_are_one_http_call(
    sources: Sources, recorders: dict[str, Any]
) -> None:
    await sources.erp.company_id()
    recorders["erp"].requests.clear()
    customers, orders, products = await asyncio.gather(
        sources.erp.customers_by_numbers([ADA]),
        sources.erp.orders_by_customer_numbers([ADA]),
        sources.erp.products_by_skus(["SKU-00001", "SKU-00002"]),
    )
    assert customers[ADA].name == "Ada Lovelace"
    assert len(orders[ADA]) >= 12
    assert set(products) == {"SKU-00001", "SKU-00002"}
    assert len(recorders["erp"].requests) == 1
    # customers; the customer documents (salesOrders, salesInvoices, salesReturnOrders,
    # salesCreditMemos); items
    assert batch_sizes(recorders["erp"]) == [6]
    assert sources.erp.coalescer is not None and sources.erp.coalescer.http_calls == 1


async def test_a_lone_read_is_a_plain_get(
    sources: Sources, recorders: dict[str, Any]
) -> None:
    await sources.erp.company_id()
    recorders["erp"].requests.clear()
    await sources.erp.customers_by_numbers([ADA])
    [request] = recorders["erp"].requests
    assert request.method == "GET" and request.url.path.endswith("/customers")


async def test_an_inner_failure_fails_only_its_own_read(
    sources: Sources, recorders: dict[str, Any]
) -> None:
    await sources.erp.company_id()
    recorders["erp"].requests.clear()
    assert sources.erp.coalescer is not None
    good, bad = await asyncio.gather(
        sources.erp.customers_by_numbers([ADA]),
        sources.erp.coalescer.get(["companies(00000000-0000-0000-0000-000000000000)/nosuchSet"]),
        return_exceptions=True,
    )
    assert isinstance(good, dict) and good[ADA].number == ADA
    assert isinstance(bad, SourceRejected | Exception) and not isinstance(bad, dict)
    assert len(recorders["erp"].requests) == 1


async def test_reads_of_different_requests_do_not_share_a_batch(
    sources: Sources, recorders: dict[str, Any]
) -> None:
    await sources.erp.company_id()
    recorders["erp"].requests.clear()

    async def in_own_scope(read: Any) -> Any:
        with request_scope(5.0):
            return await read

    await asyncio.gather(
        in_own_scope(sources.erp.customers_by_numbers(["C-10002"])),
        in_own_scope(sources.erp.customers_by_numbers(["C-10003"])),
    )
    assert len(recorders["erp"].requests) == 2


@pytest.mark.parametrize("count", [150])
async def test_more_than_100_inner_reads_split_into_batches_of_100(
    recorders: dict[str, Any], count: int
) -> None:
    recorder = recorders["erp"]
    config = SourceConfig(name="erp", base_url="http://erp", max_filter_chars=40)
    async with ErpClient(config, recorder) as erp:
        await erp.company_id()
        recorder.requests.clear()
        skus = [f"SKU-{n:05d}" for n in range(1, count + 1)]
        found = await erp.products_by_skus(skus)  # one or-chain per SKU at this filter limit
        assert set(found) == set(skus)
        assert batch_sizes(recorder) == [100, 50]


async def test_coalescing_off_keeps_one_call_per_logical_read(recorders: dict[str, Any]) -> None:
    recorder = recorders["erp"]
    config = SourceConfig(name="erp", base_url="http://erp", coalesce=False)
    async with ErpClient(config, recorder) as erp:
        await erp.company_id()
        recorder.requests.clear()
        await asyncio.gather(erp.customers_by_numbers([ADA]), erp.products_by_skus(["SKU-00001"]))
        assert erp.coalescer is None
        assert sorted(r.url.path.rsplit("/", 1)[-1] for r in recorder.requests) == ["customers", "items"]


async def test_the_pool_is_sized_to_the_bulkhead() -> None:
    config = SourceConfig(name="erp", base_url="http://erp", max_concurrency=16, transport="httpx")
    async with ErpClient(config) as erp:
        transport = erp._http._transport
        assert isinstance(transport, httpx.AsyncHTTPTransport)
        pool = transport._pool
        assert (pool._max_connections, pool._max_keepalive_connections) == (16, 16)


async def test_auto_takes_aiohttps_transport_when_installed_with_the_same_pool_size() -> None:
    pytest.importorskip("httpx_aiohttp", reason="the aiohttp extra is not installed")
    from httpx_aiohttp import AiohttpTransport

    async with ErpClient(SourceConfig(name="erp", base_url="http://erp", max_concurrency=16)) as erp:
        transport = erp._http._transport
        assert isinstance(transport, AiohttpTransport)
        assert (transport.limits.max_connections, transport.limits.max_keepalive_connections) == (16, 16)
