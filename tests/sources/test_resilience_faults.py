"""Faults injected in the real sandbox (`/_sandbox/faults`), seen through the source clients.

The clients run on a hand-moved clock and a recorded sleep: backoff, breaker waits and
budget windows advance without real waiting. Attempts are counted by the sandbox itself.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from test_resilience import FakeClock

from sandbox.seed import FIXTURES
from sources import Sources, build_sources
from sources.breaker import CLOSED, HALF_OPEN, OPEN
from sources.errors import CircuitOpen, SourceUnavailable

ADA = FIXTURES["customer"]


@pytest.fixture
def fake() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def make_sources(apps: Any, fake: FakeClock) -> AsyncIterator[Callable[..., Sources]]:
    """Uncached clients over the sandbox (every read reaches it) with a small retry floor."""
    built: list[Sources] = []

    def make(**settings: Any) -> Sources:
        transports = {name: httpx.ASGITransport(app=getattr(apps, name))
                      for name in ("erp", "wms", "servicedesk")}
        options = {"entity_cache": False, "retry_budget_min": 3, **settings}
        sources = build_sources(options, transports=transports, clock=fake, sleep=fake.sleep,
                                rng=random.Random(3))
        built.append(sources)
        return sources

    yield make
    for sources in built:
        await sources.aclose()


@pytest.fixture
def faulty(make_sources: Callable[..., Sources]) -> Sources:
    """A small breaker: 10 calls decide, 2 probes."""
    return make_sources(breaker_min_calls=10, breaker_open_s=5.0, breaker_half_open_calls=2)


async def set_faults(raw: Callable[[str], httpx.AsyncClient], name: str, **faults: Any) -> None:
    (await raw(name).put("/_sandbox/faults", json=faults)).raise_for_status()


async def test_30_percent_503s_are_absorbed_by_retries_within_the_budget(
    make_sources: Callable[..., Sources], raw: Any, upstream_stats: Any, fake: FakeClock
) -> None:
    faulty = make_sources()  # the default breaker: 20 calls decide, 50% opens
    await faulty.erp.company_id()
    await set_faults(raw, "erp", error_rate=0.3)
    await upstream_stats("erp", reset=True)
    served = 0
    for _ in range(100):
        try:
            await faulty.erp.customers_by_numbers([ADA])
            served += 1
        except SourceUnavailable:
            pass
        fake.now += 0.05  # a steady 20 reads a second
    attempts = (await upstream_stats("erp"))["requests"]
    resilience = faulty.erp.resilience
    # One attempt each would serve ~70; the retries the budget allows recover part of the rest.
    # The budget (20% + floor) is below the error rate on purpose: a struggling upstream gets
    # at most 1.2x its normal load, and the graph serves stale copies for the remainder.
    assert served >= 78
    assert resilience.retry_budget.denied > 0
    assert attempts == 100 + resilience.retries
    assert attempts <= 100 * (1 + 0.2) + 3  # 1 + the budget share per read, never a storm
    assert resilience.breaker.state == CLOSED and resilience.breaker.transitions == []


async def test_an_erp_outage_opens_the_breaker_then_recovery_closes_it(
    faulty: Sources, raw: Any, upstream_stats: Any, fake: FakeClock
) -> None:
    await faulty.erp.company_id()
    breaker = faulty.erp.resilience.breaker
    await set_faults(raw, "erp", outage=True)
    await upstream_stats("erp", reset=True)
    failures: list[type[Exception]] = []
    for _ in range(8):
        with pytest.raises(SourceUnavailable) as caught:
            await faulty.erp.customers_by_numbers([ADA])
        failures.append(type(caught.value))
        fake.now += 0.1
    sent = (await upstream_stats("erp"))["requests"]
    assert breaker.state == OPEN
    # The window held the company lookup's success and 9 failures: 10 calls, 90% failed.
    assert sent == 9
    assert failures[-1] is CircuitOpen
    opened_at = breaker.transitions[0][0]

    await set_faults(raw, "erp", outage=False)
    fake.now = opened_at + 5.0  # the breaker's wait is over: half-open
    assert breaker.state == HALF_OPEN
    for _ in range(2):
        assert ADA in await faulty.erp.customers_by_numbers([ADA])
    assert breaker.state == CLOSED
    assert [state for _, state in breaker.transitions] == [OPEN, HALF_OPEN, CLOSED]
    assert (await upstream_stats("erp"))["requests"] == sent + 2  # the two probes


async def test_a_failed_probe_keeps_the_erp_fenced_off(
    faulty: Sources, raw: Any, upstream_stats: Any, fake: FakeClock
) -> None:
    await faulty.erp.company_id()
    breaker = faulty.erp.resilience.breaker
    await set_faults(raw, "erp", outage=True)
    while breaker.state != OPEN:
        with pytest.raises(SourceUnavailable):
            await faulty.erp.customers_by_numbers([ADA])
    fake.now += 5.0
    with pytest.raises(SourceUnavailable):
        await faulty.erp.customers_by_numbers([ADA])  # a probe, still failing
    with pytest.raises(SourceUnavailable):
        await faulty.erp.customers_by_numbers([ADA])
    assert breaker.state == OPEN
    assert [state for _, state in breaker.transitions] == [OPEN, HALF_OPEN, OPEN]


async def test_one_source_down_leaves_the_others_untouched(
    faulty: Sources, raw: Any, fake: FakeClock
) -> None:
    await set_faults(raw, "wms", outage=True)
    while faulty.wms.resilience.breaker.state != OPEN:
        with pytest.raises(SourceUnavailable):
            await faulty.wms.inventory_levels(["SKU-00001"])
        fake.now += 0.1
    assert ADA in await faulty.erp.customers_by_numbers([ADA])
    assert faulty.erp.resilience.breaker.state == CLOSED
    assert faulty.servicedesk.resilience.breaker.state == CLOSED
