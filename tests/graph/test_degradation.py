"""Graceful degradation end to end: the graph on the real sandbox apps with faults injected.

Each fault checks what a user of the agent desktop would notice: the HTTP status, the data
that still arrives, the error codes on exactly the affected fields, how many upstream
attempts it cost (the sandbox counts them), the breaker's transitions, and recovery.
Time is frozen for breakers and budgets where a test waits on them (`frozen` fixture);
the request deadline itself runs on real time with budgets of a fraction of a second.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from graph.app import create_app
from graph.settings import Settings
from sandbox.apps import SandboxApps
from sandbox.seed import FIXTURES
from sources.breaker import CLOSED, HALF_OPEN, OPEN

ADA = FIXTURES["customer"]
NAMES = ("erp", "wms", "servicedesk")

CUSTOMER_360 = """
query($number: String!) { customer(number: $number) {
  number name loyalty { tier points } creditLimit { amount } balance { amount }
  orders(first: 20) { nodes { number status total { amount } shipments { status trackingNumber } } }
  cases(first: 20) { nodes { number subject status } }
} }
"""
INVENTORY = """
query($skus: [String!]!) { inventory(skus: $skus) { sku available location { id } } }
"""
ORDERS_OF = """
query($number: String!) { orders(customerNumber: $number, first: 5) { nodes { number status } } }
"""


class FakeClock:
    """Monotonic time moved by hand, and a sleep that moves it."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def settings(request: pytest.FixtureRequest) -> Settings:
    """Room for the 360 query, a 1 s budget and a small breaker; tests override via param."""
    base = Settings(max_query_cost=1_000_000, cost_bucket_size=10_000_000, request_budget_s=1.0,
                    breaker_min_calls=6, retry_budget_min=3)
    return replace(base, **getattr(request, "param", {}))


class ScriptedTransport(httpx.AsyncBaseTransport):
    """The sandbox app behind a transport that can break chosen responses (like respx would)."""

    def __init__(self, app: Any) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.faults: list[tuple[str, str, int]] = []  # (path regex, mode, times)

    def inject(self, path: str, mode: str, times: int = 1_000_000) -> None:
        """`mode`: reset (body cut mid-way), garbage (200 with HTML), loris (body never ends)."""
        self.faults.append((path, mode, times))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        for index, (path, mode, times) in enumerate(self.faults):
            if times > 0 and re.search(path, request.url.path):
                self.faults[index] = (path, mode, times - 1)
                await self.inner.handle_async_request(request)  # the upstream saw the call
                if mode == "garbage":
                    return httpx.Response(200, content=b"<html>Bad gateway</html>")
                return httpx.Response(200, stream=BrokenBody() if mode == "reset" else EndlessBody())
        return await self.inner.handle_async_request(request)


class BrokenBody(httpx.AsyncByteStream):
    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'{"shipments": [{"id": '
        raise httpx.ReadError("connection reset by peer")


class EndlessBody(httpx.AsyncByteStream):
    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b"{"
        await asyncio.Event().wait()
        yield b""  # pragma: no cover


@pytest.fixture
def transports(sandbox: SandboxApps) -> dict[str, ScriptedTransport]:
    return {name: ScriptedTransport(getattr(sandbox, name)) for name in NAMES}


@pytest.fixture
async def graph_app(settings: Settings, transports: dict[str, ScriptedTransport]) -> AsyncIterator[Starlette]:
    app = create_app(settings, transports=transports)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
def frozen(graph_app: Starlette) -> FakeClock:
    """Breakers, retry budgets and health windows on a hand-moved clock; backoff not slept."""
    fake = FakeClock()
    for client in graph_app.state.sources:
        client.resilience.use_clock(fake, fake.sleep)
    return fake


@pytest.fixture
def ask(client: httpx.AsyncClient) -> Callable[..., Any]:
    """POST a query; returns (status, body)."""

    async def run(query: str, **variables: Any) -> tuple[int, Any]:
        response = await client.post("/graphql", json={"query": query, "variables": variables})
        return response.status_code, response.json()

    return run


@pytest.fixture
def control(upstream: Callable[[str], httpx.AsyncClient]) -> Callable[..., Any]:
    """`await control(name, faults={...})` / `control(name, rate_limit={...})`; returns stats."""

    async def run(name: str, *, faults: dict[str, Any] | None = None,
                  rate_limit: dict[str, Any] | None = None, reset: bool = False) -> dict[str, Any]:
        async with upstream(name) as http:
            if faults is not None:
                (await http.put("/_sandbox/faults", json=faults)).raise_for_status()
            if rate_limit is not None:
                (await http.put("/_sandbox/rate-limit", json=rate_limit)).raise_for_status()
            if reset:
                (await http.post("/_sandbox/stats/reset")).raise_for_status()
            return dict((await http.get("/_sandbox/stats")).json())

    return run


def errors_by_path(body: Any) -> dict[str, tuple[str, str | None]]:
    """{"customer.orders": (code, source)} for every error of a response."""
    return {
        ".".join(str(p) for p in error["path"]): (error["extensions"]["code"],
                                                   error["extensions"].get("source"))
        for error in body.get("errors", [])
    }


def resilience(app: Starlette, name: str) -> Any:
    return app.state.sources.by_name(name).resilience


def counts(app: Starlette, name: str) -> tuple[int, int]:
    """(attempts sent, logical calls made) by one source so far."""
    policy = resilience(app, name)
    return policy.attempts, policy.retry_budget.window.totals().calls


def no_storm(app: Starlette, name: str, sent: int, since: tuple[int, int] = (0, 0)) -> None:
    """Every attempt the upstream saw was a first try or a retry the budget paid for."""
    policy = resilience(app, name)
    attempts, logical = (now - before for now, before in zip(counts(app, name), since))
    assert sent == attempts
    assert sent <= logical * (1 + policy.retry_budget.ratio) + policy.retry_budget.min_retries


# -- ERP outage -----------------------------------------------------------------------------


async def test_erp_outage_still_shows_cases_loyalty_and_stock_with_coded_gaps(
    ask: Callable[..., Any], control: Callable[..., Any], graph_app: Starlette
) -> None:
    await control("erp", faults={"outage": True}, reset=True)
    status, body = await ask(CUSTOMER_360, number=ADA)
    assert status == 200
    customer = body["data"]["customer"]
    assert (customer["number"], customer["name"]) == (ADA, "Ada Lovelace")  # from its profile
    assert customer["loyalty"]["tier"] and customer["cases"]["nodes"]
    assert customer["creditLimit"] is None and customer["balance"] is None
    assert customer["orders"] is None  # shipments hang off orders: the WMS has no by-customer index
    unavailable = ("SOURCE_UNAVAILABLE", "erp")
    assert errors_by_path(body) == {
        "customer.creditLimit": unavailable,
        "customer.balance": unavailable,
        "customer.orders": unavailable,
    }
    status, stock = await ask(INVENTORY, skus=["SKU-00001", "SKU-00002"])
    assert status == 200 and "errors" not in stock and stock["data"]["inventory"]
    no_storm(graph_app, "erp", (await control("erp"))["requests"])


async def test_erp_outage_serves_stale_copies_and_says_how_old(
    ask: Callable[..., Any], control: Callable[..., Any], graph_app: Starlette
) -> None:
    _, warm = await ask(CUSTOMER_360, number=ADA)
    assert "errors" not in warm and "stale" not in warm.get("extensions", {})
    for client in graph_app.state.sources:
        client.caches.clear()  # every fresh copy expired; the stale copies remain
    await control("erp", faults={"outage": True})
    wms_before = (await control("wms"))["requests"]

    status, body = await ask(CUSTOMER_360, number=ADA)
    assert status == 200 and "errors" not in body
    assert body["data"] == warm["data"]
    stale = body["extensions"]["stale"]
    assert set(stale) == {"erp"} and isinstance(stale["erp"], int) and stale["erp"] >= 0
    assert (await control("wms"))["requests"] > wms_before  # shipments came fresh from the WMS


async def test_stale_copies_cover_only_the_keys_that_have_one(
    ask: Callable[..., Any], control: Callable[..., Any], graph_app: Starlette
) -> None:
    other = "C-10002"
    await ask(ORDERS_OF, number=ADA)
    graph_app.state.sources.erp.caches.clear()
    await control("erp", faults={"outage": True})
    query = """query($a: String!, $b: String!) {
      a: orders(customerNumber: $a, first: 5) { nodes { number } }
      b: orders(customerNumber: $b, first: 5) { nodes { number } } }"""
    status, body = await ask(query, a=ADA, b=other)
    assert status == 200
    assert body["data"]["a"]["nodes"] and body["data"]["b"] is None
    assert errors_by_path(body) == {"b": ("SOURCE_UNAVAILABLE", "erp")}
    assert "erp" in body["extensions"]["stale"]


# -- WMS latency against the budget ---------------------------------------------------------


@pytest.mark.parametrize("settings", [{"request_budget_s": 0.3}], indirect=True)
async def test_a_wms_three_times_slower_than_the_budget_costs_only_its_fields(
    ask: Callable[..., Any], control: Callable[..., Any], graph_app: Starlette
) -> None:
    await control("wms", faults={"latency_ms": 900}, reset=True)
    status, body = await ask(CUSTOMER_360, number=ADA)
    assert status == 200
    customer = body["data"]["customer"]
    assert customer["creditLimit"] and customer["cases"]["nodes"]
    orders = customer["orders"]["nodes"]
    assert orders and all(order["shipments"] is None for order in orders)
    assert set(errors_by_path(body).values()) == {("SOURCE_UNAVAILABLE", "wms")}
    assert {path.rsplit(".", 1)[-1] for path in errors_by_path(body)} == {"shipments"}
    assert any("in time" in error["message"] for error in body["errors"])
    sent = (await control("wms"))["requests"]
    assert sent == 1  # one batched shipments read, cut at the deadline, no time left to retry
    no_storm(graph_app, "wms", sent)

    await control("wms", faults={"latency_ms": 0})
    _, recovered = await ask(CUSTOMER_360, number=ADA)
    assert "errors" not in recovered


# -- random 503s ----------------------------------------------------------------------------


@pytest.mark.parametrize("settings", [{"breaker_min_calls": 20, "entity_cache": False}], indirect=True)
async def test_30_percent_erp_503s_cost_at_most_the_retry_budget(
    ask: Callable[..., Any], control: Callable[..., Any], graph_app: Starlette, frozen: FakeClock
) -> None:
    await ask(ORDERS_OF, number=ADA)  # company discovery, before the faults
    await control("erp", faults={"error_rate": 0.3}, reset=True)
    since = counts(graph_app, "erp")
    complete = 0
    for n in range(40):
        status, body = await ask(ORDERS_OF, number=f"C-{10001 + n}")
        assert status == 200
        if "errors" not in body:
            complete += 1
        else:
            assert errors_by_path(body) == {"orders": ("SOURCE_UNAVAILABLE", "erp")}
        frozen.now += 0.05
    assert complete > 28  # 70% (28) would be complete without retries
    no_storm(graph_app, "erp", (await control("erp"))["requests"], since)
    assert resilience(graph_app, "erp").breaker.state == CLOSED


# -- 429 with Retry-After -------------------------------------------------------------------


async def test_a_throttled_service_platform_is_not_retried_past_the_budget(
    ask: Callable[..., Any], control: Callable[..., Any], graph_app: Starlette
) -> None:
    await control("servicedesk", rate_limit={"limit": 0, "window_seconds": 60}, reset=True)
    status, body = await ask(CUSTOMER_360, number=ADA)
    assert status == 200
    customer = body["data"]["customer"]
    assert customer["orders"]["nodes"] and customer["loyalty"] is None and customer["cases"] is None
    assert errors_by_path(body) == {"customer.loyalty": ("SOURCE_UNAVAILABLE", "servicedesk"),
                                    "customer.cases": ("SOURCE_UNAVAILABLE", "servicedesk")}
    sent = (await control("servicedesk"))["requests"]
    policy = resilience(graph_app, "servicedesk")
    # Retry-After: 60 does not fit a 1 s budget: one attempt per read, no retry at all.
    assert sent == policy.retry_budget.window.totals().calls == policy.attempts
    assert policy.retries == 0
    assert resilience(graph_app, "servicedesk").breaker.window.totals().failures == 0

    await control("servicedesk", rate_limit={"limit": 1_000_000, "window_seconds": 60})
    _, recovered = await ask(CUSTOMER_360, number=ADA)
    assert "errors" not in recovered


# -- broken bodies (what the sandbox cannot do) ---------------------------------------------


async def test_a_reset_mid_body_is_retried_and_nobody_notices(
    ask: Callable[..., Any], control: Callable[..., Any],
    transports: dict[str, ScriptedTransport], graph_app: Starlette,
) -> None:
    transports["wms"].inject(r"^/v1/shipments$", "reset", times=1)
    await control("wms", reset=True)
    status, body = await ask(CUSTOMER_360, number=ADA)
    assert status == 200 and "errors" not in body
    assert any(o["shipments"] for o in body["data"]["customer"]["orders"]["nodes"])
    assert (await control("wms"))["requests"] == 2


async def test_malformed_json_fails_only_the_fields_behind_it(
    ask: Callable[..., Any], control: Callable[..., Any],
    transports: dict[str, ScriptedTransport], graph_app: Starlette,
) -> None:
    transports["wms"].inject(r"^/v1/shipments$", "garbage", times=1)
    await control("wms", reset=True)
    status, body = await ask(CUSTOMER_360, number=ADA)
    assert status == 200
    assert set(errors_by_path(body).values()) == {("SOURCE_UNAVAILABLE", "wms")}
    assert body["data"]["customer"]["cases"]["nodes"]
    assert (await control("wms"))["requests"] == 1  # the same garbage would come back

    _, recovered = await ask(CUSTOMER_360, number=ADA)
    assert "errors" not in recovered


# The module's 1 s budget: the loris is cut at it all the same, and the rest of the 360 (every
# other read and the fields) has more room on a loaded machine (with 0.3 s this failed once in
# a full run on the shared two cores, and passed alone and under two busy loops).
async def test_a_slow_loris_wms_is_cut_at_the_budget(
    ask: Callable[..., Any], control: Callable[..., Any],
    transports: dict[str, ScriptedTransport], graph_app: Starlette,
) -> None:
    transports["wms"].inject(r"^/v1/shipments$", "loris", times=1)
    await control("wms", reset=True)
    status, body = await ask(CUSTOMER_360, number=ADA)
    assert status == 200
    assert set(errors_by_path(body).values()) == {("SOURCE_UNAVAILABLE", "wms")}
    assert body["data"]["customer"]["creditLimit"]
    assert (await control("wms"))["requests"] == 1
    assert resilience(graph_app, "wms").breaker.window.totals().failures == 1


# -- breaker and readiness ------------------------------------------------------------------


async def test_the_erp_breaker_opens_fails_fast_and_closes_after_recovery(
    ask: Callable[..., Any], control: Callable[..., Any], client: httpx.AsyncClient,
    graph_app: Starlette, frozen: FakeClock,
) -> None:
    breaker = resilience(graph_app, "erp").breaker
    await control("erp", faults={"outage": True}, reset=True)
    while breaker.state != OPEN:
        await ask(CUSTOMER_360, number=ADA)
        frozen.now += 0.1
    sent = (await control("erp"))["requests"]
    assert sent == 6  # breaker_min_calls

    ready = await client.get("/readyz")
    assert ready.status_code == 200  # one source down is degraded, never unready
    report = ready.json()
    assert report["status"] == "degraded"
    assert report["sources"]["erp"]["breaker"] == OPEN and report["sources"]["erp"]["error_rate"] == 1.0
    assert report["sources"]["wms"]["breaker"] == CLOSED

    status, body = await ask(CUSTOMER_360, number=ADA)
    assert status == 200 and body["data"]["customer"]["cases"]["nodes"]
    assert set(errors_by_path(body).values()) == {("SOURCE_UNAVAILABLE", "erp")}
    assert (await control("erp"))["requests"] == sent  # failed fast: the ERP was left alone

    await control("erp", faults={"outage": False})
    frozen.now += 5.0  # breaker_open_s
    assert breaker.state == HALF_OPEN
    # Each 360's ERP reads ride in one $batch (sources/erp_coalesce.py): a query is one probe
    # (two for the first, which also discovers the company), so new customers until three.
    for number in ("C-10002", "C-10003", "C-10004"):
        if breaker.state == CLOSED:
            break
        await ask(CUSTOMER_360, number=number)
    assert breaker.state == CLOSED
    _, body = await ask(CUSTOMER_360, number=ADA)
    assert "errors" not in body
    assert [state for _, state in breaker.transitions] == [OPEN, HALF_OPEN, CLOSED]
    assert (await client.get("/readyz")).json()["status"] == "ready"


async def test_readiness_fails_only_when_every_source_is_open(
    ask: Callable[..., Any], control: Callable[..., Any], client: httpx.AsyncClient,
    graph_app: Starlette, frozen: FakeClock,
) -> None:
    for name in NAMES:
        await control(name, faults={"outage": True})
    statuses = []
    for name, query, variables in [("erp", ORDERS_OF, {"number": ADA}),
                                   ("wms", INVENTORY, {"skus": ["SKU-00001"]}),
                                   ("servicedesk", CUSTOMER_360, {"number": ADA})]:
        while resilience(graph_app, name).breaker.state != OPEN:
            await ask(query, **variables)
        statuses.append((await client.get("/readyz")).status_code)
    assert statuses == [200, 200, 503]
    assert (await client.get("/readyz")).json()["status"] == "unavailable"
