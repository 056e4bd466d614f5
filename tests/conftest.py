"""The end-to-end harness: the graph app mounted on the real sandbox apps, in process.

Every hop is real HTTP semantics over `httpx.ASGITransport`: the test client talks to the
graph app, and the graph's sources talk to the three sandbox apps.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from graph.app import create_app
from graph.settings import Settings
from sandbox.apps import SandboxApps, build

SANDBOX_TOKEN = "sandbox-token"


@pytest.fixture
def sandbox() -> SandboxApps:
    """A freshly seeded sandbox (seed 42, dates relative to today)."""
    return build(seed=42)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Development settings with a private data dir (the orchestrator's SQLite database);
    sources reach the sandbox through transports, not ports."""
    return Settings(data_dir=tmp_path / "data")


@pytest.fixture
async def graph_app(sandbox: SandboxApps, settings: Settings) -> AsyncIterator[Starlette]:
    """The graph app with its lifespan running, wired to the sandbox."""
    transports = {
        "erp": httpx.ASGITransport(app=sandbox.erp),
        "wms": httpx.ASGITransport(app=sandbox.wms),
        "servicedesk": httpx.ASGITransport(app=sandbox.servicedesk),
    }
    app = create_app(settings, transports=transports)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(graph_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the graph."""
    transport = httpx.ASGITransport(app=graph_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://graph") as http:
        yield http


@pytest.fixture
def gql(client: httpx.AsyncClient) -> Callable[..., Any]:
    """POST a GraphQL document; returns the decoded JSON body (status asserted 200)."""

    async def run(query: str, variables: dict[str, Any] | None = None, **headers: str) -> Any:
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert response.status_code == 200, response.text
        return response.json()

    return run


@pytest.fixture
def upstream(sandbox: SandboxApps) -> Callable[[str], httpx.AsyncClient]:
    """Raw, authenticated clients to a sandbox app, for checking what the upstreams hold."""

    def open_client(name: str) -> httpx.AsyncClient:
        app = getattr(sandbox, name)
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url=f"http://{name}",
            headers={"Authorization": f"Bearer {SANDBOX_TOKEN}"},
        )

    return open_client


# ── Real PostgreSQL and Redis (scale-out tests); absent → the test is skipped, with the reason ──

REDIS_URL = "redis://127.0.0.1:6379/0"
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    """Redis on 127.0.0.1:6379, or a skip saying why not."""
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError

    client = aioredis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        pytest.skip(f"Redis is not reachable at {REDIS_URL}: {exc}")
    finally:
        await client.aclose()
    yield REDIS_URL


@pytest.fixture
async def redis_prefix(redis_url: str) -> AsyncIterator[str]:
    """A key and channel namespace no other test uses; its keys are deleted afterwards."""
    import uuid

    import redis.asyncio as aioredis

    prefix = f"rg-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    client = aioredis.Redis.from_url(redis_url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test (dropped afterwards), or a skip saying why not."""
    import uuid

    import psycopg

    name = f"retailgraph_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable at 127.0.0.1:5432: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
