"""Fields answered straight from their source, without graphql-core's per-field machinery.

Why: a customer-360 completes ~240 leaf fields (`number`, `status`, `amount`, …) that are
plain attributes of the objects their parents resolved. For each, graphql-core's
`execute_fields` makes a response `Path` and calls `execute_field`, which looks the field up,
builds a `GraphQLResolveInfo` (strawberry's, with operation extensions), calls the resolver,
checks for an awaitable twice, and walks `complete_value` (non-null → leaf →
`coerce_output_value`). The answer is `coerce_output_value(getattr(source, name))`.

`FastExecutor.execute_fields` is graphql-core's loop over a selection's fields with one
change: a field that graph/fast_fields.py made a plain attribute read of a scalar or enum
(its `LeafPlan`, kept in the object type's `extensions` under `FIELD_PLANS`) is answered in
place when its value is plain: a value, or null where null is allowed. Anything else (an
exception, an exception object, a value the type can't coerce, null for a non-null field)
goes through graphql-core's own `execute_field`, which reads the attribute again and reports
the error at the same path as always: an attribute read has no side effect.

The same loop completes an object field read from the source alone (an attribute, or a
resolver taking only `self`: `Order.total`, `Order.lines`, each line's `unitPrice`) through
its `ObjectPlan`: the value is read, checked (not null where null is illegal, not an error,
not awaitable, of the type; a list of such items) and its sub-selection executed at once,
without a resolve info or `complete_value`'s dispatch. What graphql-core would do next is
done the same way: the same sub-field collection and execution, and the same error handling
at the same paths (`handle_field_error` for the item, then for the field). A value that fails
a check goes through `execute_field` as before (reading it again: the read has no side
effect), so its error is graphql-core's own. Fields with directives (`@stream`, `@skip`) are
left to graphql-core.

Sub-field collection is remembered across requests for a document without directives: which
fields an object's selection asks for then depends only on the document and the type, not on
the variables, yet graphql-core collects it again on every request (about 6% of a warm 360).
The memo hangs off the operation (kept alive with it, in an LRU of `SHARED_DOCUMENTS`) and
is keyed by the type and the field nodes; a document with any directive (`@skip`, `@include`,
`@defer`, `@stream`) collects per request as before.

Installed by `install_fast_resolvers` only when graphql-core's `execute_fields` and
`execute_field` have the signatures this was written against (graphql-core 3.3, which
strawberry 0.341 requires); otherwise strawberry's executor stays.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import CoroutineType
from typing import Any

from cachetools import LRUCache
from graphql import (
    GraphQLField,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    is_leaf_type,
)
from graphql.execution.collect_fields import CollectedFields
from graphql.language import FragmentDefinitionNode, OperationDefinitionNode, SelectionSetNode
from graphql.pyutils import Path, Undefined
from graphql.pyutils.gather_with_cancel import gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

__all__ = [
    "FIELD_PLANS", "FastExecutor", "LeafPlan", "ObjectPlan", "leaf_plan", "object_plan", "supported",
]

# The key of an object type's `extensions` holding {field name: LeafPlan | ObjectPlan}.
FIELD_PLANS = "retailgraph.field_plans"

# Operations whose sub-field collections are remembered (each with its own memo).
SHARED_DOCUMENTS = 512  # as many as graph/limits.py keeps parsed

_SIGNATURES = {
    "execute_fields": [
        "self", "parent_type", "source_value", "path", "grouped_field_set", "position_context",
    ],
    "execute_field": [
        "self", "parent_type", "source", "field_details_list", "path", "position_context",
    ],
    "collect_subfields": ["self", "return_type", "field_details_list"],
}


@dataclass(frozen=True, slots=True)
class LeafPlan:
    """How to answer a plain-attribute leaf field: the attribute, the type's coercion, and
    whether null is a legal answer."""

    attribute: str
    coerce: Any
    nullable: bool


def leaf_plan(graphql_field: GraphQLField, attribute: str) -> LeafPlan | None:
    """The plan for a field read as `getattr(source, attribute)`; None unless its type is a
    (possibly non-null) scalar or enum."""
    field_type = graphql_field.type
    nullable = not isinstance(field_type, GraphQLNonNull)
    inner = field_type if nullable else field_type.of_type
    if not is_leaf_type(inner):
        return None
    leaf_type: GraphQLLeafType = inner
    return LeafPlan(attribute, leaf_type.coerce_output_value, nullable)


@dataclass(frozen=True, slots=True)
class ObjectPlan:
    """How to complete an object (or list of objects) field read from its source alone:
    `read(source)`, then the sub-selection on `object_type` for the value or each item."""

    read: Callable[[Any], Any]
    return_type: GraphQLOutputType
    object_type: GraphQLObjectType
    nullable: bool
    item_type: GraphQLOutputType | None  # the list's item type; None for a single object
    items_nullable: bool


# strawberry's own `is_type_of` (an isinstance check that ignores its `info`), by name.
_STRAWBERRY_IS_TYPE_OF = "GraphQLCoreConverter.from_object.<locals>._get_is_type_of.<locals>.is_type_of"


def object_plan(graphql_field: GraphQLField, read: Callable[[Any], Any]) -> ObjectPlan | None:
    """The plan for a field whose value is `read(source)`; None unless its type is an object
    type or a list of one (each possibly non-null) whose `is_type_of` is none or strawberry's."""
    field_type = graphql_field.type
    nullable = not isinstance(field_type, GraphQLNonNull)
    inner = field_type if nullable else field_type.of_type
    item_type: GraphQLOutputType | None = None
    items_nullable = False
    if isinstance(inner, GraphQLList):
        item_type = inner.of_type
        items_nullable = not isinstance(item_type, GraphQLNonNull)
        inner = item_type if items_nullable else item_type.of_type  # type: ignore[union-attr]
    if not isinstance(inner, GraphQLObjectType):
        return None
    is_type_of = inner.is_type_of
    if is_type_of is not None and getattr(is_type_of, "__qualname__", None) != _STRAWBERRY_IS_TYPE_OF:
        return None
    return ObjectPlan(read, field_type, inner, nullable, item_type, items_nullable)


def supported() -> bool:
    """True when graphql-core's methods are the ones this module replaces and calls."""
    return all(
        list(inspect.signature(getattr(StrawberryGraphQLCoreExecutionContext, name)).parameters)
        == parameters
        for name, parameters in _SIGNATURES.items()
    ) and callable(getattr(StrawberryGraphQLCoreExecutionContext, "settle_in_background", None))


_NOT_PLAIN = object()


def _answer(plan: LeafPlan, source: Any) -> Any:
    """The leaf's coerced value, or _NOT_PLAIN when graphql-core must handle it."""
    try:
        value = getattr(source, plan.attribute)
        if value is None:
            return None if plan.nullable else _NOT_PLAIN
        if isinstance(value, Exception):
            return _NOT_PLAIN
        coerced = plan.coerce(value)
    except Exception:  # noqa: BLE001  # graphql-core reads it again and reports it
        return _NOT_PLAIN
    return _NOT_PLAIN if coerced is None or coerced is Undefined else coerced


class _SharedSubfields:
    """One operation's remembered sub-field collections, with what keeps its nodes alive."""

    __slots__ = ("collected", "fragments", "operation")

    def __init__(self, operation: OperationDefinitionNode, fragments: tuple[FragmentDefinitionNode, ...]) -> None:
        self.operation = operation  # node ids in the keys stay this document's while it lives
        self.fragments = fragments
        self.collected: dict[tuple[Any, ...], CollectedFields] = {}


# id(operation) → (operation, its memo, or None when its collection may depend on variables)
_SHARED: LRUCache[int, tuple[OperationDefinitionNode, _SharedSubfields | None]] = LRUCache(SHARED_DOCUMENTS)


def _has_directives(selection_set: SelectionSetNode | None) -> bool:
    """True when any selection under `selection_set` carries a directive."""
    pending = [selection_set]
    while pending:
        current = pending.pop()
        if current is None:
            continue
        for selection in current.selections:
            if selection.directives:
                return True
            pending.append(getattr(selection, "selection_set", None))
    return False


def _shared_for(operation: OperationDefinitionNode, fragments: Mapping[str, Any]) -> _SharedSubfields | None:
    """The memo of this operation, made on first use; None when a directive anywhere could
    make the collection depend on the variables."""
    found = _SHARED.get(id(operation))
    if found is not None and found[0] is operation:
        return found[1]
    definitions = tuple(details.definition for details in fragments.values())
    directives = bool(operation.directives) or _has_directives(operation.selection_set) or any(
        bool(definition.directives) or _has_directives(definition.selection_set) for definition in definitions
    )
    shared = None if directives else _SharedSubfields(operation, definitions)
    _SHARED[id(operation)] = (operation, shared)
    return shared


def _plain_object(plan: ObjectPlan, value: Any, is_awaitable: Callable[[Any], bool]) -> bool:
    """True when `value` completes as `plan`'s object type with nothing for graphql-core to
    report: not an error, not awaitable, of the type (as its `is_type_of` says)."""
    if isinstance(value, Exception) or is_awaitable(value):
        return False
    is_type_of = plan.object_type.is_type_of
    return is_type_of is None or is_type_of(value, None) is True


def _plain_value(plan: ObjectPlan, value: Any, is_awaitable: Callable[[Any], bool]) -> bool:
    """True when the field's value (not null) needs none of graphql-core's checks: a plain
    object, or a list or tuple of plain objects (and nulls where items may be null)."""
    if plan.item_type is None:
        return _plain_object(plan, value, is_awaitable)
    if type(value) is not list and type(value) is not tuple:
        return False
    for item in value:
        if item is None:
            if not plan.items_nullable:
                return False
        elif not _plain_object(plan, item, is_awaitable):
            return False
    return True


class FastExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, answering plain-attribute leaf fields and completing plain
    object fields in place."""

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: Any,
        position_context: Any,
    ) -> Any:
        """graphql-core's `execute_fields`, with plain leaves answered and plain object fields
        completed without `execute_field`."""
        plans: Mapping[str, LeafPlan | ObjectPlan] = parent_type.extensions.get(FIELD_PLANS) or {}
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        try:
            for response_name, field_details_list in grouped_field_set.items():
                plan = plans.get(field_details_list[0].node.name.value)
                if plan is not None:
                    if type(plan) is LeafPlan:
                        answer = _answer(plan, source_value)
                        if answer is not _NOT_PLAIN:
                            results[response_name] = answer
                            continue
                    else:
                        answer = self._object_field(
                            plan, source_value, field_details_list,  # type: ignore[arg-type]
                            Path(path, response_name, parent_type.name), position_context,
                        )
                        if answer is not _NOT_PLAIN:
                            results[response_name] = answer
                            if answer is not None and is_awaitable(answer):
                                awaitable_fields.append(response_name)
                            continue
                result = self.execute_field(
                    parent_type,
                    source_value,
                    field_details_list,
                    Path(path, response_name, parent_type.name),
                    position_context,
                )
                if result is not Undefined:
                    results[response_name] = result
                    if is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:
                # As graphql-core: settle the siblings' awaitables, which may also fail.
                self.settle_in_background([results[field] for field in awaitable_fields])
            raise
        if not awaitable_fields:
            return results
        return self._gather(results, awaitable_fields)

    def collect_subfields(self, return_type: GraphQLObjectType, field_details_list: Any) -> CollectedFields:
        """graphql-core's per-request memo first, then this operation's memo across requests
        (documents without directives), then graphql-core's collection."""
        memo = self._relevant_sub_fields
        found = memo.get((return_type, id(field_details_list)))
        if found is not None:
            return found[1]  # type: ignore[no-any-return]
        shared = _shared_for(self.operation, self.fragments)
        if shared is None or any(
            details.defer_usage is not None or details.fragment_variable_values is not None
            for details in field_details_list
        ):
            return super().collect_subfields(return_type, field_details_list)
        key = (return_type, *(id(details.node) for details in field_details_list))
        collected = shared.collected.get(key)
        if collected is None:
            collected = shared.collected[key] = super().collect_subfields(return_type, field_details_list)
        else:
            memo[(return_type, id(field_details_list))] = (field_details_list, collected)
        return collected

    def _object_field(
        self,
        plan: ObjectPlan,
        source: Any,
        field_details_list: Any,
        path: Path,
        position_context: Any,
    ) -> Any:
        """The completed field (or an awaitable of it), as `execute_field` would complete it;
        _NOT_PLAIN when the value needs graphql-core (nothing has run then)."""
        if any(details.node.directives for details in field_details_list):
            return _NOT_PLAIN
        try:
            value = plan.read(source)
        except Exception:  # noqa: BLE001  # graphql-core reads it again and reports it
            return _NOT_PLAIN
        if value is None:
            return None if plan.nullable else _NOT_PLAIN
        if not _plain_value(plan, value, self.is_awaitable):
            if isinstance(value, CoroutineType):
                value.close()  # graphql-core calls the resolver again; this one never ran
            return _NOT_PLAIN
        try:
            if plan.item_type is None:
                completed = self.collect_and_execute_subfields(
                    plan.object_type, field_details_list, path, value, position_context
                )
            else:
                completed = self._complete_items(plan, field_details_list, path, value, position_context)
        except Exception as raw_error:
            self.handle_field_error(raw_error, plan.return_type, field_details_list, path)
            return None
        if self.is_awaitable(completed):
            return self._settled(completed, plan.return_type, field_details_list, path)
        return completed

    def _complete_items(
        self, plan: ObjectPlan, field_details_list: Any, path: Path, items: Any, position_context: Any
    ) -> Any:
        """graphql-core's `complete_iterable_value` and `complete_list_item_value` for items
        already checked plain: each item's sub-selection, its error handled at its path."""
        item_type: Any = plan.item_type
        object_type = plan.object_type
        execute = self.collect_and_execute_subfields
        is_awaitable = self.is_awaitable
        completed: list[Any] = []
        awaitable_indices: list[int] = []
        try:
            for index, item in enumerate(items):
                if item is None:
                    completed.append(None)
                    continue
                item_path = path.add_key(index, None)
                try:
                    done = execute(object_type, field_details_list, item_path, item, position_context)
                except Exception as raw_error:
                    self.handle_field_error(raw_error, item_type, field_details_list, item_path)
                    completed.append(None)
                    continue
                if is_awaitable(done):
                    completed.append(self._settled(done, item_type, field_details_list, item_path))
                    awaitable_indices.append(index)
                else:
                    completed.append(done)
        except Exception:
            if awaitable_indices:  # as graphql-core: settle the earlier items' awaitables
                self.settle_in_background([completed[index] for index in awaitable_indices])
            raise
        if not awaitable_indices:
            return completed
        return self._gather(completed, awaitable_indices)

    async def _settled(self, completed: Awaitable[Any], return_type: Any, field_details_list: Any, path: Path) -> Any:
        """An awaited completion, its error handled at `path` as graphql-core's `await_completed`."""
        try:
            return await completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            return None

    @staticmethod
    async def _gather(completed: Any, awaitable_keys: list[Any]) -> Any:
        """The awaitables at these keys (field names of a result dict, indices of a list)
        awaited in parallel and put back in place (as graphql-core)."""
        if len(awaitable_keys) == 1:
            key = awaitable_keys[0]
            completed[key] = await completed[key]
        else:
            awaitables: list[Awaitable[Any]] = [completed[key] for key in awaitable_keys]
            awaited = await gather_with_cancel(*awaitables)
            for key, value in zip(awaitable_keys, awaited, strict=True):
                completed[key] = value
        return completed
