"""Fixtures for tests that run the graph, its orchestrator (SQLite in a tmp dir) and the real sandbox.

Conftests that need them import them by name, so the fixtures are defined once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from workflow_support import (
    Facts,
    FaultyTransport,
    Upstreams,
    delivered_facts,
    fast_settings,
    running_graph,
    transports_for,
)

from graph.settings import Settings
from sandbox.apps import SandboxApps


@pytest.fixture
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """Quick retries, a private data dir, and mutations that wait for their workflow
    (indirect parametrization may pass overrides)."""
    return fast_settings(tmp_path, **getattr(request, "param", {}))


@pytest.fixture
def transports(sandbox: SandboxApps) -> dict[str, FaultyTransport]:
    """The sources' transports, open to fault injection."""
    return transports_for(sandbox)


@pytest.fixture
async def graph_app(settings: Settings, transports: dict[str, FaultyTransport]) -> AsyncIterator[Starlette]:
    """The graph app with its orchestrator, wired to the sandbox."""
    async with running_graph(settings, transports) as app:
        yield app


@pytest.fixture
def upstreams(sandbox: SandboxApps) -> Upstreams:
    """What the ERP, WMS and service platform hold."""
    return Upstreams(sandbox)


@pytest.fixture
async def facts(upstreams: Upstreams) -> Facts:
    """The delivered order as the seed made it."""
    return await delivered_facts(upstreams)
