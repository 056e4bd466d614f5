"""Persisted queries: APQ in development, per-client trusted documents in production."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from graph.persisted import TrustedDocuments, sha256_hex
from graph.settings import Settings
from security_support import (
    PREFLIGHT,
    bearer,
    codes,
    open_client,
    production_settings,
    upstream_requests,
    write_manifest,
)

ADA = '{ customer(number: "C-10001") { name } }'
UNKNOWN_HASH = "0" * 64


def persisted(document_hash: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": document_hash}}


async def test_an_unknown_hash_is_persisted_query_not_found(
    client: httpx.AsyncClient, sandbox: Any
) -> None:
    before = await upstream_requests(sandbox)
    response = await client.post("/graphql", json={"extensions": persisted(UNKNOWN_HASH)})
    body = response.json()
    assert response.status_code == 200 and "data" not in body
    assert codes(body) == ["PERSISTED_QUERY_NOT_FOUND"]
    assert body["errors"][0]["message"] == "PersistedQueryNotFound"  # what Apollo clients match
    assert await upstream_requests(sandbox) == before


async def test_apq_registers_then_serves_by_hash_over_get(client: httpx.AsyncClient) -> None:
    document_hash = sha256_hex(ADA)
    first = await client.post("/graphql", json={"extensions": persisted(document_hash)})
    assert codes(first.json()) == ["PERSISTED_QUERY_NOT_FOUND"]
    registered = await client.post("/graphql", json={"query": ADA, "extensions": persisted(document_hash)})
    assert registered.json()["data"]["customer"]["name"] == "Ada Lovelace"
    params = {"extensions": json.dumps(persisted(document_hash))}
    cached = await client.get("/graphql", params=params, headers=PREFLIGHT)
    assert cached.status_code == 200
    assert cached.json()["data"]["customer"]["name"] == "Ada Lovelace"
    assert "Authorization" in cached.headers["vary"]


async def test_a_hash_that_does_not_match_the_query_is_bad_input(client: httpx.AsyncClient) -> None:
    body = (await client.post("/graphql", json={"query": ADA, "extensions": persisted(UNKNOWN_HASH)})).json()
    assert codes(body) == ["BAD_USER_INPUT"] and "data" not in body


async def test_a_persisted_mutation_is_refused_over_get(client: httpx.AsyncClient) -> None:
    mutation = "mutation { __typename }"
    await client.post("/graphql", json={"query": mutation, "extensions": persisted(sha256_hex(mutation))})
    params = {"extensions": json.dumps(persisted(sha256_hex(mutation)))}
    response = await client.get("/graphql", params=params, headers=PREFLIGHT)
    assert response.status_code == 405 and response.headers["allow"] == "POST"


def test_a_manifest_whose_id_is_not_its_hash_is_rejected_at_start_up(tmp_path: Path) -> None:
    write_manifest(tmp_path, "store-app", [ADA])
    manifest = json.loads((tmp_path / "store-app.json").read_text())
    manifest["operations"][0]["body"] += " "
    (tmp_path / "store-app.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="SHA-256"):
        TrustedDocuments.from_directory(tmp_path)


# --- production: trusted documents per client app ---------------------------------------

STOCK = '{ inventory(skus: ["SKU-00001"]) { sku available } }'


@pytest.fixture
async def production(tmp_path: Path, sandbox: Any) -> AsyncIterator[tuple[httpx.AsyncClient, Settings]]:
    """The store app trusts STOCK; the agent desktop trusts ADA."""
    write_manifest(tmp_path, "store-app", [STOCK])
    write_manifest(tmp_path, "agent-desktop", [ADA])
    settings = production_settings(trusted_documents_dir=str(tmp_path))
    async with open_client(sandbox, settings) as client:
        yield client, settings


async def test_production_serves_a_clients_trusted_document_by_id(
    production: tuple[httpx.AsyncClient, Settings],
) -> None:
    client, settings = production
    store = bearer(settings, "store", client_id="store-app")
    by_post = await client.post("/graphql", json={"extensions": persisted(sha256_hex(STOCK))}, headers=store)
    assert "errors" not in by_post.json() and "inventory" in by_post.json()["data"]
    params = {"extensions": json.dumps(persisted(sha256_hex(STOCK)))}
    by_get = await client.get("/graphql", params=params, headers={**store, **PREFLIGHT})
    assert by_get.json()["data"] == by_post.json()["data"]


async def test_production_refuses_another_clients_document_and_unknown_ids(
    production: tuple[httpx.AsyncClient, Settings], sandbox: Any
) -> None:
    client, settings = production
    store = bearer(settings, "store", client_id="store-app")
    before = await upstream_requests(sandbox)
    for document_hash in (sha256_hex(ADA), UNKNOWN_HASH):
        body = (await client.post("/graphql", json={"extensions": persisted(document_hash)}, headers=store)).json()
        assert codes(body) == ["PERSISTED_QUERY_NOT_FOUND"]
    assert await upstream_requests(sandbox) == before


async def test_production_refuses_ad_hoc_documents_except_for_developers(
    production: tuple[httpx.AsyncClient, Settings], sandbox: Any
) -> None:
    client, settings = production
    before = await upstream_requests(sandbox)
    store = bearer(settings, "store", client_id="store-app")
    body = (await client.post("/graphql", json={"query": ADA}, headers=store)).json()
    assert codes(body) == ["FORBIDDEN"] and "data" not in body
    registering = {"query": ADA, "extensions": persisted(sha256_hex(ADA))}
    body = (await client.post("/graphql", json=registering, headers=store)).json()
    assert codes(body) == ["PERSISTED_QUERY_NOT_FOUND"]  # no APQ registration in production
    assert await upstream_requests(sandbox) == before

    same_text = await client.post("/graphql", json={"query": STOCK}, headers=store)
    assert "errors" not in same_text.json()  # the exact text of a trusted document is fine
    developer = bearer(settings, "developer")
    assert "errors" not in (await client.post("/graphql", json={"query": ADA}, headers=developer)).json()
