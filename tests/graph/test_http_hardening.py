"""HTTP hardening: body limits, CSRF prevention, GET rules, media types, CORS, request ids.

(Named `test_http_hardening.py` because `tests/sources/test_http.py` exists and pytest's
rootdir imports need unique basenames.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from graph.http import negotiate
from graph.settings import Settings
from security_support import PREFLIGHT, bearer, codes, open_client, production_settings, upstream_requests

QUERY = '{ customer(number: "C-10001") { name } }'
GRAPHQL_RESPONSE = "application/graphql-response+json"


@pytest.fixture
def settings() -> Settings:
    """Development with a CORS allow-list."""
    return Settings(cors_origins=("https://desk.example",))


async def test_a_5_mb_document_is_413_before_anyone_parses_it(
    client: httpx.AsyncClient, sandbox: Any
) -> None:
    before = await upstream_requests(sandbox)
    huge = "{ " + "customer(number: \"C-10001\") { name } " * 150_000 + "}"
    assert len(huge) > 5_000_000
    response = await client.post("/graphql", json={"query": huge})
    assert response.status_code == 413 and codes(response.json()) == ["BAD_USER_INPUT"]
    assert await upstream_requests(sandbox) == before


async def test_a_streamed_body_without_content_length_is_cut_off_at_the_limit(
    client: httpx.AsyncClient,
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "'
        for _ in range(200):
            yield b"x" * 10_000

    response = await client.post(
        "/graphql", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


async def test_a_mutation_over_get_is_405(client: httpx.AsyncClient, sandbox: Any) -> None:
    before = await upstream_requests(sandbox)
    response = await client.get(
        "/graphql", params={"query": "mutation { __typename }"}, headers=PREFLIGHT
    )
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert codes(response.json()) == ["BAD_USER_INPUT"]
    assert await upstream_requests(sandbox) == before


async def test_a_query_over_get_runs(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", params={"query": QUERY}, headers=PREFLIGHT)
    assert response.json()["data"]["customer"]["name"] == "Ada Lovelace"


async def test_a_text_plain_post_is_blocked_as_csrf(client: httpx.AsyncClient, sandbox: Any) -> None:
    before = await upstream_requests(sandbox)
    body = '{"query": "{ customer(number: \\"C-10001\\") { name } }"}'
    response = await client.post("/graphql", content=body, headers={"content-type": "text/plain"})
    assert response.status_code == 400 and codes(response.json()) == ["BAD_USER_INPUT"]
    assert "Cross-Site Request Forgery" in response.json()["errors"][0]["message"]
    assert await upstream_requests(sandbox) == before


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
)
async def test_other_simple_content_types_are_blocked_too(
    client: httpx.AsyncClient, content_type: str
) -> None:
    response = await client.post("/graphql", content=b"query=x", headers={"content-type": content_type})
    assert response.status_code == 400


async def test_a_get_without_a_preflight_header_is_blocked(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", params={"query": QUERY})
    assert response.status_code == 400
    allowed = await client.get(
        "/graphql", params={"query": QUERY}, headers={"x-apollo-operation-name": "Ada"}
    )
    assert allowed.status_code == 200


async def test_a_preflighted_text_plain_post_is_415(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", content=b"{}", headers={"content-type": "text/plain", **PREFLIGHT}
    )
    assert response.status_code == 415


async def test_graphql_response_json_uses_status_codes_for_request_errors(
    client: httpx.AsyncClient,
) -> None:
    accept = {"accept": f"{GRAPHQL_RESPONSE}, application/json;q=0.9"}
    invalid = await client.post("/graphql", json={"query": "{ nope }"}, headers=accept)
    assert invalid.status_code == 400
    assert invalid.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert "data" not in invalid.json()
    valid = await client.post("/graphql", json={"query": QUERY}, headers=accept)
    assert valid.status_code == 200 and valid.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    legacy = await client.post("/graphql", json={"query": "{ nope }"}, headers={"accept": "application/json"})
    assert legacy.status_code == 200 and legacy.headers["content-type"].startswith("application/json")


async def test_bad_json_is_400_and_an_unacceptable_accept_is_406(client: httpx.AsyncClient) -> None:
    bad = await client.post("/graphql", content=b"{nope", headers={"content-type": "application/json"})
    assert bad.status_code == 400 and codes(bad.json()) == ["BAD_USER_INPUT"]
    xml = await client.post("/graphql", json={"query": QUERY}, headers={"accept": "application/xml"})
    assert xml.status_code == 406


def test_accept_negotiation() -> None:
    assert negotiate(None) == "application/json"
    assert negotiate("*/*") == "application/json"
    assert negotiate(GRAPHQL_RESPONSE) == GRAPHQL_RESPONSE
    assert negotiate(f"application/json, {GRAPHQL_RESPONSE};q=0.5") == "application/json"
    assert negotiate("text/html") is None


async def test_request_ids_are_kept_or_minted(client: httpx.AsyncClient) -> None:
    kept = await client.post("/graphql", json={"query": QUERY}, headers={"x-request-id": "abc-123"})
    assert kept.headers["x-request-id"] == "abc-123"
    minted = await client.post("/graphql", json={"query": QUERY}, headers={"x-request-id": "<script>"})
    assert minted.headers["x-request-id"] != "<script>" and len(minted.headers["x-request-id"]) == 32


async def test_cors_answers_only_allowed_origins(client: httpx.AsyncClient) -> None:
    preflight = {"access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type"}
    allowed = await client.options("/graphql", headers={"origin": "https://desk.example", **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://desk.example"
    refused = await client.options("/graphql", headers={"origin": "https://evil.example", **preflight})
    assert "access-control-allow-origin" not in refused.headers


async def test_graphiql_is_served_to_browsers_in_development_only(
    sandbox: Any, settings: Settings
) -> None:
    # One app at a time: DBOS, which the app's lifespan starts, is one per process.
    browser = {"accept": "text/html,application/xhtml+xml"}
    async with open_client(sandbox, settings) as development:
        page = await development.get("/graphql", headers=browser)
    assert page.status_code == 200 and "<html" in page.text.lower()
    settings = production_settings()
    async with open_client(sandbox, settings) as production:
        hidden = await production.get("/graphql", headers={**browser, **bearer(settings, "developer")})
        assert hidden.status_code == 404 and "<html" not in hidden.text.lower()
        assert (await production.get("/graphql", headers=browser)).status_code == 401


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ('{ customer(number: "C-10001" { name } }', "Syntax Error"),
        ('{ customer(number: "C-10001") { nmae } }', "Cannot query field 'nmae'"),
        ("query ($n: Int!) { customer(number: $n) { name } }", "Variable"),
    ],
)
async def test_a_malformed_query_gets_a_readable_coded_error_and_calls_nothing(
    client: httpx.AsyncClient, sandbox: Any, document: str, message: str
) -> None:
    response = await client.post("/graphql", json={"query": document, "variables": {"n": 1}})
    body = response.json()
    assert response.status_code == 200 and "data" not in body
    assert codes(body) == ["BAD_USER_INPUT"]
    assert message in body["errors"][0]["message"]
    assert await upstream_requests(sandbox) == 0
