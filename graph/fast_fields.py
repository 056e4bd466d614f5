"""Direct field resolvers in place of strawberry's per-field wrappers, where provably equivalent.

Why: strawberry (0.341) wraps each field's resolver at schema build time
(`GraphQLCoreConverter.from_resolver`). A field with a resolver runs `_resolver` → a new
`Info` → `extension_resolver` (`get_arguments`, a reduce/partial chain over the field
extensions) → `_get_result` → `StrawberryField.get_result` → `StrawberryResolver.__call__`.
A plain attribute field runs `_get_basic_result` → `StrawberryField.get_result` →
`getattr`. A customer-360 resolves a few thousand fields, so these layers cost ~8% of its CPU.

`install_fast_resolvers` swaps `GraphQLField.resolve` for a direct closure only where that
closure does exactly what the wrapper would, given the state strawberry itself froze at
build time. Whole-schema conditions (else nothing is replaced):

- `config.default_resolver` is `getattr`;
- no schema extension (including strawberry's own `DirectivesExtension`) implements
  `resolve`, so graphql-core runs the field resolvers without middleware.

Per-field conditions (else the field keeps strawberry's wrapper):

- the `GraphQLField` links back to a `StrawberryField` (strawberry's definition back-reference)
  whose class does not override `get_result`, on an object type that is not the
  subscription root, with no GraphQL arguments;
- no field extensions (relay connection/node fields, permission classes, any other
  extension), except our `@requiresRole` gate alone: a `PermissionExtension` (not failing
  silently) of `HasRole` checks only (graph/permissions.py). Such a field's direct resolve
  runs the same checks on the same strawberry `Info` first and raises the same error on a
  refusal (`_gated`);
- no exception handler can apply to the field;
- the current resolve is strawberry's own `_get_basic_result` or sync `_resolver`;
- basic field (no resolver): its default resolver is `getattr`. It becomes
  `getattr(source, python_name)`;
- resolver field: the resolver is synchronous, not generic, callable, and a plain
  `StrawberryResolver`. It becomes a call of the same `wrapped_func` with what
  `get_arguments` passes: the source positionally for `self`, the source by name for
  `root`/`Parent`, and `config.info_class(_raw_info=info, _field=field)` by name for `Info`
  (built only when the resolver asks for it). Bound classmethods/staticmethods (relay's `id`)
  are called the same way, and what they return (including an awaitable) goes back to
  graphql-core unchanged, as with strawberry's sync `_resolver`.

Exceptions propagate unchanged, so graphql-core reports the same error at the same path.

A plain attribute read of a scalar or enum also gets a `LeafPlan` (in its object type's
`extensions`), and the schema then executes with graph/fast_execution.py's executor, which
answers those leaves without graphql-core's per-field machinery.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import Any

import strawberry
from graphql import GraphQLObjectType, GraphQLResolveInfo
from strawberry.permission import PermissionExtension
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField
from strawberry.types.fields.resolver import StrawberryResolver

from graph.fast_execution import (
    FIELD_PLANS,
    FastExecutor,
    LeafPlan,
    ObjectPlan,
    leaf_plan,
    object_plan,
    supported,
)
from graph.permissions import HasRole

__all__ = ["install_fast_resolvers"]

Resolve = Callable[..., Any]

# strawberry's wrappers, recognised by name: anything else (an async resolver, a subscription,
# a resolver someone else replaced, a future strawberry's new wrapper) is left alone.
_WRAPPERS = "GraphQLCoreConverter.from_resolver.<locals>."
_BASIC_WRAPPER = _WRAPPERS + "_get_basic_result"
_SYNC_WRAPPER = _WRAPPERS + "_resolver"


def install_fast_resolvers(schema: strawberry.Schema) -> int:
    """Replace the resolve of every field that passes the module's conditions; how many."""
    if schema.config.default_resolver is not getattr or _has_resolve_middleware(schema):
        return 0
    graphql_schema = schema._schema
    replaced = 0
    for graphql_type in graphql_schema.type_map.values():
        if (
            not isinstance(graphql_type, GraphQLObjectType)
            or graphql_type.name.startswith("__")
            or graphql_type is graphql_schema.subscription_type
        ):
            continue
        plans: dict[str, LeafPlan | ObjectPlan] = {}
        for name, graphql_field in graphql_type.fields.items():
            field = (graphql_field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
            if graphql_field.args or not isinstance(field, StrawberryField):
                continue
            fast = _fast_resolve(schema, field, graphql_field.resolve)
            if fast is not None:
                graphql_field.resolve = fast
                replaced += 1
                plain = fast._is_default  # type: ignore[attr-defined]  # an attribute read
                plan: LeafPlan | ObjectPlan | None = (
                    leaf_plan(graphql_field, field.python_name) if plain else None
                )
                read = getattr(fast, "_source_only", None)  # reads nothing but the source
                if plan is None and read is not None:
                    plan = object_plan(graphql_field, read)
                if plan is not None:  # a scalar or enum attribute; an object (list) from the source
                    plans[name] = plan
        if plans:
            graphql_type.extensions[FIELD_PLANS] = plans
    executor = schema.execution_context_class
    if replaced and executor is StrawberryGraphQLCoreExecutionContext and supported():
        schema.execution_context_class = FastExecutor  # graph/fast_execution.py
    return replaced


def _has_resolve_middleware(schema: strawberry.Schema) -> bool:
    """True when a request would run field middleware (an extension with a `resolve` hook).

    Builds the extensions once, as strawberry does for every request, to see their classes
    (factories hide them)."""
    return any(
        extension._implements_resolve()
        for sync in (False, True)
        for extension in schema.get_extensions(sync=sync)
    )


def _has_exception_handlers(schema: strawberry.Schema, field: StrawberryField) -> bool:
    """True when an exception handler may apply to the field (or this strawberry can't say)."""
    converter = schema.schema_converter
    find = getattr(converter, "_get_field_exception_handlers", None)
    if find is None:
        return bool(getattr(converter, "exception_handlers", ()))
    return bool(find(field))


def _fast_resolve(
    schema: strawberry.Schema, field: StrawberryField, current: Resolve | None
) -> Resolve | None:
    """The direct resolve for this field, or None when it must keep strawberry's."""
    gate = _role_gate(field)
    if (
        gate is None
        or field.arguments
        or field.permission_classes
        or field.is_subscription
        or type(field).get_result is not StrawberryField.get_result
        or _has_exception_handlers(schema, field)
    ):
        return None
    wrapper = getattr(current, "__qualname__", None)
    resolver = field.base_resolver
    fast: Resolve
    if resolver is None:
        # strawberry reads a gated attribute through its full wrapper, an ungated one directly
        if wrapper != (_SYNC_WRAPPER if gate else _BASIC_WRAPPER) or field.default_resolver is not getattr:
            return None
        fast = _attribute(field.python_name)
    elif (
        wrapper != _SYNC_WRAPPER
        or field.is_async
        or field.is_graphql_generic
        or type(resolver).__call__ is not StrawberryResolver.__call__
        or not callable(resolver.wrapped_func)
    ):
        return None
    else:
        fast = _call(field, resolver, schema.config.info_class)
    return _gated(fast, gate, field, schema.config.info_class) if gate else fast


def _role_gate(field: StrawberryField) -> tuple[HasRole, ...] | None:
    """The field's role gate: () for none, its `HasRole` checks when its only extension is
    graph/permissions.py's gate, None when it has any other extension."""
    if not field.extensions:
        return ()
    if len(field.extensions) != 1:
        return None
    extension = field.extensions[0]
    if type(extension) is not PermissionExtension or extension.fail_silently:
        return None
    permissions = tuple(extension.permissions)
    if not permissions or not all(type(permission) is HasRole for permission in permissions):
        return None
    return permissions  # type: ignore[return-value]  # all HasRole, checked above


def _gated(
    inner: Resolve,
    permissions: tuple[HasRole, ...],
    field: StrawberryField,
    info_class: type[strawberry.Info],
) -> Resolve:
    """`PermissionExtension.resolve` without the layers: each `HasRole` (which answers a
    bool, synchronously) checks the strawberry `Info`; the first refusal raises its error
    (`on_unauthorized`, as the extension does when not failing silently), else `inner` runs."""

    def resolve(source: Any, info: GraphQLResolveInfo) -> Any:
        strawberry_info = info_class(_raw_info=info, _field=field)
        for permission in permissions:
            if not permission.has_permission(source, strawberry_info):
                return permission.on_unauthorized()
        return inner(source, info)

    resolve._is_default = False  # type: ignore[attr-defined]  # never a plain read: the gate runs
    return resolve


def _attribute(name: str) -> Resolve:
    """`_get_basic_result` without the layers: the source's attribute."""

    def resolve(source: Any, info: GraphQLResolveInfo) -> Any:
        return getattr(source, name)

    resolve._is_default = True  # type: ignore[attr-defined]  # as strawberry marks it
    resolve._source_only = attrgetter(name)  # type: ignore[attr-defined]  # the same read, without info
    return resolve


def _call(
    field: StrawberryField, resolver: StrawberryResolver[Any], info_class: type[strawberry.Info]
) -> Resolve:
    """`_resolver` without the layers: `wrapped_func` with the arguments `get_arguments` gives."""
    func = resolver.wrapped_func
    as_self = resolver.self_parameter is not None
    by_name = tuple(
        dict.fromkeys(
            parameter.name
            for parameter in (resolver.parent_parameter, resolver.root_parameter)
            if parameter is not None
        )
    )
    info_name = None if resolver.info_parameter is None else resolver.info_parameter.name

    resolve: Resolve
    if as_self and not by_name and info_name is None:

        def resolve(source: Any, info: GraphQLResolveInfo) -> Any:
            return func(source)

        resolve._source_only = func  # type: ignore[attr-defined]  # the same call, without info

    elif as_self and not by_name and info_name == "info":

        def resolve(source: Any, info: GraphQLResolveInfo) -> Any:
            return func(source, info=info_class(_raw_info=info, _field=field))

    else:

        def resolve(source: Any, info: GraphQLResolveInfo) -> Any:
            kwargs: dict[str, Any] = dict.fromkeys(by_name, source)
            if info_name is not None:
                kwargs[info_name] = info_class(_raw_info=info, _field=field)
            return func(*((source,) if as_self else ()), **kwargs)

    resolve._is_default = False  # type: ignore[attr-defined]  # as strawberry marks it
    return resolve
