"""With RETAILGRAPH_DATABASE_URL the orchestrator keeps DBOS and its journal in PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from workflow_support import (
    ANY_APPROVAL,
    APPROVE_REFUND,
    INITIATE_RETURN,
    Facts,
    FaultyTransport,
    Upstreams,
    bearer,
    fast_settings,
    return_input,
    running_graph,
)

from graph.settings import Settings

pytestmark = pytest.mark.postgres
ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture
def database_url() -> Iterator[str]:
    """A fresh, empty database for this test, dropped afterwards."""
    psycopg = pytest.importorskip("psycopg")
    name = f"retailgraph_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return fast_settings(tmp_path, database_url=database_url, refund_approval_threshold=ANY_APPROVAL)


async def test_an_approval_survives_a_restart_on_postgresql(
    settings: Settings, transports: dict[str, FaultyTransport], facts: Facts, upstreams: Upstreams
) -> None:
    async def call(app: Starlette, query: str, variables: dict[str, Any], **headers: str) -> Any:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://graph") as http:
            response = await http.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
            return response.json()

    async with running_graph(settings, transports) as app:
        started = (await call(app, INITIATE_RETURN, return_input("pg-1", (10000, 1))))["data"]["initiateReturn"]
        assert started["workflow"]["status"] == "AWAITING_APPROVAL"
    # A new process (here: a new app and DBOS launch) on the same database picks the workflow up.
    async with running_graph(settings, transports) as app:
        body = await call(app, APPROVE_REFUND, {"input": {"refundId": started["refund"]["id"], "approve": True}},
                          **bearer(settings, "supervisor", "sup-pg"))
        approved = body["data"]["approveRefund"]
        assert approved["workflow"]["status"] == "COMPLETED", approved
        assert approved["refund"]["status"] == "POSTED"
        assert approved["refund"]["approvedBy"] == "sup-pg"
    rma = started["return"]["rmaNumber"]
    (memo,) = await upstreams.erp("salesCreditMemos", f"externalDocumentNumber eq '{rma}'")
    assert memo["status"] == "Open"
    assert facts.invoice == memo["invoiceNumber"]

