"""Shared GraphQL building blocks: Money, global ids, cursor connections, described enums."""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from enum import Enum
from typing import Annotated, Any, Generic, TypeVar

import strawberry
from graphql import (
    FieldNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
    VariableNode,
    value_from_ast_untyped,
)
from strawberry import relay
from strawberry.types.enum import StrawberryEnumDefinition

from graph.auth import ANONYMOUS_DEVELOPER, Principal
from graph.errors import BadUserInput
from sources import records

R = TypeVar("R")
N = TypeVar("N")
C = TypeVar("C", bound="Connection[Any]")
E = TypeVar("E", bound=type[Enum])

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100
MAX_NODES = 250
CENTS = Decimal("0.01")
MONEY_MEMO = 65_536  # formatted amounts remembered (graph/types/common.py `_money`)
_OFFSET_PREFIX = "offset"

First = Annotated[
    int,
    strawberry.argument(description="How many items to return: 10 when omitted, at most 100."),
]
After = Annotated[
    str | None,
    strawberry.argument(description="Return the items after this cursor (a previous endCursor)."),
]


def describe_enum(enum: E, description: str, values: Mapping[str, str]) -> E:
    """Expose a canonical Python enum as a GraphQL enum with a description for every value."""
    missing = {member.name for member in enum} - set(values)
    if missing:
        raise ValueError(f"{enum.__name__}: values without a description: {sorted(missing)}")
    wrapped = strawberry.enum(enum, description=description)
    definition: StrawberryEnumDefinition = wrapped.__strawberry_definition__  # type: ignore[attr-defined]
    for value in definition.values:
        value.description = values[value.name]
    return wrapped


@strawberry.type(description="An exact amount of money in one currency.")
class Money:
    """An exact amount of money in one currency."""

    amount: str = strawberry.field(
        description='The amount as a decimal string with two places, e.g. "12.50" (never a float).'
    )
    currency_code: str = strawberry.field(description="ISO 4217 currency code, e.g. GBP.")

    @classmethod
    def from_record(cls, money: records.Money) -> Money:
        """Format a canonical amount with exactly two decimal places (remembered: a 360
        shows about a hundred amounts, mostly the same cached records' on every request)."""
        return _money(money.amount, money.currency_code)


@functools.lru_cache(maxsize=MONEY_MEMO)
def _money(amount: Decimal, currency_code: str) -> Money:
    """The Money shown for an amount; shared, as nothing changes a Money once made. Equal
    decimals (1.5 and 1.50) share one, as they format the same."""
    rounded = amount.quantize(CENTS, rounding=ROUND_HALF_EVEN)
    return Money(amount=f"{rounded:f}", currency_code=currency_code)


def encode_global_id(type_name: str, key: str) -> str:
    """The opaque id of a node: base64 of `Type:naturalKey`."""
    return relay.to_base64(type_name, key)


def decode_global_id(value: str, expected: str | Sequence[str] | None = None) -> tuple[str, str]:
    """Split an opaque id into (type name, natural key); BAD_USER_INPUT when it is not one."""
    try:
        text = base64.b64decode(value.encode("ascii"), validate=True).decode("utf-8")
    except (UnicodeError, binascii.Error, ValueError):
        raise BadUserInput(f"{value!r} is not a valid id.") from None
    type_name, sep, key = text.partition(":")
    if not sep or not type_name or not key:
        raise BadUserInput(f"{value!r} is not a valid id.")
    allowed = (expected,) if isinstance(expected, str) else expected
    if allowed is not None and type_name not in allowed:
        raise BadUserInput(f"{value!r} is a {type_name} id; expected a {' or '.join(allowed)} id.")
    return type_name, key


def check_page_size(first: int) -> int:
    """Validate `first`: between 0 and 100 (BAD_USER_INPUT otherwise)."""
    if first < 0 or first > MAX_PAGE_SIZE:
        raise BadUserInput(f"first must be between 0 and {MAX_PAGE_SIZE}, got {first}.")
    return first


def encode_offset_cursor(offset: int) -> str:
    """An opaque cursor for the item at `offset` in a stably ordered list."""
    return relay.to_base64(_OFFSET_PREFIX, offset)


def decode_offset_cursor(cursor: str | None) -> int:
    """The offset right after the cursor's item (0 without a cursor)."""
    if cursor is None:
        return 0
    try:
        prefix, offset = relay.from_base64(cursor)
    except ValueError:
        raise BadUserInput(f"{cursor!r} is not a valid cursor.") from None
    if prefix != _OFFSET_PREFIX or not offset.isdigit():
        raise BadUserInput(f"{cursor!r} is not a valid cursor.")
    return int(offset) + 1


@strawberry.type(description="One item of a connection and the cursor that points at it.")
class Edge(Generic[N]):
    """One item of a connection and the cursor that points at it."""

    cursor: str = strawberry.field(
        description="Opaque cursor of this item; pass it as `after` to continue after it."
    )
    node: N = strawberry.field(description="The item.")


@strawberry.type(description="A page of items with Relay cursors.")
class Connection(Generic[N]):
    """A page of items with Relay cursors."""

    edges: list[Edge[N]] = strawberry.field(description="The items of this page with cursors.")
    nodes: list[N] = strawberry.field(description="The items of this page, without cursors.")
    page_info: relay.PageInfo = strawberry.field(description="Where this page sits in the list.")
    total_count: int | None = strawberry.field(
        description="How many items the whole list holds; null when counting would be costly."
    )


def connection_from_indexed(
    connection: type[C],
    indexed: Sequence[tuple[int, R]],
    wrap: Callable[[R], Any],
    *,
    has_next_page: bool,
    has_previous_page: bool,
    total_count: int | None = None,
) -> C:
    """Build a connection from (position in the full list, item) pairs."""
    edges = [Edge(cursor=encode_offset_cursor(index), node=wrap(item)) for index, item in indexed]
    return connection(
        edges=edges,
        nodes=[edge.node for edge in edges],
        page_info=relay.PageInfo(
            has_next_page=has_next_page,
            has_previous_page=has_previous_page,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total_count=total_count,
    )


@dataclass(frozen=True, slots=True)
class PageRequest:
    """Validated `first`/`after` arguments of an offset-paged connection."""

    first: int
    offset: int

    @classmethod
    def parse(cls, first: int, after: str | None) -> PageRequest:
        """Validate before any upstream call: BAD_USER_INPUT for a bad size or cursor."""
        return cls(first=check_page_size(first), offset=decode_offset_cursor(after))

    def connection(self, connection: type[C], items: Sequence[R], wrap: Callable[[R], Any]) -> C:
        """This page of a complete, stably ordered list."""
        return self.window(
            connection,
            items[self.offset : self.offset + self.first + 1],
            wrap,
            total_count=len(items),
        )

    def window(
        self,
        connection: type[C],
        window: Sequence[R],
        wrap: Callable[[R], Any],
        total_count: int | None = None,
    ) -> C:
        """This page from the items at `offset` onwards; one item more means a next page."""
        return connection_from_indexed(
            connection,
            list(enumerate(window[: self.first], start=self.offset)),
            wrap,
            has_next_page=len(window) > self.first,
            has_previous_page=self.offset > 0,
            total_count=total_count,
        )


@strawberry.type(description="Who is asking: the principal of this request.")
class Viewer:
    """Who is asking: the principal of this request."""

    subject: str | None = strawberry.field(
        description="The token's subject (`sub`); null when no principal is known."
    )
    roles: list[str] = strawberry.field(
        description="Roles granted to the caller: agent, supervisor, store, developer."
    )
    client_id: str | None = strawberry.field(
        description="The client application the caller uses (the token's `client_id`)."
    )
    authenticated: bool = strawberry.field(
        description="True when the caller presented a valid token; false for the development "
        "mode's anonymous developer."
    )

    @classmethod
    def from_principal(cls, principal: Principal | None) -> Viewer:
        """Describe the request's principal."""
        if principal is None:
            return cls(subject=None, roles=[], client_id=None, authenticated=False)
        return cls(
            subject=principal.sub,
            roles=list(principal.roles),
            client_id=principal.client_id,
            authenticated=principal != ANONYMOUS_DEVELOPER,
        )


def selected_names(info: strawberry.Info[Any, Any]) -> frozenset[str]:
    """Names of the fields selected directly under the resolving field, through fragments.

    A cheap walk of the document (no argument coercion, unlike `info.selected_fields`), for
    lookahead decisions; `@skip`/`@include` are ignored, so it may over-report, never miss.
    Remembered per field node (`_by_nodes`): the cached parse reuses them request after request.
    """
    raw = info._raw_info
    return _by_nodes("names", raw.field_nodes, lambda: _names(raw.field_nodes, raw.fragments))


def _names(field_nodes: Sequence[FieldNode], fragments: Mapping[str, Any]) -> frozenset[str]:
    sets = [node.selection_set for node in field_nodes]
    return frozenset(field.name.value for field in _fields(sets, fragments))


def _fields(
    sets: Sequence[SelectionSetNode | None], fragments: Mapping[str, Any]
) -> Iterator[FieldNode]:
    """The fields selected directly in `sets`, through inline fragments and fragment spreads."""
    pending = list(sets)
    while pending:
        selection_set = pending.pop()
        for selection in selection_set.selections if selection_set is not None else ():
            if isinstance(selection, FieldNode):
                yield selection
            elif isinstance(selection, InlineFragmentNode):
                pending.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = fragments.get(selection.name.value)
                pending.append(None if fragment is None else fragment.selection_set)


T = TypeVar("T")
_BY_NODES: dict[tuple[object, ...], tuple[tuple[object, ...], Any]] = {}
_BY_NODES_LIMIT = 4096


def _by_nodes(kind: str, nodes: Sequence[object], build: Callable[[], T]) -> T:
    """`build()` once per (kind, AST nodes): what depends only on a document's shape is
    worked out once, since parsed documents are cached per text (graph/limits.py). Keyed by
    the nodes' identity, which the entry keeps alive so no other node can take their ids;
    bounded (a full table starts over). The value is shared: callers must not change it."""
    key = (kind, *map(id, nodes))
    found = _BY_NODES.get(key)
    if found is not None and all(a is b for a, b in zip(found[0], nodes)):
        return found[1]  # type: ignore[no-any-return]
    value = build()
    if len(_BY_NODES) >= _BY_NODES_LIMIT:
        _BY_NODES.clear()
    _BY_NODES[key] = (tuple(nodes), value)
    return value


Selection = dict[str, "Selection"]


def selection_tree(info: strawberry.Info[Any, Any]) -> Selection:
    """The fields selected under the resolving field, nested, fragments merged in."""
    raw = info._raw_info
    return _by_nodes(
        "tree",
        raw.field_nodes,
        lambda: _tree([node.selection_set for node in raw.field_nodes], raw.fragments),
    )


def _tree(sets: list[SelectionSetNode | None], fragments: Mapping[str, Any]) -> Selection:
    tree: Selection = {}
    for field in _fields(sets, fragments):
        name = field.name.value
        sub = {} if field.selection_set is None else _tree([field.selection_set], fragments)
        if name in tree:
            _merge(tree[name], sub)
        else:
            tree[name] = sub
    return tree


def child_fields(info: strawberry.Info[Any, Any], name: str) -> list[tuple[dict[str, Any], Selection]]:
    """Each selection of the child field `name` under the resolving field (aliases give
    several), through fragments: its arguments as written (variables substituted, defaults
    not applied, enum values as their names) and its selection tree. For lookahead, which may
    guess wrong but never fails: the child's own resolver validates its arguments."""
    raw = info._raw_info
    found: list[tuple[dict[str, Any], Selection]] = []
    for field in _fields([node.selection_set for node in raw.field_nodes], raw.fragments):
        if field.name.value != name:
            continue
        arguments = {
            argument.name.value: _argument(argument.value, raw.variable_values)
            for argument in field.arguments or ()
        }
        tree = _by_nodes("tree", (field,), lambda: _tree([field.selection_set], raw.fragments))
        found.append((arguments, tree))
    return found


def _argument(value: Any, variables: Mapping[str, Any]) -> Any:
    if isinstance(value, VariableNode):
        found = variables.get(value.name.value)
        return found.name if isinstance(found, Enum) else found
    return value_from_ast_untyped(value, variables)


def _merge(into: Selection, other: Selection) -> None:
    for name, child in other.items():
        _merge(into.setdefault(name, {}), child)


def connection_nodes(tree: Selection) -> Selection:
    """What a connection's selection asks of each node, via `nodes` and `edges { node }`."""
    def merged() -> Selection:
        found: Selection = {}
        _merge(found, tree.get("nodes", {}))
        _merge(found, tree.get("edges", {}).get("node", {}))
        return found

    return _by_nodes("connection nodes", (tree,), merged)  # trees are shared (selection_tree)
