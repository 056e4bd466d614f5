"""graph/fast_fields.py: the direct resolvers answer exactly as strawberry's wrappers would.

Each comparison runs the same document against a schema with the fast resolvers and one
without (strawberry's own per-field wrappers), and expects the same bytes / the same errors.
"""

from __future__ import annotations

import contextlib
import enum
import gc
import warnings
import re
from datetime import date
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import strawberry
from graphql import GraphQLObjectType
from graphql.execution.incremental import IncrementalExecutor
from starlette.applications import Starlette
from strawberry.extensions import ParserCache, SchemaExtension
from strawberry.permission import PermissionExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.field import StrawberryField

import graph.schema
from bench.workloads import CUSTOMER_360, Seed
from graph.app import create_app
from graph.auth import mint_token
from graph.errors import BadUserInput, ErrorFormatter
import graph.fast_fields
from graph.fast_execution import FIELD_PLANS, FastExecutor, ObjectPlan, supported
from graph.fast_fields import install_fast_resolvers
from graph.mutations import Mutation
from graph.auth import Principal, principal_of
from graph.permissions import ROLE_GATES, HasRole, Role
from graph.settings import Settings
from graph.subscriptions import Subscription
from sandbox.apps import SandboxApps

FAST_MODULE = "graph.fast_fields"
TRACE_ID = re.compile(rb'"traceId":"[0-9a-f]+"')


def _is_fast(resolve: Any) -> bool:
    return getattr(resolve, "__module__", None) == FAST_MODULE


def _fields(schema: strawberry.Schema) -> Iterator[tuple[str, str, Any]]:
    """(type name, field name, GraphQLField) of every object type of the schema."""
    for graphql_type in schema._schema.type_map.values():
        if isinstance(graphql_type, GraphQLObjectType) and not graphql_type.name.startswith("__"):
            for name, graphql_field in graphql_type.fields.items():
                yield graphql_type.name, name, graphql_field


@contextlib.contextmanager
def _without_fast_resolvers() -> Iterator[None]:
    """`build_schema` as it was before graph/fast_fields.py: strawberry's wrappers only."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(graph.schema, "install_fast_resolvers", lambda schema: 0)
        yield


def _schema_of(app: Starlette) -> strawberry.Schema:
    view = next(route for route in app.routes if getattr(route, "path", None) == "/graphql")
    return view.endpoint.schema  # type: ignore[attr-defined]


# ── (a) the customer-360 answers byte for byte the same ──


@contextlib.asynccontextmanager
async def _client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://graph") as http:
            yield http


def _settings(tmp_path: Path, name: str) -> Settings:
    """Room for the 360s; no restoring, so the reported throttle status is clock-free."""
    return Settings(
        data_dir=tmp_path / name,
        max_query_cost=1_000_000,
        cost_bucket_size=10_000_000,
        cost_restore_rate=0.0,
    )


async def test_customer_360_bytes_match_strawberry_wrappers(
    sandbox: SandboxApps, tmp_path: Path
) -> None:
    transports = {
        name: httpx.ASGITransport(app=getattr(sandbox, name))
        for name in ("erp", "wms", "servicedesk")
    }
    fast_settings, plain_settings = _settings(tmp_path, "fast"), _settings(tmp_path, "plain")
    fast_app = create_app(fast_settings, transports=transports)
    with _without_fast_resolvers():
        plain_app = create_app(plain_settings, transports=transports)
    assert sum(_is_fast(f.resolve) for *_, f in _fields(_schema_of(fast_app))) > 0
    assert not any(_is_fast(f.resolve) for *_, f in _fields(_schema_of(plain_app)))

    customers = list(Seed().customers[:4])
    # The store role is refused the gated fields (email, phone, creditLimit, balance,
    # Order.invoices): null at each path and a FORBIDDEN error, the rest resolves.
    asks = [("agent", number) for number in customers] + [("store", customers[0])]
    answers: dict[str, list[tuple[int, bytes]]] = {}
    # One app at a time: the process runs one orchestrator.
    runs = (("fast", fast_app, fast_settings), ("plain", plain_app, plain_settings))
    for label, app, settings in runs:
        async with _client(app) as http:
            answers[label] = []
            for role, number in asks:
                token = mint_token(settings, sub=f"{role}-1", roles=[role], ttl_s=600)
                response = await http.post(
                    "/graphql",
                    json={"query": CUSTOMER_360, "variables": {"number": number, "first": 10}},
                    headers={"Authorization": f"Bearer {token}"},
                )
                # Each operation has its own trace id; everything else must match byte for byte.
                content = TRACE_ID.sub(b'"traceId":"-"', response.content)
                answers[label].append((response.status_code, content))

    for (role, number), fast, plain in zip(asks, answers["fast"], answers["plain"], strict=True):
        assert fast == plain, (role, number)
        status, content = fast
        assert status == 200
        assert b'"customer":{"id"' in content, content[:300]
        if role == "store":
            assert b"FORBIDDEN" in content and b'"email":null' in content
        else:
            assert b'"errors"' not in content, content[:500]


# ── (b) what is replaced, and that no gate is ──


def test_fast_resolvers_replace_fields_and_gated_ones_keep_their_gate() -> None:
    with _without_fast_resolvers():
        schema = graph.schema.build_schema(mutation=Mutation, subscription=Subscription)
    replaced = install_fast_resolvers(schema)
    assert replaced > 0
    assert install_fast_resolvers(schema) == 0  # strawberry's wrappers are gone: nothing to do
    fast = [(type_name, name) for type_name, name, f in _fields(schema) if _is_fast(f.resolve)]
    assert len(fast) == replaced
    # The module-level schema got the same treatment from build_schema.
    assert sum(_is_fast(f.resolve) for *_, f in _fields(graph.schema.schema)) == replaced

    gated = {
        (type_name, name)
        for type_name, name, _ in _fields(schema)
        if name in ROLE_GATES.get(type_name, {}) or "*" in ROLE_GATES.get(type_name, {})
    }
    assert ("Customer", "balance") in gated and ("Query", "operationsSummary") in gated
    for type_name, name, graphql_field in _fields(schema):
        field = graphql_field.extensions["strawberry-definition"]
        assert isinstance(field, StrawberryField)
        plans = schema._schema.type_map[type_name].extensions.get(FIELD_PLANS, {})
        if (type_name, name) in gated:
            # Direct only through the gate's own checks, and never answered as a plain leaf.
            assert name not in plans, (type_name, name)
            if _is_fast(graphql_field.resolve):
                assert graphql_field.resolve.__qualname__.startswith("_gated."), (type_name, name)
        elif field.extensions or field.permission_classes or graphql_field.args or field.is_async:
            assert not _is_fast(graphql_field.resolve), (type_name, name)
    assert ("Customer", "number") in fast and ("OrderLine", "sku") in fast  # basic fields
    assert ("Order", "lines") in fast and ("Order", "id") in fast  # sync resolvers, relay id
    assert ("Customer", "email") in fast and ("Order", "invoices") in fast  # gated, sync
    assert ("Query", "operationsSummary") not in fast  # gated, but async
    customer_plans = schema._schema.type_map["Customer"].extensions[FIELD_PLANS]
    assert "number" in customer_plans and "email" not in customer_plans


class ResolveHook(SchemaExtension):
    """A field middleware: strawberry then runs every resolver through it."""

    def resolve(self, _next: Any, root: Any, info: Any, *args: Any, **kwargs: Any) -> Any:
        return _next(root, info, *args, **kwargs)


def test_a_resolve_hook_leaves_every_field_alone() -> None:
    schema = strawberry.Schema(query=FastQuery, extensions=[ResolveHook])
    assert install_fast_resolvers(schema) == 0


# ── (c) errors raised on the fast path are the same GraphQL errors ──


class Broken:
    """A source whose attributes misbehave, standing in for a FastThing."""

    size = None  # null for a non-null leaf
    shade = "not a shade"  # no such enum value
    born = ValueError("an exception object as a value")
    nickname = None

    @property
    def name(self) -> str:
        raise ValueError("no name today")


class Shade(enum.Enum):
    LIGHT = "light"
    DARK = "dark"


@strawberry.type
class FastThing:
    name: str
    size: int
    shade: Shade = Shade.DARK
    born: date = date(2026, 11, 26)
    nickname: str | None = None

    @strawberry.field
    def doubled(self) -> int:
        return self.size * 2

    @strawberry.field
    def fails(self) -> str:
        raise ValueError("plain failure")

    @strawberry.field
    def fails_with_info(self, info: strawberry.Info) -> str:
        raise BadUserInput(f"{info.field_name} refused at {info.path.as_list()}")

    @strawberry.field
    @staticmethod
    def static_value() -> str:
        return "static"

    @strawberry.field
    @classmethod
    def class_value(cls, info: strawberry.Info) -> str:
        return f"{cls.__name__}.{info.field_name}"


def _by_root(root: FastThing, info: strawberry.Info) -> str:
    if root.size > 1:
        raise LookupError(f"too big for {info.parent_type.name}")
    return root.name


@strawberry.type
class FastQuery:
    @strawberry.field
    def things(self) -> list[FastThing]:
        return [FastThing(name="a", size=1), FastThing(name="b", size=2)]

    @strawberry.field
    def broken(self) -> FastThing | None:
        return Broken()  # type: ignore[return-value]

    @strawberry.field
    def with_argument(self, times: int) -> int:
        return times


@strawberry.type
class Named:
    name: str
    size: int
    label: str = strawberry.field(resolver=_by_root)


@strawberry.type
class RootQuery:
    @strawberry.field
    def named(self) -> list[Named]:
        return [Named(name="a", size=1), Named(name="b", size=2)]  # type: ignore[call-arg]


DOCUMENT = """{
  things { name size shade born nickname doubled fails failsWithInfo staticValue classValue }
  broken { size name }
}"""
# Each misbehaving leaf on its own nullable parent: an error at its own path, the rest resolves.
BROKEN_DOCUMENT = """{
  things { name shade born nickname }
  broken { size }
  brokenName: broken { name }
  brokenShade: broken { shade }
  brokenBorn: broken { born }
  brokenNickname: broken { nickname }
}"""
ROOT_DOCUMENT = "{ named { name label size } }"


def _outcome(result: Any) -> tuple[Any, list[tuple[Any, ...]]]:
    return result.data, [
        (
            error.message,
            error.path,
            [(location.line, location.column) for location in error.locations or ()],
            type(error.original_error),
            error.extensions,
        )
        for error in result.errors or ()
    ]


@pytest.mark.parametrize(
    ("query", "document"),
    [(FastQuery, DOCUMENT), (FastQuery, BROKEN_DOCUMENT), (RootQuery, ROOT_DOCUMENT)],
)
async def test_errors_on_the_fast_path_match_strawberry(query: type, document: str) -> None:
    plain = strawberry.Schema(query=query, extensions=[ErrorFormatter])
    fast = strawberry.Schema(query=query, extensions=[ErrorFormatter])
    assert install_fast_resolvers(fast) > 0
    for _, name, graphql_field in _fields(fast):
        assert _is_fast(graphql_field.resolve) is (name != "withArgument"), name
    assert fast.execution_context_class is FastExecutor
    assert plain.execution_context_class is not FastExecutor
    expected = _outcome(await plain.execute(document))
    assert expected[1], "the document raises somewhere"
    assert _outcome(await fast.execute(document)) == expected
    if document is BROKEN_DOCUMENT:  # each misbehaving leaf is an error at its own path
        failed = {tuple(error[1]) for error in expected[1]}
        for alias in ("broken", "brokenName", "brokenShade", "brokenBorn"):
            assert any(path[0] == alias for path in failed), (alias, failed)
        assert expected[0]["brokenNickname"] == {"nickname": None}
        assert expected[0]["things"][1] == {"name": "b", "shade": "DARK", "born": "2026-11-26", "nickname": None}
    assert _outcome(fast.execute_sync(document)) == _outcome(plain.execute_sync(document))


# ── (d) plain-attribute leaves skip graphql-core's per-field machinery ──


@contextlib.contextmanager
def _execute_field_calls() -> Iterator[list[str]]:
    """The fields graphql-core's `execute_field` resolves, as `Type.field`, in order."""
    calls: list[str] = []
    general = IncrementalExecutor.execute_field

    def counted(self: Any, parent_type: Any, source: Any, details: Any, *rest: Any) -> Any:
        calls.append(f"{parent_type.name}.{details[0].node.name.value}")
        return general(self, parent_type, source, details, *rest)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(IncrementalExecutor, "execute_field", counted)
        yield calls


def test_plain_leaves_are_answered_without_graphql_cores_execute_field() -> None:
    fast = strawberry.Schema(query=FastQuery)
    install_fast_resolvers(fast)
    with _execute_field_calls() as calls:
        result = fast.execute_sync("{ things { name size shade born nickname doubled } }")
    assert result.errors is None
    assert result.data == {"things": [
        {"name": n, "size": s, "shade": "DARK", "born": "2026-11-26", "nickname": None, "doubled": 2 * s}
        for n, s in (("a", 1), ("b", 2))
    ]}
    # Only the resolver field went through graphql-core's execute_field: the list of objects
    # (a resolver of `self` alone) was completed by its object plan.
    assert calls == ["FastThing.doubled", "FastThing.doubled"]


# ── (e) object fields read from the source alone are completed by their object plans ──


@strawberry.interface
class Labelled:
    name: str


@strawberry.type
class Child(Labelled):
    @strawberry.field
    async def later(self) -> str:
        return self.name

    @strawberry.field
    async def later_fails(self) -> str:
        raise ValueError(f"{self.name} fails later")


class Impostor:
    """Has a name, but is no Child: strawberry's is_type_of refuses it."""

    name = "impostor"


@strawberry.type
class Holder:
    child: Child
    maybe: Child | None
    children: list[Child]
    maybe_children: list[Child | None] | None

    @strawberry.field
    def made(self) -> list[Child]:  # a resolver of self alone
        return list(self.children)

    @strawberry.field
    def promised(self) -> Child:  # of self alone, but answering an awaitable
        return _later(self.child)  # type: ignore[return-value]


async def _later(child: Child) -> Child:
    return child


class RaisingHolder:
    """A Holder whose child cannot be read."""

    maybe = None
    children: list[Child] = []
    maybe_children = None

    @property
    def child(self) -> Child:
        raise LookupError("no child here")


def _child(name: str) -> Child:
    return Child(name=name)


def _holder(**changes: Any) -> Holder:
    values: dict[str, Any] = {"child": _child("c"), "maybe": None, "children": [_child("x"), _child("y")],
                              "maybe_children": [None, _child("z")]}
    values.update(changes)
    return Holder(**values)


# Built afresh for each execution (a generator is read once).
HOLDERS: dict[str, Callable[[], Any]] = {
    "good": lambda: _holder(maybe=_child("m"), children=(_child("t1"), _child("t2"))),  # a tuple
    "null_child": lambda: _holder(child=None),
    "error_child": lambda: _holder(child=ValueError("an exception object as a child")),
    "wrong_child": lambda: _holder(child="not a child"),  # no attribute `name`: the leaf's error
    "impostor_child": lambda: _holder(child=Impostor()),  # is_type_of says no
    "null_item": lambda: _holder(children=[_child("x"), None]),
    "impostor_item": lambda: _holder(children=[_child("x"), Impostor()]),
    "generated": lambda: _holder(children=(child for child in [_child("g")])),  # any iterable
    "raising": RaisingHolder,
}


@strawberry.type
class HolderQuery:
    @strawberry.field
    def holder(self, kind: str) -> Holder | None:
        return HOLDERS[kind]()  # type: ignore[no-any-return]

    @strawberry.field
    def holders(self) -> list[Holder | None]:
        return [HOLDERS["good"](), HOLDERS["null_item"]()]


HOLDER_FIELDS = (
    "child { name later } maybe { name } children { name later } maybeChildren { name } made { name } "
    "promised { name }"
)
HOLDER_DOCUMENTS = [
    "{ " + " ".join(f'{kind}: holder(kind: "{kind}") {{ {HOLDER_FIELDS} }}' for kind in HOLDERS) + " }",
    '{ a: holder(kind: "good") { child { laterFails } } b: holder(kind: "good") { children { name laterFails } } '
    ' c: holder(kind: "good") { maybe { name laterFails } } }',
    '{ a: holder(kind: "good") { maybeChildren { name laterFails } } holders { children { name } } }',
    '{ holder(kind: "good") { children @include(if: true) { name } maybe @skip(if: false) { name } } }',
]


@pytest.mark.parametrize("document", HOLDER_DOCUMENTS)
async def test_object_plans_complete_as_graphql_core_does(document: str) -> None:
    plain = strawberry.Schema(query=HolderQuery, extensions=[ErrorFormatter])
    fast = strawberry.Schema(query=HolderQuery, extensions=[ErrorFormatter])
    install_fast_resolvers(fast)
    plans = fast._schema.type_map["Holder"].extensions[FIELD_PLANS]
    assert {"child", "maybe", "children", "maybeChildren", "made"} <= {
        name for name, plan in plans.items() if isinstance(plan, ObjectPlan)
    }
    expected = _outcome(await plain.execute(document))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no coroutine left un-awaited
        assert _outcome(await fast.execute(document)) == expected
        gc.collect()
    assert expected[1] or document is HOLDER_DOCUMENTS[3], "the document fails somewhere"


async def test_a_streamed_list_is_left_to_graphql_core() -> None:
    config = StrawberryConfig(enable_experimental_incremental_execution=True)
    plain = strawberry.Schema(query=HolderQuery, config=config)
    fast = strawberry.Schema(query=HolderQuery, config=config)
    install_fast_resolvers(fast)
    document = '{ holder(kind: "good") { children @stream(initialCount: 1) { name } } }'
    expected, found = await plain.execute(document), await fast.execute(document)
    assert expected.initial_result.data == {"holder": {"children": [{"name": "t1"}]}}  # type: ignore[union-attr]
    assert found.initial_result == expected.initial_result  # type: ignore[union-attr]


async def test_object_plans_skip_graphql_cores_execute_field_for_plain_values() -> None:
    fast = strawberry.Schema(query=HolderQuery)
    install_fast_resolvers(fast)
    with _execute_field_calls() as calls:
        good = await fast.execute('{ holder(kind: "good") { child { name } children { name } made { name } } }')
        bad = await fast.execute('{ holder(kind: "null_child") { child { name } } }')
    assert good.errors is None
    assert good.data == {"holder": {"child": {"name": "c"}, "children": [{"name": "t1"}, {"name": "t2"}],
                                    "made": [{"name": "t1"}, {"name": "t2"}]}}
    assert bad.data == {"holder": None} and bad.errors
    # The root field has an argument (graphql-core's); the null child is handed back to it.
    assert calls == ["HolderQuery.holder", "HolderQuery.holder", "Holder.child"]


# ── (f) sub-field collections are remembered per document, unless directives may vary ──


@contextlib.contextmanager
def _collections() -> Iterator[list[str]]:
    """graphql-core's sub-field collections, counted by the type they are for."""
    import graphql.execution.executor as executor

    calls: list[str] = []
    general = executor.collect_subfields

    def counted(schema: Any, fragments: Any, variables: Any, operation: Any, return_type: Any, *rest: Any) -> Any:
        calls.append(return_type.name)
        return general(schema, fragments, variables, operation, return_type, *rest)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(executor, "collect_subfields", counted)
        yield calls


def _parsed_once(query: type) -> strawberry.Schema:
    """A schema whose requests share one parsed AST per document text (as the graph's)."""
    cache = ParserCache()
    return strawberry.Schema(query=query, extensions=[lambda: cache])


async def test_sub_field_collections_are_remembered_across_requests_of_a_document() -> None:
    fast = _parsed_once(HolderQuery)
    install_fast_resolvers(fast)
    document = """{ holder(kind: "good") { ...parts made { name } } }
                  fragment parts on Holder { child { name } children { name later } }"""
    with _collections() as calls:
        first = await fast.execute(document)
        collected_first = list(calls)
        second = await fast.execute(document)
    assert first.errors is None and second.data == first.data
    assert sorted(collected_first) == ["Child", "Child", "Child", "Holder"]
    assert calls == collected_first  # the second request collected nothing


async def test_a_document_with_directives_collects_on_every_request() -> None:
    plain, fast = _parsed_once(HolderQuery), _parsed_once(HolderQuery)
    install_fast_resolvers(fast)
    document = 'query ($on: Boolean!) { holder(kind: "good") { child { name @include(if: $on) } } }'
    for on in (True, False, True):
        expected = await plain.execute(document, variable_values={"on": on})
        found = await fast.execute(document, variable_values={"on": on})
        assert found.errors is None and found.data == expected.data
        assert found.data == {"holder": {"child": {"name": "c"} if on else {}}}


def test_the_executor_is_installed_only_over_the_graphql_core_it_was_written_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert supported()  # the installed graphql-core is that one
    monkeypatch.setattr(graph.fast_fields, "supported", lambda: False)
    schema = strawberry.Schema(query=FastQuery)
    assert install_fast_resolvers(schema) > 0  # the direct resolvers still apply
    assert schema.execution_context_class is StrawberryGraphQLCoreExecutionContext
    assert schema.execute_sync("{ things { name shade } }").data == {
        "things": [{"name": "a", "shade": "DARK"}, {"name": "b", "shade": "DARK"}]
    }


# ── (e) a role gate on the direct path refuses and allows exactly as strawberry's ──


def _gate(*roles: Role) -> list[PermissionExtension]:
    return [PermissionExtension([HasRole(roles, "Secretive.field")], use_directives=False)]


@strawberry.type
class Secretive:
    name: str
    secret: str | None = strawberry.field(default="s3cret", extensions=_gate(Role.SUPERVISOR))

    @strawberry.field(extensions=_gate(Role.AGENT, Role.SUPERVISOR))
    def shout(self, info: strawberry.Info) -> str | None:
        return f"{self.name.upper()} for {principal_of(info.context).sub}"


@strawberry.type
class SecretQuery:
    @strawberry.field
    def secretive(self) -> list[Secretive]:
        return [Secretive(name="a"), Secretive(name="b")]


@pytest.mark.parametrize("roles", [("agent",), ("supervisor",), ("store",), ("developer",), None])
def test_role_gates_on_the_fast_path_match_strawberry(roles: tuple[str, ...] | None) -> None:
    plain = strawberry.Schema(query=SecretQuery, extensions=[ErrorFormatter])
    fast = strawberry.Schema(query=SecretQuery, extensions=[ErrorFormatter])
    install_fast_resolvers(fast)
    fields = {name: f for type_name, name, f in _fields(fast) if type_name == "Secretive"}
    assert all(_is_fast(f.resolve) for f in fields.values())
    assert "secret" not in fast._schema.type_map["Secretive"].extensions.get(FIELD_PLANS, {})

    context = {} if roles is None else {"principal": Principal(sub="u-1", roles=roles, client_id="c")}
    document = "{ secretive { name secret shout } }"
    expected = _outcome(plain.execute_sync(document, context_value=context))
    assert _outcome(fast.execute_sync(document, context_value=context)) == expected
    refused = {tuple(error[1][2:]) for error in expected[1]}
    allowed = {"agent": {"shout"}, "supervisor": {"secret", "shout"}, "developer": {"secret", "shout"}}
    wanted = allowed.get((roles or ("",))[0], set())
    assert refused == {(name,) for name in {"secret", "shout"} - wanted}
    assert {e[4]["code"] for e in expected[1]} <= {"FORBIDDEN"}
