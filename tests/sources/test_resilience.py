"""The resilience policy piece by piece: breaker, retry budget, backoff, bulkhead, deadline.

Everything runs on a hand-moved clock and a recorded sleep, so no test waits for real time
except the slow-loris one, which needs a real timer to cut a body that never ends.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import httpx
import pytest
import respx
from prometheus_client import REGISTRY

from sources.breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from sources.bulkhead import Bulkhead
from sources.config import SourceConfig
from sources.deadline import current_scope, remaining_budget, request_scope
from sources.errors import (
    BulkheadFull,
    CircuitOpen,
    SourceThrottled,
    SourceTimeout,
    SourceUnavailable,
)
from sources.retry import RetryBudget, RetryPolicy, is_retryable
from sources.window import RollingWindow
from sources.wms import WmsClient

WMS = "http://wms.test"
LEVELS = f"{WMS}/v1/inventory-levels"
RESERVATIONS = f"{WMS}/v1/reservations"
EMPTY = {"inventory_levels": [], "next_cursor": None}


class FakeClock:
    """Monotonic time moved by hand, and a sleep that moves it (and remembers each wait)."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def wms_client(clock: FakeClock, **settings: object) -> WmsClient:
    """A WMS client on the fake clock; `settings` override the resilience defaults."""
    # respx mocks httpx's own transport (the default would take httpx-aiohttp's when installed)
    config = SourceConfig.for_source(
        "wms", {"wms_url": WMS, "entity_cache": False, "http_transport": "httpx", **settings}
    )
    return WmsClient(config, clock=clock, sleep=clock.sleep, rng=random.Random(7))


@pytest.fixture
async def wms(clock: FakeClock) -> AsyncIterator[WmsClient]:
    client = wms_client(clock)
    yield client
    await client.aclose()


# -- circuit breaker ------------------------------------------------------------------------


def breaker(clock: FakeClock, **options: float) -> CircuitBreaker:
    settings = {"failure_rate": 0.5, "min_calls": 4, "window_s": 10.0, "open_s": 5.0,
                "half_open_calls": 2, **options}
    return CircuitBreaker("erp", clock=clock, **settings)  # type: ignore[arg-type]


def test_the_breaker_waits_for_minimum_calls_then_opens_on_the_failure_rate(clock: FakeClock) -> None:
    b = breaker(clock)
    for _ in range(3):
        b.acquire()
        b.record_failure()
    assert b.state == CLOSED  # 3 of 3 failed, but fewer than min_calls
    b.acquire()
    b.record_success()  # 4 calls, 75% failed
    assert b.state == OPEN
    with pytest.raises(CircuitOpen) as caught:
        b.acquire()
    assert caught.value.source == "erp" and isinstance(caught.value, SourceUnavailable)


def test_failures_older_than_the_window_do_not_count(clock: FakeClock) -> None:
    b = breaker(clock)
    for _ in range(3):
        b.record_failure()
    clock.now += 11
    for _ in range(4):
        b.record_success()
    b.record_failure()
    assert b.state == CLOSED  # 1 of 5 in the window


def test_half_open_lets_only_the_probes_through_and_closes_when_they_succeed(clock: FakeClock) -> None:
    before = REGISTRY.get_sample_value("retailgraph_breaker_transitions_total",
                                       {"source": "erp", "to_state": "closed"}) or 0.0
    from sources import telemetry

    b = CircuitBreaker("erp", failure_rate=0.5, min_calls=2, open_s=5.0, half_open_calls=2,
                       clock=clock, on_transition=telemetry.record_breaker)
    b.record_failure()
    b.record_failure()
    assert b.state == OPEN and b.retry_in() == 5.0
    clock.now += 5
    assert b.state == HALF_OPEN
    b.acquire()
    b.acquire()
    with pytest.raises(CircuitOpen):
        b.acquire()  # a third caller while two probes are out
    b.record_success()
    assert b.state == HALF_OPEN
    b.record_success()
    assert b.state == CLOSED
    assert [state for _, state in b.transitions] == [OPEN, HALF_OPEN, CLOSED]
    after = REGISTRY.get_sample_value("retailgraph_breaker_transitions_total",
                                      {"source": "erp", "to_state": "closed"})
    assert after == before + 1
    assert REGISTRY.get_sample_value("retailgraph_breaker_state", {"source": "erp"}) == 0


def test_a_failed_probe_opens_the_breaker_again(clock: FakeClock) -> None:
    b = breaker(clock, min_calls=1, half_open_calls=2)
    b.record_failure()
    clock.now += 5
    b.acquire()
    b.acquire()
    b.record_failure()
    b.record_success()  # 1 of 2 probes failed: 50% ≥ threshold
    assert b.state == OPEN
    assert [state for _, state in b.transitions] == [OPEN, HALF_OPEN, OPEN]


def test_a_probe_that_never_reached_the_upstream_hands_its_permit_back(clock: FakeClock) -> None:
    b = breaker(clock, min_calls=1, half_open_calls=1)
    b.record_failure()
    clock.now += 5
    b.acquire()
    b.release()
    b.acquire()  # would raise if the permit had leaked
    b.record_success()
    assert b.state == CLOSED


# -- retry budget, backoff, window ----------------------------------------------------------


def test_the_retry_budget_is_a_share_of_recent_requests_plus_a_floor(clock: FakeClock) -> None:
    budget = RetryBudget(ratio=0.2, min_retries=2, window_s=10.0, clock=clock)
    for _ in range(10):
        budget.record_request()
    granted = sum(budget.try_spend() for _ in range(10))
    assert granted == 2 + 2  # 20% of 10, plus the floor of 2
    clock.now += 11  # the window moved on: the requests and the retries are forgotten
    assert budget.try_spend() and budget.try_spend() and not budget.try_spend()


def test_backoff_is_full_jitter_capped_by_the_maximum() -> None:
    policy = RetryPolicy(backoff_s=0.1, backoff_max_s=0.3)
    rng = random.Random(1)
    for attempt, ceiling in [(1, 0.1), (2, 0.2), (3, 0.3), (6, 0.3)]:
        waits = [policy.backoff(attempt, rng) for _ in range(200)]
        assert all(0.0 <= wait <= ceiling for wait in waits)
        assert max(waits) > ceiling * 0.8 and min(waits) < ceiling * 0.2  # spread, not fixed


def test_only_transient_failures_are_retryable() -> None:
    assert is_retryable(SourceUnavailable("erp", "reset"))
    assert is_retryable(SourceUnavailable("erp", "x", status=503))
    assert is_retryable(SourceThrottled("erp", "x", status=429))
    assert is_retryable(SourceTimeout("erp", "slow"))
    assert not is_retryable(SourceUnavailable("erp", "x", status=501))
    assert not is_retryable(CircuitOpen("erp", "open"))
    assert not is_retryable(BulkheadFull("erp", "full"))


def test_the_rolling_window_forgets_old_buckets(clock: FakeClock) -> None:
    window = RollingWindow(10.0, clock=clock)
    window.record(failed=True, seconds=0.2)
    clock.now += 5
    window.record(failed=False, seconds=0.4)
    totals = window.totals()
    assert (totals.calls, totals.failures, round(totals.mean_seconds, 3)) == (2, 1, 0.3)
    clock.now += 6
    assert window.totals().calls == 1


# -- deadline and bulkhead ------------------------------------------------------------------


def test_the_request_scope_carries_the_deadline_and_is_reset(clock: FakeClock) -> None:
    assert current_scope() is None and remaining_budget() is None
    with request_scope(2.5, clock=clock) as scope:
        clock.now += 1
        assert remaining_budget() == 1.5
        clock.now += 2
        assert scope.expired and remaining_budget() == 0.0
    assert current_scope() is None


async def test_the_bulkhead_queues_then_fails_fast_when_full() -> None:
    bulkhead = Bulkhead("wms", max_concurrent=1, max_queue=1)
    entered = asyncio.Event()
    release = asyncio.Event()

    async def hold() -> None:
        async with bulkhead.slot(None):
            entered.set()
            await release.wait()

    holder = asyncio.create_task(hold())
    await entered.wait()
    queued = asyncio.create_task(hold())
    await asyncio.sleep(0)
    assert (bulkhead.in_flight, bulkhead.waiting) == (1, 1)
    with pytest.raises(BulkheadFull):
        async with bulkhead.slot(None):
            pass
    assert bulkhead.rejections == 1
    release.set()
    await asyncio.gather(holder, queued)
    assert (bulkhead.in_flight, bulkhead.waiting) == (0, 0)


async def test_a_queued_call_waits_no_longer_than_its_budget() -> None:
    bulkhead = Bulkhead("wms", max_concurrent=1, max_queue=5)
    async with bulkhead.slot(None):
        with pytest.raises(SourceTimeout, match="bulkhead slot"):
            async with bulkhead.slot(0.01):
                pass


# -- the policy around real HTTP (respx) ----------------------------------------------------


@respx.mock
async def test_a_503_read_is_retried_after_a_jittered_backoff(wms: WmsClient, clock: FakeClock) -> None:
    route = respx.get(LEVELS).mock(side_effect=[httpx.Response(503), httpx.Response(200, json=EMPTY)])
    assert await wms.inventory_levels(["SKU-1"]) == {"SKU-1": []}
    assert route.call_count == 2 and wms.stats.calls == 2
    (wait,) = clock.sleeps
    assert 0.0 <= wait <= 0.05


@respx.mock
async def test_429_waits_exactly_the_retry_after_when_it_fits_the_budget(
    wms: WmsClient, clock: FakeClock
) -> None:
    route = respx.get(LEVELS).mock(side_effect=[
        httpx.Response(429, headers={"Retry-After": "1"}, json={"error": {"type": "rate_limited"}}),
        httpx.Response(200, json=EMPTY),
    ])
    with request_scope(2.5, clock=clock):
        assert await wms.inventory_levels(["SKU-1"]) == {"SKU-1": []}
    assert route.call_count == 2 and clock.sleeps == [1.0]
    assert wms.resilience.breaker.window.totals().failures == 0  # throttling is not an outage


@respx.mock
async def test_a_retry_after_beyond_the_budget_fails_at_once(wms: WmsClient, clock: FakeClock) -> None:
    route = respx.get(LEVELS).respond(429, headers={"Retry-After": "3"}, json={"error": {}})
    with request_scope(2.5, clock=clock), pytest.raises(SourceThrottled) as caught:
        await wms.inventory_levels(["SKU-1"])
    assert caught.value.retry_after == 3.0
    assert route.call_count == 1 and clock.sleeps == []


class BrokenBody(httpx.AsyncByteStream):
    """A body that starts, then the connection is reset."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'{"inventory_levels": ['
        raise httpx.ReadError("connection reset by peer")


class EndlessBody(httpx.AsyncByteStream):
    """A slow-loris upstream: one byte, then nothing, forever."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b"{"
        await asyncio.Event().wait()
        yield b""  # pragma: no cover


@respx.mock
async def test_a_connection_reset_mid_body_is_retried(wms: WmsClient) -> None:
    route = respx.get(LEVELS).mock(side_effect=[
        httpx.Response(200, stream=BrokenBody()), httpx.Response(200, json=EMPTY)])
    assert await wms.inventory_levels(["SKU-1"]) == {"SKU-1": []}
    assert route.call_count == 2
    assert wms.resilience.breaker.window.totals().failures == 1


@respx.mock
async def test_malformed_json_fails_the_read_without_a_retry(wms: WmsClient) -> None:
    route = respx.get(LEVELS).respond(200, content=b"<html>502 from a proxy</html>")
    with pytest.raises(SourceUnavailable, match="malformed JSON"):
        await wms.inventory_levels(["SKU-1"])
    assert route.call_count == 1  # the same garbage would come back; the caller degrades


@respx.mock
async def test_a_slow_loris_upstream_is_cut_at_the_request_budget(clock: FakeClock) -> None:
    client = wms_client(clock, wms_timeout_s=30.0)
    route = respx.get(LEVELS).mock(return_value=httpx.Response(200, stream=EndlessBody()))
    try:
        with request_scope(0.2), pytest.raises(SourceTimeout):  # a real-time budget
            await client.inventory_levels(["SKU-1"])
    finally:
        await client.aclose()
    assert route.call_count == 1  # nothing left of the budget to retry with


@respx.mock
async def test_no_call_starts_once_the_budget_is_spent(wms: WmsClient, clock: FakeClock) -> None:
    route = respx.get(LEVELS).respond(json=EMPTY)
    with request_scope(0.0, clock=clock), pytest.raises(SourceTimeout, match="budget spent"):
        await wms.inventory_levels(["SKU-1"])
    assert route.call_count == 0 and wms.stats.calls == 0


@respx.mock
async def test_an_open_breaker_fails_fast_without_calling_or_retrying(clock: FakeClock) -> None:
    client = wms_client(clock, breaker_min_calls=3)
    route = respx.get(LEVELS).respond(503)
    try:
        with pytest.raises(SourceUnavailable):
            await client.inventory_levels(["SKU-1"])  # 3 attempts: the breaker opens
        assert client.resilience.breaker.state == OPEN and route.call_count == 3
        with pytest.raises(CircuitOpen):
            await client.inventory_levels(["SKU-2"])
        assert route.call_count == 3
    finally:
        await client.aclose()


@respx.mock
async def test_writes_are_retried_only_with_an_idempotency_key(clock: FakeClock) -> None:
    client = wms_client(clock, write_retry_attempts=3)
    route = respx.post(RESERVATIONS).mock(
        side_effect=[httpx.Response(503), httpx.Response(503), httpx.Response(201, json={})])
    try:
        with pytest.raises(SourceUnavailable):
            await client._request_json("POST", "/v1/reservations", json={"sku": "S"})
        assert route.call_count == 1  # no key: a repeat could reserve twice
        await client._request_json("POST", "/v1/reservations", json={"sku": "S"},
                                   headers={"Idempotency-Key": "k-1"})
        assert route.call_count == 3
        assert {c.request.headers.get("idempotency-key") for c in route.calls[1:]} == {"k-1"}
    finally:
        await client.aclose()


@respx.mock
async def test_keyed_writes_are_not_retried_by_default(wms: WmsClient) -> None:
    route = respx.post(RESERVATIONS).respond(503)
    with pytest.raises(SourceUnavailable):
        await wms._request_json("POST", "/v1/reservations", json={"sku": "S"},
                                headers={"Idempotency-Key": "k-2"})
    assert route.call_count == 1  # the orchestrator retries the whole step with the same key


@respx.mock
async def test_an_outage_costs_at_most_the_retry_budget(clock: FakeClock) -> None:
    client = wms_client(clock, breaker_min_calls=10_000, retry_budget_min=2)
    route = respx.get(LEVELS).respond(503)
    try:
        for n in range(50):
            with pytest.raises(SourceUnavailable):
                await client.inventory_levels([f"SKU-{n}"])
            clock.now += 0.01
    finally:
        await client.aclose()
    assert route.call_count <= 50 + 0.2 * 50 + 2  # 1 + the budget share per call, no storm
    assert client.resilience.retry_budget.denied > 0
