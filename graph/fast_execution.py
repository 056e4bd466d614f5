"""A leaf field's value straight from its source, without graphql-core's per-field machinery.

Why: a customer-360 completes ~240 leaf fields (`number`, `status`, `amount`, …) that are
plain attributes of the objects their parents resolved. For each, graphql-core's
`execute_field` builds a `GraphQLResolveInfo` (strawberry's, with operation extensions),
calls the resolver, checks for an awaitable twice, and walks `complete_value` (non-null →
leaf → `coerce_output_value`). The answer is `coerce_output_value(getattr(source, name))`.

`FastLeafExecutor.execute_field` gives exactly that answer for fields that
graph/fast_fields.py made plain attribute reads (`resolve.leaf` is set there) and whose type
is a scalar or enum, nullable or not. Anything else, and any value it can't answer the plain
way (an exception, an exception object, an unserializable value, null for a non-null
field), goes to graphql-core's own `execute_field`, which reads the attribute again and
reports the error at the same path as always: an attribute read has no side effect.

Installed by `install_fast_resolvers` only when graphql-core's `execute_field` has the
signature this was written against (graphql-core 3.3); otherwise strawberry's executor stays.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLField, GraphQLLeafType, GraphQLNonNull, GraphQLObjectType, is_leaf_type
from graphql.pyutils import Undefined
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

__all__ = ["FastLeafExecutor", "LeafPlan", "leaf_plan", "supported"]

_EXPECTED_PARAMETERS = ["self", "parent_type", "source", "field_details_list", "path", "position_context"]


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
    """True when graphql-core's `execute_field` is the one this module shortcuts."""
    signature = inspect.signature(StrawberryGraphQLCoreExecutionContext.execute_field)
    return list(signature.parameters) == _EXPECTED_PARAMETERS


class FastLeafExecutor(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, answering plain-attribute leaf fields directly."""

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Any,
        position_context: Any,
    ) -> Any:
        """The leaf's coerced attribute when that is the whole answer, else graphql-core's."""
        field_def = parent_type.fields.get(field_details_list[0].node.name.value)
        plan: LeafPlan | None = getattr(field_def and field_def.resolve, "leaf", None)
        if plan is not None:
            try:
                value = getattr(source, plan.attribute)
                if value is None:
                    if plan.nullable:
                        return None
                elif not isinstance(value, Exception):
                    coerced = plan.coerce(value)
                    if coerced is not None and coerced is not Undefined:
                        return coerced
            except Exception:  # noqa: BLE001  # graphql-core reads it again and reports it
                pass
        return super().execute_field(parent_type, source, field_details_list, path, position_context)
