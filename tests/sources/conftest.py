"""Source clients wired to the real sandbox apps in process, with request recording."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from sources import Sources, build_sources

TOKEN = "sandbox-token"


class RecordingTransport(httpx.AsyncBaseTransport):
    """Passes requests to the sandbox app and keeps them, to assert what was asked for."""

    def __init__(self, app: Any) -> None:
        self.inner = httpx.ASGITransport(app=app)
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await request.aread()
        self.requests.append(request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


class FakeClock:
    """Monotonic time the test moves by hand (TTL expiry without sleeping)."""

    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def apps() -> Any:
    """A freshly seeded sandbox (seed 42, dates relative to today)."""
    from sandbox.apps import build  # only the end-to-end tests need the sandbox

    return build(seed=42)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def recorders(apps: Any) -> dict[str, RecordingTransport]:
    return {name: RecordingTransport(getattr(apps, name)) for name in ("erp", "wms", "servicedesk")}


@pytest.fixture
async def sources(
    recorders: dict[str, RecordingTransport], clock: FakeClock
) -> AsyncIterator[Sources]:
    """The three clients over the sandbox apps, on a hand-moved clock."""
    built = build_sources(None, transports=recorders, clock=clock)
    yield built
    await built.aclose()


@pytest.fixture
async def raw(apps: Any) -> AsyncIterator[Callable[[str], httpx.AsyncClient]]:
    """Authenticated raw clients to the sandbox apps, for comparing with upstream JSON."""
    opened: list[httpx.AsyncClient] = []

    def open_client(name: str) -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=getattr(apps, name)),
            base_url=f"http://{name}",
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        await client.aclose()


@pytest.fixture
def upstream_stats(raw: Callable[[str], httpx.AsyncClient]) -> Callable[..., Any]:
    """`await upstream_stats("erp")` → the sandbox's own request counters;
    `await upstream_stats("erp", reset=True)` zeroes them first."""

    async def read(name: str, reset: bool = False) -> dict[str, Any]:
        client = raw(name)
        if reset:
            (await client.post("/_sandbox/stats/reset")).raise_for_status()
        response = await client.get("/_sandbox/stats")
        response.raise_for_status()
        return dict(response.json())

    return read
