"""Field-level authorization: declared once, visible in the SDL, enforced before upstream calls."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
import strawberry
from graphql import GraphQLNonNull

from graph.auth import Principal
from graph.permissions import ROLE_GATES, apply_role_gates
from graph.schema import schema
from graph.settings import Settings
from security_support import bearer, codes, upstream_requests, upstream_routes

CUSTOMER = 'customer(number: "C-10001")'


async def ask(client: httpx.AsyncClient, query: str, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query}, headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_store_reading_an_email_gets_null_and_forbidden_while_the_rest_resolves(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    body = await ask(client, f"{{ {CUSTOMER} {{ number name email phone }} }}", bearer(settings, "store"))
    customer = body["data"]["customer"]
    assert customer["number"] == "C-10001" and customer["name"] == "Ada Lovelace"
    assert customer["email"] is None and customer["phone"] is None
    assert codes(body) == ["FORBIDDEN", "FORBIDDEN"]
    assert sorted(e["path"] for e in body["errors"]) == [
        ["customer", "email"], ["customer", "phone"],
    ]


async def test_an_agent_reads_the_same_email(client: httpx.AsyncClient, settings: Settings) -> None:
    body = await ask(client, f"{{ {CUSTOMER} {{ email }} }}", bearer(settings, "agent"))
    assert body["data"]["customer"]["email"] == "ada.lovelace@example.com"
    assert "errors" not in body


async def test_store_finance_fields_are_refused_before_any_invoice_is_fetched(
    client: httpx.AsyncClient, settings: Settings, sandbox: Any
) -> None:
    store = bearer(settings, "store")
    before = await upstream_routes(sandbox)
    body = await ask(
        client,
        f"{{ {CUSTOMER} {{ number creditLimit {{ amount }} balance {{ amount }} "
        "invoices(first: 5) { nodes { number } } } }",
        store,
    )
    assert body["data"]["customer"]["number"] == "C-10001"
    for field in ("creditLimit", "balance", "invoices"):
        assert body["data"]["customer"][field] is None
    assert codes(body) == ["FORBIDDEN"] * 3
    fetched = await upstream_routes(sandbox) - before
    assert fetched and not [route for route in fetched if "nvoice" in route]


async def test_store_still_sees_orders_lines_and_shipments(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    body = await ask(
        client,
        f"{{ {CUSTOMER} {{ orders(first: 3) {{ nodes {{ number total {{ amount }} "
        "lines { sku quantity } shipments { status } invoices { number } } } } }",
        bearer(settings, "store"),
    )
    orders = body["data"]["customer"]["orders"]["nodes"]
    assert orders and all(order["number"] and order["lines"] for order in orders)
    assert all(order["invoices"] is None for order in orders)
    assert set(codes(body)) == {"FORBIDDEN"}


async def test_store_cannot_fetch_an_invoice_by_node_id(
    client: httpx.AsyncClient, settings: Settings, sandbox: Any
) -> None:
    invoice_id = base64.b64encode(b"Invoice:SI-100001").decode()
    before = await upstream_requests(sandbox)
    body = await ask(
        client, f'{{ node(id: "{invoice_id}") {{ id }} }}', bearer(settings, "store")
    )
    assert body["data"]["node"] is None and codes(body) == ["FORBIDDEN"]
    assert await upstream_requests(sandbox) == before


def test_gates_are_visible_in_the_sdl() -> None:
    sdl = schema.as_str()
    assert "directive @requiresRole(roles: [Role!]!) on FIELD_DEFINITION | OBJECT" in sdl
    assert "email: String @requiresRole(roles: [AGENT, SUPERVISOR, DEVELOPER])" in sdl
    assert "type Invoice implements Node @requiresRole(" in sdl


def test_every_declared_gate_names_a_real_nullable_field() -> None:
    type_map = schema._schema.type_map
    for type_name, gates in ROLE_GATES.items():
        if type_name not in type_map:
            assert type_name == "Mutation"  # added by the mutations issue
            continue
        fields = type_map[type_name].fields  # type: ignore[union-attr]
        for field_name in gates:
            if field_name != "*":
                assert field_name in fields, f"{type_name}.{field_name} is gated but missing"
                assert not isinstance(fields[field_name].type, GraphQLNonNull)


# --- mutation role gates, declared in the same table ------------------------------------


@strawberry.type(description="Test payload.")
class Done:
    ok: bool = strawberry.field(description="Always true.")


CALLS: list[str] = []


@strawberry.type(description="A stand-in mutation root with the contract's field names.")
class Mutation:
    @strawberry.mutation(description="Approve or reject a refund.")
    def approve_refund(self) -> Done:
        CALLS.append("approveRefund")
        return Done(ok=True)

    @strawberry.mutation(description="Add a note to a case.")
    def add_case_note(self) -> Done:
        CALLS.append("addCaseNote")
        return Done(ok=True)

    @strawberry.mutation(description="Start a return.")
    def initiate_return(self) -> Done:
        CALLS.append("initiateReturn")
        return Done(ok=True)


@strawberry.type(description="A stand-in query root.")
class Query:
    ping: bool = strawberry.field(default=True, description="Always true.")


apply_role_gates(Query, Mutation)
MUTATION_SCHEMA = strawberry.Schema(query=Query, mutation=Mutation)


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("store", {"addCaseNote"}),
        ("agent", {"addCaseNote", "initiateReturn"}),
        ("supervisor", {"addCaseNote", "initiateReturn", "approveRefund"}),
        ("developer", {"addCaseNote", "initiateReturn", "approveRefund"}),
    ],
)
async def test_mutation_gates_run_before_the_resolver(role: str, allowed: set[str]) -> None:
    principal = Principal(sub="u", roles=(role,), client_id="app")
    ran: set[str] = set()
    for name in ("approveRefund", "addCaseNote", "initiateReturn"):
        CALLS.clear()
        result = await MUTATION_SCHEMA.execute(
            f"mutation {{ {name} {{ ok }} }}", context_value={"principal": principal}
        )
        if name in allowed:
            assert result.errors is None and CALLS == [name]
            ran.add(name)
        else:
            assert result.data == {name: None} and CALLS == []
            assert result.errors and result.errors[0].extensions == {"code": "FORBIDDEN"}
    assert ran == allowed


async def test_a_context_without_a_principal_is_refused() -> None:
    result = await MUTATION_SCHEMA.execute("mutation { addCaseNote { ok } }", context_value={})
    assert result.data == {"addCaseNote": None}
