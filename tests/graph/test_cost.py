"""Cost analysis and the per-client leaky bucket (an injected clock: nothing sleeps)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from graphql import parse
from starlette.applications import Starlette

import graph.cost as cost_module
from graph.cost import CostBudget, actual_cost, static_cost, static_cost_of_text
from graph.schema import schema
from graph.settings import Settings
from security_support import FakeClock, bearer, codes, upstream_requests

ORDERS_OF_ADA = 'customer(number: "C-10001") { orders(first: 5) { nodes { number } } }'


def cost(query: str, variables: dict[str, Any] | None = None) -> int:
    return static_cost(schema._schema, parse(query), None, variables, default_list_size=10)


def test_objects_cost_one_and_scalars_nothing() -> None:
    assert cost('{ customer(number: "C-10001") { number name email } }') == 1
    assert cost("{ viewer { roles } }") == 1


def test_connections_multiply_their_items_by_first() -> None:
    assert cost(f"{{ {ORDERS_OF_ADA} }}") == 1 + 1 + 5
    nested = '{ customers(first: 10) { nodes { orders(first: 10) { nodes { number } } } } }'
    assert cost(nested) == 1 + 10 * (1 + 1 + 10)


def test_first_defaults_to_the_schema_default_and_reads_variables() -> None:
    assert cost("{ customers { nodes { number } } }") == 1 + 10
    query = "query($n: Int!) { customers(first: $n) { edges { node { number } } } }"
    assert cost(query, {"n": 3}) == 1 + 3 * (1 + 1)


def test_list_arguments_size_their_lists() -> None:
    assert cost('{ inventory(skus: ["A", "B", "C"]) { sku } }') == 3
    assert cost('{ nodes(ids: ["a", "b"]) { id } }') == 2


def test_fragments_on_different_types_cost_the_dearest_branch() -> None:
    query = """{ node(id: "x") {
        ... on Customer { orders(first: 20) { nodes { number } } }
        ... on Order { lines { sku } }
    } }"""
    assert cost(query) == 1 + (1 + 20)


def test_actual_cost_counts_returned_objects() -> None:
    operation = parse("{ a }").definitions[0]
    data = {"customer": {"orders": {"nodes": [{"number": "1"}, {"number": "2"}]}}}
    assert actual_cost(data, operation) == 4  # type: ignore[arg-type]


def test_the_bucket_leaks_back_at_the_restore_rate() -> None:
    clock = FakeClock()
    budget = CostBudget(100, 10, clock=clock)
    assert budget.try_spend("app", 80)
    assert not budget.try_spend("app", 30)
    assert budget.retry_after("app", 30) == 1
    clock.advance(1)
    assert budget.try_spend("app", 30)
    assert budget.status("app").currently_available == 0
    assert budget.try_spend("other-app", 100)  # buckets are per client
    clock.advance(1000)
    assert budget.status("app").currently_available == 100  # never above capacity


# --- end to end -----------------------------------------------------------------------


@pytest.fixture
def settings() -> Settings:
    """A small budget so a burst runs out: 50 points, 10 restored a second."""
    return Settings(cost_bucket_size=50, max_query_cost=40, cost_restore_rate=10.0)


@pytest.fixture
def clock(graph_app: Starlette) -> FakeClock:
    """Freeze the app's bucket clock."""
    fake = FakeClock()
    graph_app.state.governor.budget.clock = fake
    return fake


def viewers(count: int) -> str:
    """A query whose requested and actual cost are both `count`."""
    return "{ " + " ".join(f"v{i}: viewer {{ roles }}" for i in range(count)) + " }"


async def post(client: httpx.AsyncClient, query: str, **headers: str) -> httpx.Response:
    return await client.post("/graphql", json={"query": query}, headers=headers)


async def test_every_response_reports_its_cost(client: httpx.AsyncClient, clock: FakeClock) -> None:
    response = await post(client, f"{{ {ORDERS_OF_ADA} }}")
    cost_report = response.json()["extensions"]["cost"]
    assert cost_report["requestedQueryCost"] == 7
    assert 1 <= cost_report["actualQueryCost"] <= 7
    assert cost_report["throttleStatus"] == {
        "maximumAvailable": 50.0,
        "currentlyAvailable": 50.0 - cost_report["actualQueryCost"],
        "restoreRate": 10.0,
    }
    refused = await post(client, "{ nope }")
    assert refused.json()["extensions"]["cost"]["actualQueryCost"] is None


async def test_a_query_over_the_maximum_is_too_complex_before_any_upstream_call(
    client: httpx.AsyncClient, sandbox: Any, clock: FakeClock
) -> None:
    before = await upstream_requests(sandbox)
    response = await post(client, "{ customers(first: 50) { nodes { number } } }")
    body = response.json()
    assert response.status_code == 200 and "data" not in body
    assert codes(body) == ["QUERY_TOO_COMPLEX"]
    assert body["extensions"]["cost"]["requestedQueryCost"] == 51
    assert await upstream_requests(sandbox) == before


async def test_a_burst_over_the_budget_is_429_with_retry_after(
    client: httpx.AsyncClient, sandbox: Any, clock: FakeClock
) -> None:
    query = viewers(20)  # costs 20, requested and actual
    responses = [await post(client, query) for _ in range(2)]
    assert [r.status_code for r in responses] == [200, 200]
    available = responses[-1].json()["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"]
    assert available == 10

    before = await upstream_requests(sandbox)
    throttled = await post(client, query)
    assert throttled.status_code == 429
    assert codes(throttled.json()) == ["RATE_LIMITED"] and "data" not in throttled.json()
    retry_after = int(throttled.headers["retry-after"])
    assert retry_after == 1  # 10 points missing at 10 a second
    assert throttled.json()["extensions"]["cost"]["actualQueryCost"] is None
    assert await upstream_requests(sandbox) == before

    clock.advance(retry_after)
    assert (await post(client, query)).status_code == 200


async def test_budgets_are_per_client(
    client: httpx.AsyncClient, settings: Settings, clock: FakeClock
) -> None:
    query = viewers(39)
    store_app = bearer(settings, "store", client_id="store-app")
    mobile_app = bearer(settings, "agent", client_id="mobile-app")
    assert (await post(client, query, **store_app)).status_code == 200
    assert (await post(client, query, **store_app)).status_code == 429
    assert (await post(client, query, **mobile_app)).status_code == 200


def test_the_cost_of_a_query_text_is_remembered_per_value_of_what_it_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    query = """query($n: String!, $first: Int!, $skus: [String!]!) {
      customer(number: $n) { orders(first: $first) { nodes { number } } }
      inventory(skus: $skus) { sku }
    }"""
    document = parse(query)
    walks = []
    real = cost_module._static_cost

    def counted(*args: Any) -> Any:
        walks.append(args[3])
        return real(*args)

    monkeypatch.setattr(cost_module, "_static_cost", counted)
    monkeypatch.setattr(cost_module, "_COSTS", {})
    monkeypatch.setattr(cost_module, "_COST_READS", {})

    def of(variables: dict[str, Any]) -> int:
        found = static_cost_of_text(schema._schema, query, document, None, variables,
                                    default_list_size=10)
        assert found == real(schema._schema, document, None, variables, 10)[0]
        return found

    assert of({"n": "C-10001", "first": 5, "skus": ["A", "B"]}) == 1 + 1 + 5 + 2
    # another customer, other SKUs of the same number: no walk (the number is not read)
    assert of({"n": "C-10002", "first": 5, "skus": ["C", "D"]}) == 1 + 1 + 5 + 2
    assert len(walks) == 1
    # a page size or a list length the cost depends on: walked again
    assert of({"n": "C-10002", "first": 50, "skus": ["C", "D"]}) == 1 + 1 + 50 + 2
    assert of({"n": "C-10002", "first": 50, "skus": ["C", "D", "E"]}) == 1 + 1 + 50 + 3
    assert len(walks) == 3
