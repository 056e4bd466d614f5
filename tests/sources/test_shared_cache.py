"""The Redis second-level cache: safe codec, shared fills, cross-replica invalidation, degradation.

"Replicas" here are independent sets of source clients in this process, each with its own
Redis connection and L1 caches, over the same sandbox apps; their upstream calls are counted
by recording transports. Tests needing Redis skip (with the reason) when it is not running.
"""

from __future__ import annotations

import asyncio
import contextlib
import pickle
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from sources import Sources, build_sources
from sources.codec import RECORDS, CodecError, decode, encode
from sources.records import CaseStatus, Money
from sources.redis_link import RedisLink
from sources.shared_cache import SharedCache

NAMES = ("erp", "wms", "servicedesk")
ADA = "C-10001"


async def eventually(condition: Callable[[], bool], what: str, timeout_s: float = 10.0) -> None:
    """Wait (bounded) until `condition()` holds; messages between replicas are asynchronous."""
    async with asyncio.timeout(timeout_s):
        while not condition():
            await asyncio.sleep(0.01)
    assert condition(), what


class RecordingTransport(httpx.AsyncBaseTransport):
    """Passes requests to a sandbox app and keeps them, to count upstream calls."""

    def __init__(self, app: Any) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await self.inner.handle_async_request(request)


@dataclass
class Replica:
    """One replica's clients, upstream call recorders and Redis sharing."""

    sources: Sources
    recorders: dict[str, Any]
    link: RedisLink
    cache: SharedCache

    def calls(self, name: str) -> int:
        return len(self.recorders[name].requests)


@contextlib.asynccontextmanager
async def replica(apps: Any, url: str, prefix: str, *, wait: bool = True,
                  transports: dict[str, Any] | None = None, **options: Any) -> AsyncIterator[Replica]:
    recorders = transports or {name: RecordingTransport(getattr(apps, name)) for name in NAMES}
    sources = build_sources(None, transports=recorders)
    link = RedisLink(url, retry_s=0.1)
    cache = SharedCache(link, prefix=prefix, **options)
    cache.attach(sources)
    link.start()
    try:
        if wait:
            assert await link.wait_subscribed(5.0), "Redis subscription"
        yield Replica(sources, recorders, link, cache)
    finally:
        await link.close()
        await sources.aclose()


# ── codec ──────────────────────────────────────────────────────────────────────────────────

async def test_every_cached_value_survives_the_codec(sources: Sources) -> None:
    erp, wms, desk = sources.erp, sources.wms, sources.servicedesk
    orders = (await erp.orders_by_customer_numbers([ADA]))[ADA]
    skus = sorted({line.sku for order in orders for line in order.lines})
    numbers = [order.number for order in orders]
    values: dict[str, Any] = {
        "customer": await erp.customers_by_numbers([ADA]),
        "orders": tuple(orders),
        "invoices": await erp.invoices_by_customer_numbers([ADA]),
        "returns": await erp.returns_by_customer_numbers([ADA]),
        "products": await erp.products_by_skus(skus),
        "inventory": {sku: tuple(levels) for sku, levels in (await wms.inventory_levels(skus)).items()},
        "shipments": await wms.shipments_by_order_numbers(numbers),
        "locations": tuple(await wms.locations()),
        "profiles": await desk.profiles_by_customer_numbers([ADA]),
        "cases": await desk.cases_by_customer_numbers([ADA]),
        "by_int_key": await desk.cases_by_ids([c.id for c in (await desk.cases_by_customer_numbers([ADA]))[ADA]]),
    }
    for name, value in values.items():
        assert decode(encode(value)) == value, name
    kinds = {type(record).__name__ for record in _records(values)}
    assert {"Customer", "Order", "OrderLine", "Money", "Invoice", "Product", "InventoryLevel",
            "Shipment", "Location", "CustomerProfile", "Case"} <= kinds


def _records(value: Any) -> list[Any]:
    if type(value).__name__ in RECORDS:
        return [value, *(r for f in value.__dataclass_fields__ for r in _records(getattr(value, f)))]
    if isinstance(value, (list, tuple)):
        return [r for item in value for r in _records(item)]
    if isinstance(value, dict):
        return [r for item in value.values() for r in _records(item)]
    return []


@pytest.mark.parametrize("data", [
    b'{"$rec": "Popen", "f": {"args": "sh"}}',  # only registered records are rebuilt
    b'{"$rec": "Money", "f": {"amount": {"$dec": "1.00"}}}',  # fields must match exactly
    b'{"$enum": ["Signals", "SIGKILL"]}',
    b'{"amount": 1}',  # untagged objects are not values this codec wrote
    pickle.dumps(Money),  # never unpickled
    b"not json",
])
def test_bytes_the_codec_did_not_write_are_refused(data: bytes) -> None:
    with pytest.raises(CodecError):
        decode(data)


def test_unregistered_values_are_not_written() -> None:
    @dataclass(frozen=True)
    class Foreign:
        name: str

    for value in (object(), Foreign("x"), {1, 2}):
        with pytest.raises(CodecError):
            encode(value)
    assert decode(encode({"status": CaseStatus.OPEN, 7: ()})) == {"status": CaseStatus.OPEN, 7: ()}


# ── shared fills and invalidation across replicas (real Redis) ─────────────────────────────

@pytest.mark.redis
async def test_a_second_replica_reads_what_the_first_fetched(apps: Any, redis_url: str, redis_prefix: str) -> None:
    async with replica(apps, redis_url, redis_prefix) as a, replica(apps, redis_url, redis_prefix) as b:
        fetched = await a.sources.erp.customers_by_numbers([ADA])
        assert a.calls("erp") >= 1
        await a.link.flush()
        assert await b.sources.erp.customers_by_numbers([ADA]) == fetched
        assert b.calls("erp") == 0  # answered by Redis: no company lookup, no customer read


@pytest.mark.redis
async def test_shared_entries_expire_with_their_kinds_l1_ttl(apps: Any, redis_url: str, redis_prefix: str) -> None:
    async with replica(apps, redis_url, redis_prefix) as a:
        await a.sources.erp.customers_by_numbers([ADA])
        await a.sources.wms.inventory_levels(["SKU-00001"])
        await a.link.flush()
        customer_ttl = await _pttl(redis_url, f"{redis_prefix}:c:*:erp:customer:*")
        inventory_ttl = await _pttl(redis_url, f"{redis_prefix}:c:*:wms:inventory:*")
    assert 0 < inventory_ttl <= a.sources.wms.cache("inventory").ttl_s * 1000
    assert inventory_ttl < customer_ttl <= a.sources.erp.cache("customer").ttl_s * 1000


async def _pttl(url: str, pattern: str) -> int:
    client = aioredis.Redis.from_url(url)
    try:
        (key,) = [key async for key in client.scan_iter(match=pattern)]
        return int(await client.pttl(key))
    finally:
        await client.aclose()


@pytest.mark.redis
async def test_an_invalidation_on_one_replica_drops_the_entry_on_the_others(
    apps: Any, redis_url: str, redis_prefix: str
) -> None:
    async with replica(apps, redis_url, redis_prefix) as a, replica(apps, redis_url, redis_prefix) as b:
        await a.sources.erp.customers_by_numbers([ADA])
        await a.link.flush()
        await b.sources.erp.customers_by_numbers([ADA])
        assert ADA in b.sources.erp.cache("customer") and b.calls("erp") == 0

        a.sources.erp.invalidate("customer", [ADA])
        await eventually(lambda: ADA not in b.sources.erp.cache("customer"), "B dropped its copy")
        await b.sources.erp.customers_by_numbers([ADA])
        assert b.calls("erp") >= 1  # neither L1 nor Redis had it: read from the ERP


@pytest.mark.redis
async def test_dropping_a_whole_kind_reaches_every_replica(apps: Any, redis_url: str, redis_prefix: str) -> None:
    async with replica(apps, redis_url, redis_prefix) as a, replica(apps, redis_url, redis_prefix) as b:
        await a.sources.servicedesk.cases_by_customer_numbers([ADA])
        await a.link.flush()
        await b.sources.servicedesk.cases_by_customer_numbers([ADA])
        assert b.calls("servicedesk") == 0

        a.sources.servicedesk.invalidate("cases_by_customer")
        await eventually(lambda: ADA not in b.sources.servicedesk.cache("cases_by_customer"), "B dropped the kind")
        await b.sources.servicedesk.cases_by_customer_numbers([ADA])
        assert b.calls("servicedesk") >= 1  # the old generation is unreachable in Redis too


class GatedTransport(RecordingTransport):
    """Holds every request until `gate` opens: a read in flight across an invalidation."""

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.gate = asyncio.Event()
        self.waiting = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.waiting.set()
        await self.gate.wait()
        return await super().handle_async_request(request)


@pytest.mark.redis
async def test_a_read_begun_before_an_invalidation_does_not_refill_redis(
    apps: Any, redis_url: str, redis_prefix: str
) -> None:
    gated = {name: GatedTransport(getattr(apps, name)) for name in NAMES}
    async with replica(apps, redis_url, redis_prefix, guard_s=60) as a, \
            replica(apps, redis_url, redis_prefix, guard_s=60, transports=gated) as b, \
            replica(apps, redis_url, redis_prefix, guard_s=60) as c:
        slow = asyncio.create_task(b.sources.erp.customers_by_numbers([ADA]))
        await gated["erp"].waiting.wait()  # B has missed L1 and Redis and is asking the ERP
        a.sources.erp.invalidate("customer", [ADA])
        await a.link.flush()
        gated["erp"].gate.set()
        assert ADA in await slow
        await b.link.flush()
        await c.sources.erp.customers_by_numbers([ADA])
        assert c.calls("erp") >= 1  # B's possibly outdated answer was kept out of Redis


# ── degradation: Redis absent or failing never fails a read ───────────────────────────────

async def test_without_redis_reads_use_the_process_cache_only(apps: Any) -> None:
    async with replica(apps, "redis://127.0.0.1:1/0", "rg-absent", wait=False) as a:
        assert not await a.link.wait_subscribed(0.3)
        first = await a.sources.erp.customers_by_numbers([ADA])
        calls = a.calls("erp")
        assert await a.sources.erp.customers_by_numbers([ADA]) == first
        assert a.calls("erp") == calls  # L1 still answers
        a.sources.erp.invalidate("customer", [ADA])  # nothing to tell, nothing raised
        assert not a.cache.usable(a.sources.erp, "customer")


class Proxy:
    """A TCP proxy to Redis that can be cut and restored, to fail Redis mid-flight."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []
        self.pumps: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers += [writer, up_writer]
        self.pumps += [asyncio.create_task(self._pump(reader, up_writer)),
                       asyncio.create_task(self._pump(up_reader, writer))]

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
        for pump in self.pumps:
            pump.cancel()
        await asyncio.gather(*self.pumps, return_exceptions=True)
        for writer in self.writers:
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
        await self.server.wait_closed()
        self.writers, self.pumps = [], []


@pytest.mark.redis
async def test_redis_failing_mid_flight_degrades_to_l1_and_recovers(
    apps: Any, redis_url: str, redis_prefix: str
) -> None:
    proxy = Proxy(("127.0.0.1", 6379))
    await proxy.start()
    try:
        async with replica(apps, f"redis://127.0.0.1:{proxy.port}/0", redis_prefix) as a:
            await a.sources.erp.customers_by_numbers([ADA])
            await proxy.stop()
            # Redis is gone: reads still answer, from L1 or the upstream.
            found = await a.sources.erp.customers_by_numbers([ADA, "C-10002"])
            assert set(found) == {ADA, "C-10002"}
            a.sources.erp.invalidate("customer", ["C-10002"])
            await eventually(lambda: not a.link.subscribed, "the listener noticed")
            assert set(await a.sources.erp.customers_by_numbers(["C-10003"])) == {"C-10003"}

            await proxy.start()  # same port: Redis is back
            await eventually(lambda: a.link.subscribed, "resubscribed")
            # Invalidations may have been missed meanwhile: this replica's L1 starts empty.
            assert ADA not in a.sources.erp.cache("customer")
            await eventually(lambda: a.cache.usable(a.sources.erp, "customer"), "L2 back in use")
    finally:
        if proxy.server is not None and proxy.server.is_serving():
            await proxy.stop()
