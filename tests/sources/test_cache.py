"""Entity caches and single-flight: TTLs per kind, stale copies, key-level dedup and joins."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from prometheus_client import REGISTRY

import sources.cache as cache_module
from sources.cache import CacheSet, EntityCache
from sources.config import SourceConfig
from sources.flight import KeyedFlight, SingleFlight


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_entries_expire_after_their_kinds_ttl_but_stay_stale() -> None:
    clock = FakeClock()
    cache = EntityCache("inventory", ttl_s=5, maxsize=10, stale_ttl_s=600, clock=clock)
    cache.put("SKU-1", ("level",))
    clock.now += 4.9
    assert cache.get("SKU-1") == ("level",)
    clock.now += 0.2
    assert cache.get("SKU-1") is None
    assert cache.get_stale("SKU-1") == (("level",), pytest.approx(5.1))
    clock.now += 600
    assert cache.get_stale("SKU-1") is None


def test_peek_answers_fresh_entries_and_counts_only_hits() -> None:
    clock = FakeClock()
    cache = EntityCache("inventory", ttl_s=5, maxsize=10, clock=clock)
    cache.put("SKU-1", ("level",))
    assert cache.peek("SKU-1") == ("level",)
    assert cache.peek("SKU-2") is None  # never stored
    clock.now += 5.1
    assert cache.peek("SKU-1") is None  # expired
    assert (cache.stats.hits, cache.stats.misses) == (1, 0)


def test_peek_hits_reach_the_metrics_when_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    labels = {"source": "test-peek", "kind": "sku", "outcome": "hit"}

    def reported() -> float:
        return REGISTRY.get_sample_value("retailgraph_cache_events_total", labels) or 0.0

    cache = EntityCache("sku", ttl_s=60, maxsize=10, source="test-peek")
    cache.put("SKU-1", ("level",))
    before = reported()
    assert cache.peek("SKU-1") and cache.peek("SKU-1")
    assert reported() == before  # held back until the operation reports them
    cache.report_hits()
    cache.report_hits()  # nothing new: no second increment
    assert reported() == before + 2
    monkeypatch.setattr(cache_module, "REPORT_HITS_EVERY", 3)
    for _ in range(3):
        cache.peek("SKU-1")
    assert reported() == before + 5  # a long operation's hits are not held back unbounded


def test_cache_is_bounded() -> None:
    cache = EntityCache("order", ttl_s=60, maxsize=3)
    for n in range(10):
        cache.put(n, f"order {n}")
    assert len(cache) == 3
    assert cache.get(9) == "order 9"
    assert cache.get(0) is None


def test_invalidate_drops_fresh_but_keeps_stale() -> None:
    cache = EntityCache("order", ttl_s=60, maxsize=10)
    cache.put_many({"A": 1, "B": 2})
    assert cache.invalidate(["A", "Z"]) == 1
    assert cache.get("A") is None and cache.get("B") == 2
    assert cache.get_stale("A") is not None


def test_ttls_come_from_config_per_family_and_kind() -> None:
    config = SourceConfig(name="erp", base_url="http://erp", cache_ttl_s={"orders": 60, "order": 7})
    caches = CacheSet(
        {"order": "orders", "orders_by_customer": "orders", "x": "unknown"}, config.ttl_for, 100
    )
    assert caches["order"].ttl_s == 7
    assert caches["orders_by_customer"].ttl_s == 60
    assert caches["x"].ttl_s == 60
    with pytest.raises(KeyError, match="unknown cache kind"):
        caches["nope"]


def test_default_ttls_follow_the_design() -> None:
    config = SourceConfig(name="wms", base_url="http://wms")
    assert config.ttl_for("inventory", "inventory") == 5
    assert config.ttl_for("shipments", "shipments") == 30
    assert config.ttl_for("order", "orders") == 60
    assert config.ttl_for("customer", "customers") >= 120


class Upstream:
    """A fake bulk read that records which keys it was asked for."""

    def __init__(self, delay: float = 0.01, fail: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.delay = delay
        self.fail = fail

    async def __call__(self, keys: Sequence[str]) -> dict[str, str]:
        self.calls.append(list(keys))
        await asyncio.sleep(self.delay)
        if self.fail:
            raise RuntimeError("upstream down")
        return {k: f"value {k}" for k in keys if not k.startswith("missing")}


async def test_later_batch_asks_only_for_keys_not_cached() -> None:
    flight = KeyedFlight(EntityCache("order", 60, 100))
    upstream = Upstream()
    assert await flight.load(["A"], upstream) == {"A": "value A"}
    assert await flight.load(["A", "B", "C"], upstream) == {
        "A": "value A",
        "B": "value B",
        "C": "value C",
    }
    assert upstream.calls == [["A"], ["B", "C"]]


async def test_missing_keys_are_absent_and_not_cached_unless_defaulted() -> None:
    upstream = Upstream()
    flight = KeyedFlight(EntityCache("order", 60, 100))
    assert await flight.load(["missing-1", "A"], upstream) == {"A": "value A"}
    await flight.load(["missing-1"], upstream)
    assert upstream.calls == [["missing-1", "A"], ["missing-1"]]

    lists = KeyedFlight(EntityCache("orders_by_customer", 60, 100))
    assert await lists.load(["missing-2"], upstream, default=()) == {"missing-2": ()}
    assert await lists.load(["missing-2"], upstream, default=()) == {"missing-2": ()}
    assert upstream.calls[-1] == ["missing-2"] and len(upstream.calls) == 3


async def test_concurrent_identical_loads_share_one_call_and_count_joins() -> None:
    upstream = Upstream(delay=0.05)
    flight = KeyedFlight(EntityCache("order", 60, 100))
    results = await asyncio.gather(*(flight.load(["A", "B"], upstream) for _ in range(20)))
    assert upstream.calls == [["A", "B"]]
    assert all(r == {"A": "value A", "B": "value B"} for r in results)
    assert flight.joins == 19 * 2


async def test_overlapping_loads_fetch_each_key_once() -> None:
    upstream = Upstream(delay=0.05)
    flight = KeyedFlight(EntityCache("order", 60, 100))
    first, second = await asyncio.gather(
        flight.load(["A", "B"], upstream), flight.load(["B", "C"], upstream)
    )
    assert upstream.calls == [["A", "B"], ["C"]]
    assert second == {"B": "value B", "C": "value C"}


async def test_failure_reaches_every_waiter_and_is_not_cached() -> None:
    upstream = Upstream(delay=0.02, fail=True)
    flight = KeyedFlight(EntityCache("order", 60, 100))
    results = await asyncio.gather(
        *(flight.load(["A"], upstream) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, RuntimeError) for r in results)
    assert len(upstream.calls) == 1
    upstream.fail = False
    assert await flight.load(["A"], upstream) == {"A": "value A"}


async def test_a_cancelled_caller_does_not_cancel_the_shared_call() -> None:
    upstream = Upstream(delay=0.05)
    flight = KeyedFlight(EntityCache("order", 60, 100))
    leader = asyncio.ensure_future(flight.load(["A"], upstream))
    await asyncio.sleep(0)
    follower = asyncio.ensure_future(flight.load(["A"], upstream))
    await asyncio.sleep(0.01)
    leader.cancel()
    assert await follower == {"A": "value A"}
    assert len(upstream.calls) == 1


async def test_invalidation_during_a_read_keeps_its_result_out_of_the_cache() -> None:
    upstream = Upstream(delay=0.05)
    flight = KeyedFlight(EntityCache("order", 60, 100))
    reading = asyncio.ensure_future(flight.load(["A"], upstream))
    await asyncio.sleep(0.01)
    flight.invalidate(["A"])
    assert await reading == {"A": "value A"}
    await flight.load(["A"], upstream)
    assert len(upstream.calls) == 2


async def test_single_flight_runs_identical_calls_once() -> None:
    flight = SingleFlight()
    runs = 0

    async def search() -> list[str]:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.02)
        return ["C-10001"]

    results = await asyncio.gather(*(flight.run(("search", "ada"), search) for _ in range(20)))
    assert runs == 1 and flight.joins == 19
    assert results == [["C-10001"]] * 20
    await flight.run(("search", "ada"), search)
    assert runs == 2 and len(flight) == 0


def test_config_reads_a_settings_object_and_can_turn_caching_off() -> None:
    from types import SimpleNamespace

    settings = SimpleNamespace(
        erp_url="http://erp:1",
        erp_token="t",
        source_timeout_s=2.5,
        cache_size=7,
        entity_cache=False,
    )
    config = SourceConfig.for_source("erp", settings)
    assert (config.base_url, config.token, config.timeout_s, config.cache_size) == (
        "http://erp:1",
        "t",
        2.5,
        7,
    )
    assert config.cache_enabled is False
    assert SourceConfig.for_source("wms", {}).cache_enabled is True


async def test_a_disabled_cache_asks_upstream_every_time() -> None:
    upstream = Upstream()
    flight = KeyedFlight(EntityCache("order", 60, 100, enabled=False))
    await flight.load(["A"], upstream)
    await flight.load(["A"], upstream)
    assert upstream.calls == [["A"], ["A"]]
