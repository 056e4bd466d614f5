"""Document limits refuse abusive queries before validation, execution or any upstream call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import parse

from graph.limits import Limits, limit_errors, max_depth
from graph.settings import Settings
import graph.cost as cost_module
from security_support import bearer, codes, production_settings, upstream_requests, write_manifest, open_client

LIMITS = Limits(max_depth=15, max_aliases=50, max_tokens=5000, max_directives=50, max_page_size=100)


async def refused(
    client: httpx.AsyncClient, sandbox: Any, query: str, code: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Assert a request error with `code`, no data, and no upstream request."""
    before = await upstream_requests(sandbox)
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "data" not in body and codes(body) == [code], body
    assert await upstream_requests(sandbox) == before
    return dict(body)


def nested(levels: int) -> str:
    """customer → orders → nodes → customer → … `levels` fields deep (valid at any depth)."""
    openers = ['customer(number: "C-10001") {']
    cycle = ["orders(first: 1) {", "nodes {", "customer {"]
    while len(openers) < levels - 1:
        openers.append(cycle[(len(openers) - 1) % 3])
    leaf = "totalCount" if openers[-1].startswith("orders") else "number"
    return "{ " + " ".join(openers) + f" {leaf} " + "} " * len(openers) + "}"


async def test_a_50_level_nested_query_is_too_complex(client: httpx.AsyncClient, sandbox: Any) -> None:
    body = await refused(client, sandbox, nested(50), "QUERY_TOO_COMPLEX")
    assert "depth" in body["errors"][0]["message"]


async def test_a_moderately_nested_query_runs(client: httpx.AsyncClient) -> None:
    response = await client.post("/graphql", json={"query": nested(6)})
    assert "errors" not in response.json(), response.text


async def test_1000_aliases_are_too_complex_and_refused_quickly(
    client: httpx.AsyncClient, sandbox: Any
) -> None:
    aliases = " ".join(f"a{i}: name" for i in range(1000))
    # The alias limit runs before validation, whose overlap check is quadratic in fields.
    body = await refused(client, sandbox, f'{{ customer(number: "C-10001") {{ {aliases} }} }}', "QUERY_TOO_COMPLEX")
    assert "1000 aliases" in body["errors"][0]["message"]


async def test_too_many_tokens_is_too_complex(client: httpx.AsyncClient, sandbox: Any) -> None:
    fields = " ".join("number" for _ in range(6000))
    await refused(client, sandbox, f'{{ customer(number: "C-10001") {{ {fields} }} }}', "QUERY_TOO_COMPLEX")


async def test_too_many_directives_is_too_complex(client: httpx.AsyncClient, sandbox: Any) -> None:
    fields = " ".join("number @include(if: true)" for _ in range(60))
    await refused(client, sandbox, f'{{ customer(number: "C-10001") {{ {fields} }} }}', "QUERY_TOO_COMPLEX")


@pytest.mark.parametrize("first", [101, 1000, -1])
async def test_page_sizes_outside_0_to_100_are_bad_input(
    client: httpx.AsyncClient, sandbox: Any, first: int
) -> None:
    await refused(client, sandbox, f"{{ customers(first: {first}) {{ nodes {{ number }} }} }}", "BAD_USER_INPUT")


async def test_page_size_from_a_variable_is_checked_too(client: httpx.AsyncClient, sandbox: Any) -> None:
    query = "query($n: Int!) { customers(first: $n) { nodes { number } } }"
    await refused(client, sandbox, query, "BAD_USER_INPUT", {"n": 500})


async def test_a_fragment_bomb_is_measured_without_expanding_it(
    client: httpx.AsyncClient, sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fragments = ["fragment F0 on Customer { number orders(first: 10) { nodes { number } } }"]
    for level in range(1, 12):
        spreads = " ".join(f"...F{level - 1}" for _ in range(8))
        fragments.append(f"fragment F{level} on Customer {{ {spreads} }}")
    query = '{ customer(number: "C-10001") { ...F11 } } ' + " ".join(fragments)
    visits: list[str] = []
    real = cost_module._Calculator.field_cost
    monkeypatch.setattr(
        cost_module._Calculator, "field_cost",
        lambda self, node, *args: visits.append(node.name.value) or real(self, node, *args),
    )
    response = await client.post("/graphql", json={"query": query})
    assert codes(response.json()) == ["QUERY_TOO_COMPLEX"], response.text
    assert 0 < len(visits) < 100  # each fragment costed once; expanded it would be 8**11 fields


async def test_array_batching_is_off(client: httpx.AsyncClient, sandbox: Any) -> None:
    before = await upstream_requests(sandbox)
    response = await client.post("/graphql", json=[{"query": "{ viewer { roles } }"}] * 2)
    assert response.status_code == 400 and codes(response.json()) == ["BAD_USER_INPUT"]
    assert await upstream_requests(sandbox) == before


def test_depth_counts_fragments_once_and_ignores_introspection() -> None:
    assert max_depth(parse("{ a { ...F } } fragment F on T { b { c } }"), 15) == 3
    assert max_depth(parse("{ __schema { types { fields { name } } } }"), 15) == 0
    assert max_depth(parse("{ " + "a { " * 40 + "b" + " }" * 41), 15) == 16  # stops exploring


def test_limit_errors_lists_each_violation() -> None:
    aliases = " ".join(f"x{i}: a" for i in range(51))
    errors = limit_errors(parse(f"{{ {aliases} p(first: 101) {{ a }} }}"), LIMITS, {})
    assert [e.extensions["code"] for e in errors] == ["QUERY_TOO_COMPLEX", "BAD_USER_INPUT"]


# --- production: introspection and suggestions only for developers ----------------------

INTROSPECTION = "{ __schema { queryType { name } } }"
TYPO = '{ customr(number: "C-10001") { name } }'


@pytest.fixture
async def production(tmp_path: Path, sandbox: Any) -> AsyncIterator[tuple[httpx.AsyncClient, Settings]]:
    """Production; the agent desktop's trusted documents include the two probes below."""
    write_manifest(tmp_path, "agent-desktop", [INTROSPECTION, TYPO])
    settings = production_settings(trusted_documents_dir=str(tmp_path))
    async with open_client(sandbox, settings) as client:
        yield client, settings


async def ask(client: httpx.AsyncClient, query: str, headers: dict[str, str]) -> dict[str, Any]:
    return dict((await client.post("/graphql", json={"query": query}, headers=headers)).json())


async def test_production_refuses_introspection_to_non_developers(
    production: tuple[httpx.AsyncClient, Settings],
) -> None:
    client, settings = production
    developer = await ask(client, INTROSPECTION, bearer(settings, "developer"))
    assert developer["data"]["__schema"]["queryType"]["name"] == "Query"
    agent = await ask(client, INTROSPECTION, bearer(settings, "agent", client_id="agent-desktop"))
    assert "data" not in agent and set(codes(agent)) == {"FORBIDDEN"}


async def test_production_hides_field_suggestions_from_non_developers(
    production: tuple[httpx.AsyncClient, Settings],
) -> None:
    client, settings = production
    developer = await ask(client, TYPO, bearer(settings, "developer"))
    assert "Did you mean 'customer'" in developer["errors"][0]["message"]
    agent = await ask(client, TYPO, bearer(settings, "agent", client_id="agent-desktop"))
    assert codes(agent) == ["BAD_USER_INPUT"]
    assert "customr" in agent["errors"][0]["message"]
    assert "Did you mean" not in agent["errors"][0]["message"]
