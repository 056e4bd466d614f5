"""Fixtures for the sandbox tests: a seeded world on a fixed date and clients to its apps."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import date

import httpx
import pytest

from sandbox.apps import SandboxApps, build

NOW = date(2026, 3, 2)
TOKEN = "sandbox-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def world() -> SandboxApps:
    """A freshly seeded sandbox (seed 42) whose 'today' is NOW."""
    return build(seed=42, now=NOW)


@pytest.fixture
async def connect(world: SandboxApps) -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    """`connect("erp")` → an authenticated client; `connect("erp", auth=False)` → anonymous."""
    opened: list[httpx.AsyncClient] = []

    def open_client(name: str, *, auth: bool = True) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=getattr(world, name)),
                                   base_url=f"http://{name}", headers=AUTH if auth else {})
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        await client.aclose()


@pytest.fixture
def erp(connect: Callable[..., httpx.AsyncClient]) -> httpx.AsyncClient:
    """Authenticated ERP client."""
    return connect("erp")


@pytest.fixture
def wms(connect: Callable[..., httpx.AsyncClient]) -> httpx.AsyncClient:
    """Authenticated WMS client."""
    return connect("wms")


@pytest.fixture
def desk(connect: Callable[..., httpx.AsyncClient]) -> httpx.AsyncClient:
    """Authenticated service-desk client."""
    return connect("servicedesk")


@pytest.fixture
def company(world: SandboxApps) -> str:
    """The ERP base path of the single company."""
    return f"/api/v2.0/companies({world.data.company['id']})"
