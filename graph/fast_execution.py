"""A leaf field's value straight from its source, without graphql-core's per-field machinery.

Why: a customer-360 completes ~240 leaf fields (`number`, `status`, `amount`, …) that are
plain attributes of the objects their parents resolved. For each, graphql-core's
`execute_fields` makes a response `Path` and calls `execute_field`, which looks the field up,
builds a `GraphQLResolveInfo` (strawberry's, with operation extensions), calls the resolver,
checks for an awaitable twice, and walks `complete_value` (non-null → leaf →
`coerce_output_value`). The answer is `coerce_output_value(getattr(source, name))`.

`FastLeafExecutor.execute_fields` is graphql-core's loop over a selection's fields with one
change: a field that graph/fast_fields.py made a plain attribute read of a scalar or enum
(its `LeafPlan`, kept in the object type's `extensions` under `LEAF_PLANS`) is answered in
place when its value is plain: a value, or null where null is allowed. Anything else (an
exception, an exception object, a value the type can't coerce, null for a non-null field)
goes through graphql-core's own `execute_field`, which reads the attribute again and reports
the error at the same path as always: an attribute read has no side effect.

Installed by `install_fast_resolvers` only when graphql-core's `execute_fields` and
`execute_field` have the signatures this was written against (graphql-core 3.3, which
strawberry 0.341 requires); otherwise strawberry's executor stays.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLField, GraphQLLeafType, GraphQLNonNull, GraphQLObjectType, is_leaf_type
from graphql.pyutils import Path, Undefined
from graphql.pyutils.gather_with_cancel import gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

__all__ = ["LEAF_PLANS", "FastLeafExecutor", "LeafPlan", "leaf_plan", "supported"]

# The key of an object type's `extensions` holding {field name: LeafPlan}.
LEAF_PLANS = "retailgraph.leaf_plans"

_SIGNATURES = {
    "execute_fields": [
        "self", "parent_type", "source_value", "path", "grouped_field_set", "position_context",
    ],
    "execute_field": [
        "self", "parent_type", "source", "field_details_list", "path", "position_context",
    ],
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


class FastLeafExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, answering plain-attribute leaf fields in place."""

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: Any,
        position_context: Any,
    ) -> Any:
        """graphql-core's `execute_fields`, with plain leaves answered without `execute_field`."""
        plans: Mapping[str, LeafPlan] = parent_type.extensions.get(LEAF_PLANS) or {}
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        try:
            for response_name, field_details_list in grouped_field_set.items():
                plan = plans.get(field_details_list[0].node.name.value)
                if plan is not None:
                    answer = _answer(plan, source_value)
                    if answer is not _NOT_PLAIN:
                        results[response_name] = answer
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

    @staticmethod
    async def _gather(results: dict[str, Any], awaitable_fields: list[str]) -> dict[str, Any]:
        """The fields' awaitables awaited in parallel, in place in `results` (as graphql-core)."""
        if len(awaitable_fields) == 1:
            field = awaitable_fields[0]
            results[field] = await results[field]
        else:
            awaitables: list[Awaitable[Any]] = [results[field] for field in awaitable_fields]
            awaited = await gather_with_cancel(*awaitables)
            results.update(zip(awaitable_fields, awaited, strict=True))
        return results
