"""Query cost: static analysis before execution, actual cost after, and a per-client budget.

The model follows Shopify's Admin API calculated query cost:

    scalar and enum fields        0
    object, interface, union      1 (plus what is selected inside it)
    list field                    size × (1 + selection), size = `first`/`last`, else the
                                  product of the lengths of its list arguments (`ids`,
                                  `skus`, …), else the field's hint in `LIST_SIZE_HINTS`
                                  (parent-bounded lists: an order's lines), else
                                  `default_list_size`
    connection field (`first`)    1 + selection, where its `edges`/`nodes` lists take
                                  `first` (or the argument's schema default) as their size
    mutation root field           +10
    introspection (`__schema`)    0

Fragments on other types than their parent count as the most expensive branch, because only
one of them can match. The actual cost counts the objects the response really holds.
The budget is a leaky bucket per client: it holds `capacity` points, restores `restore_rate`
points a second, a query is refused while it costs more than is available, and the
difference between requested and actual cost is given back after execution.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLInterfaceType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    Undefined,
    get_named_type,
    get_nullable_type,
    is_list_type,
    is_composite_type,
    value_from_ast,
    value_from_ast_untyped,
)
from graphql.utilities import get_operation_ast

SLICING_ARGUMENTS = ("first", "last")
MUTATION_COST = 10
# Expected sizes of lists that are bounded by their parent and take no `first`: an order has
# a handful of lines, one or two shipments and invoices. Estimating them at the generic
# default (10) would price the agent's customer-360 at 10× its real weight.
LIST_SIZE_HINTS: Mapping[tuple[str, str], int] = {
    ("Order", "lines"): 5,
    ("Order", "shipments"): 2,
    ("Order", "invoices"): 2,
    ("Order", "returns"): 2,
    ("Invoice", "creditMemos"): 2,
    ("Shipment", "lines"): 5,
    ("Return", "lines"): 3,
    ("ReturnEligibility", "lines"): 5,
    ("Product", "inventory"): 12,
    ("Workflow", "steps"): 6,
}


@dataclass(frozen=True)
class ThrottleStatus:
    """A client's bucket as reported in `extensions.cost.throttleStatus`."""

    maximum_available: float
    currently_available: float
    restore_rate: float

    def as_json(self) -> dict[str, float]:
        """The camelCase shape Shopify clients parse."""
        return {
            "maximumAvailable": self.maximum_available,
            "currentlyAvailable": round(self.currently_available, 1),
            "restoreRate": self.restore_rate,
        }


class CostBudget:
    """Leaky buckets keyed by client id; the clock is injectable so tests need no sleeping."""

    def __init__(
        self,
        capacity: float,
        restore_rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = 100_000,
    ) -> None:
        self.clock = clock  # public so tests can freeze time
        self.capacity = float(capacity)
        self.restore_rate = float(restore_rate)
        self._max_clients = max_clients
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def _available(self, client: str) -> float:
        """Points available now, after restoring what leaked back since the last visit."""
        now = self.clock()
        level, stamp = self._buckets.get(client, (self.capacity, now))
        level = min(self.capacity, level + max(0.0, now - stamp) * self.restore_rate)
        self._buckets[client] = (level, now)
        self._buckets.move_to_end(client)
        while len(self._buckets) > self._max_clients:
            self._buckets.popitem(last=False)  # the least recently seen client starts full
        return level

    def try_spend(self, client: str, cost: float) -> bool:
        """Take `cost` points if available; False (and nothing taken) otherwise."""
        level = self._available(client)
        if cost > level:
            return False
        self._buckets[client] = (level - cost, self.clock())
        return True

    def refund(self, client: str, points: float) -> None:
        """Give back points that were reserved but not used."""
        if points > 0:
            level = self._available(client)
            self._buckets[client] = (min(self.capacity, level + points), self.clock())

    def status(self, client: str) -> ThrottleStatus:
        """The client's bucket right now."""
        return ThrottleStatus(self.capacity, self._available(client), self.restore_rate)

    def retry_after(self, client: str, cost: float) -> int:
        """Whole seconds until `cost` points will be available (at least 1)."""
        missing = cost - self._available(client)
        return max(1, math.ceil(missing / self.restore_rate)) if self.restore_rate > 0 else 60


def static_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    *,
    default_list_size: int,
) -> int:
    """The requested cost of the selected operation, before anything runs."""
    return _static_cost(schema, document, operation_name, variables, default_list_size)[0]


def static_cost_of_text(
    schema: GraphQLSchema,
    query: str,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    *,
    default_list_size: int,
) -> int:
    """`static_cost` of a document parsed from `query`, worked out once per query text and
    values of the variables the walk reads (page sizes, list arguments): the agent desktop
    sends the same documents all day, with other customers' numbers in them."""
    given = variables or {}
    shape = (id(schema), query, operation_name, default_list_size)

    def key(read: tuple[str, ...]) -> tuple[Any, ...]:
        return (shape, tuple(_memo_key(given.get(name, Undefined)) for name in read))

    read = _COST_READS.get(shape)
    found = None if read is None else _COSTS.get(key(read))
    if found is not None:
        return found
    cost, read = _static_cost(schema, document, operation_name, given, default_list_size)
    if len(_COSTS) >= _COST_MEMO_LIMIT:
        _COSTS.clear()
        _COST_READS.clear()
    _COST_READS[shape] = read
    _COSTS[key(read)] = cost
    return cost


def _memo_key(value: Any) -> object:
    """What of a variable's value the cost depends on: a list's length (list arguments
    multiply by their length), anything else's value."""
    return ("len", len(value)) if isinstance(value, list) else repr(value)


_COST_MEMO_LIMIT = 4096
_COST_READS: dict[tuple[Any, ...], tuple[str, ...]] = {}
_COSTS: dict[tuple[Any, ...], int] = {}


class _Reads(dict[str, Any]):
    """Variables that remember which of them were looked at."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        super().__init__(values)
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return super().__contains__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return super().get(key, default)


def _static_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
    default_list_size: int,
) -> tuple[int, tuple[str, ...]]:
    """The cost, and the names of the variables it depended on."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return 0, ()
    root = schema.get_root_type(operation.operation)
    if root is None:
        return 0, ()
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    values = dict(variables or {})
    defaulted = []
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if name not in values and definition.default_value is not None:
            values[name] = value_from_ast_untyped(definition.default_value)
            defaulted.append(name)
    reads = _Reads(values)
    calculator = _Calculator(schema, fragments, reads, default_list_size)
    cost = calculator.selection_cost(operation.selection_set, root, None)
    if operation.operation == OperationType.MUTATION:
        cost += MUTATION_COST * _root_field_count(operation)
    return cost, tuple(sorted(reads.read | set(defaulted)))


def actual_cost(data: Any, operation: OperationDefinitionNode | None) -> int:
    """The cost of what was returned: one point per object in `data`, +10 per mutation."""
    cost = _count_objects(data) - (1 if isinstance(data, dict) else 0)  # the root is free
    if operation is not None and operation.operation == OperationType.MUTATION:
        cost += MUTATION_COST * _root_field_count(operation)
    return max(cost, 0)


def _count_objects(value: Any) -> int:
    """Objects in a JSON-like value, iteratively so deep responses cannot blow the stack;
    only containers are stacked (a response is mostly scalars). A plain loop: this walks
    every response, and a generator per container cost twice the time."""
    if not isinstance(value, (dict, list)):
        return 0
    count, stack = 0, [value]
    pop, push = stack.pop, stack.append
    while stack:
        item = pop()
        if isinstance(item, dict):
            count += 1
            item = item.values()
        for child in item:
            if isinstance(child, (dict, list)):
                push(child)
    return count


def _schema_default(definition: Any) -> Any:
    """An argument's schema default, from either of graphql-core's two representations."""
    if definition.default_value is not Undefined:
        return definition.default_value
    default = getattr(definition, "default", None)
    if default is None:
        return None
    if default.value is not Undefined:
        return default.value
    value = value_from_ast(default.literal, definition.type) if default.literal else Undefined
    return None if value is Undefined else value


def _root_field_count(operation: OperationDefinitionNode) -> int:
    """Fields selected directly on the root (mutations each cost extra)."""
    return sum(1 for s in operation.selection_set.selections if isinstance(s, FieldNode))


class _Calculator:
    """Walks one operation; fragment costs are memoised so fragment fan-out stays linear."""

    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: dict[str, Any],
        default_list_size: int,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.default_list_size = default_list_size
        self._memo: dict[tuple[str, int | None], int] = {}
        self._visiting: set[str] = set()

    def selection_cost(
        self, selection_set: SelectionSetNode, parent: GraphQLNamedType, size: int | None
    ) -> int:
        """Fields on the parent type, plus the dearest branch of narrower fragments."""
        direct, branches = 0, {}
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                direct += self.field_cost(selection, parent, size)
                continue
            if isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                name = condition.name.value if condition else parent.name
                cost = self.selection_cost(selection.selection_set, self._type(name, parent), size)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is None:
                    continue
                name = fragment.type_condition.name.value
                cost = self.fragment_cost(fragment, self._type(name, parent), size)
            else:  # pragma: no cover - graphql-core has no other selection kinds
                continue
            if name == parent.name:
                direct += cost
            else:
                branches[name] = branches.get(name, 0) + cost
        return direct + max(branches.values(), default=0)

    def fragment_cost(
        self, fragment: FragmentDefinitionNode, parent: GraphQLNamedType, size: int | None
    ) -> int:
        """A named fragment's cost, computed once per inherited list size."""
        key = (fragment.name.value, size)
        if key not in self._memo:
            if fragment.name.value in self._visiting:
                return 0  # a cycle; validation reports it
            self._visiting.add(fragment.name.value)
            self._memo[key] = self.selection_cost(fragment.selection_set, parent, size)
            self._visiting.discard(fragment.name.value)
        return self._memo[key]

    def field_cost(self, node: FieldNode, parent: GraphQLNamedType, size: int | None) -> int:
        """One field: free for leaves, 1 for objects, multiplied for lists."""
        name = node.name.value
        if name.startswith("__") or not isinstance(parent, (GraphQLObjectType, GraphQLInterfaceType)):
            return 0
        definition = parent.fields.get(name)
        if definition is None:
            return 0
        named = get_named_type(definition.type)
        if not is_composite_type(named):
            return 0
        slice_size = self.slice_size(node, definition)
        is_list = isinstance(
            definition.type.of_type if isinstance(definition.type, GraphQLNonNull) else definition.type,
            GraphQLList,
        )
        if is_list:
            items = slice_size if slice_size is not None else size
            if items is None:
                items = LIST_SIZE_HINTS.get((parent.name, name), self.default_list_size)
            inner = self.selection_cost(node.selection_set, named, None) if node.selection_set else 0
            return items * (1 + inner)
        inherited = slice_size if any(a in definition.args for a in SLICING_ARGUMENTS) else None
        inner = self.selection_cost(node.selection_set, named, inherited) if node.selection_set else 0
        return 1 + inner

    def slice_size(self, node: FieldNode, definition: Any) -> int | None:
        """`first`/`last` (given or schema default), else the product of list argument lengths."""
        given = {a.name.value: a for a in node.arguments or ()}
        for name in SLICING_ARGUMENTS:
            if name in definition.args:
                value = self._argument(given.get(name), definition.args[name])
                if isinstance(value, int):
                    return max(0, value)
        lengths = []
        for arg_name, arg_node in given.items():
            arg_def = definition.args.get(arg_name)
            if arg_def is None or not is_list_type(get_nullable_type(arg_def.type)):
                continue  # only list arguments multiply (and only they are read)
            value = self._argument(arg_node, arg_def)
            if isinstance(value, list):
                lengths.append(len(value))
        return math.prod(lengths) if lengths else None

    def _argument(self, node: Any, definition: Any) -> Any:
        """An argument's value from the literal, the variables, or the schema default."""
        if node is None:
            return _schema_default(definition)
        value = value_from_ast(node.value, definition.type, self.variables)
        return None if value is Undefined else value

    def _type(self, name: str, fallback: GraphQLNamedType) -> GraphQLNamedType:
        """A named type of the schema (the parent when unknown; validation reports it)."""
        found = self.schema.get_type(name)
        return found if found is not None else fallback
