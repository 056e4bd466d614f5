"""Field-level authorization, declared once in `ROLE_GATES` and visible in the SDL.

Every gated field carries `@requiresRole(roles: [...])` in the exported schema and a
strawberry `PermissionExtension` whose `HasRole` permission runs before the field's resolver,
so a refused field never reaches a loader or an upstream. A refused field resolves to `null`
with a `FORBIDDEN` error at its path while the rest of the query resolves; gated fields are
made nullable for that reason. Developers pass every gate. Gated object types (`Invoice`,
`CreditMemo`) carry the directive too, and `node`/`nodes` refuse their ids.

This is role gating only; business rules (refund thresholds, ownership) stay in the
mutations, which return them as `userErrors`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.permission import BasePermission, PermissionExtension
from strawberry.schema_directive import Location
from strawberry.types.base import StrawberryOptional
from strawberry.types.field import StrawberryField
from strawberry.utils.str_converters import to_camel_case

from graph.auth import AuthenticationError, principal_of

FORBIDDEN = "FORBIDDEN"


@strawberry.enum(description="A caller's role, from the `roles` claim of its token.")
class Role(Enum):
    """The four roles of the contract."""

    AGENT = strawberry.enum_value("agent", description="Contact-centre agent.")
    SUPERVISOR = strawberry.enum_value(
        "supervisor", description="Agent supervisor; approves large refunds."
    )
    STORE = strawberry.enum_value(
        "store", description="Store app: orders, shipments and stock, no PII or finance."
    )
    DEVELOPER = strawberry.enum_value(
        "developer", description="Developer; may do everything the other roles may."
    )


@strawberry.schema_directive(
    locations=[Location.FIELD_DEFINITION, Location.OBJECT],
    description="Only callers holding one of these roles may read this field or type; "
    "others get null and a FORBIDDEN error.",
)
class RequiresRole:
    """`@requiresRole(roles: [...])`."""

    roles: list[Role] = strawberry.field(description="The roles allowed.")


A, S, T, D = Role.AGENT, Role.SUPERVISOR, Role.STORE, Role.DEVELOPER
OFFICE = (A, S, D)  # everyone but store apps: customer PII and finance

# The one place where role gates are declared: GraphQL type → field (or "*": every field
# of the type not listed) → roles allowed.
ROLE_GATES: Mapping[str, Mapping[str, tuple[Role, ...]]] = {
    "Customer": {
        "email": OFFICE, "phone": OFFICE, "creditLimit": OFFICE, "balance": OFFICE,
        "invoices": OFFICE,
    },
    "Order": {"invoices": OFFICE},
    "Refund": {"creditMemo": OFFICE},
    "Invoice": {"creditMemos": OFFICE},
    "CreditMemo": {"invoice": OFFICE},
    "Mutation": {"*": (A, S, D), "approveRefund": (S, D), "addCaseNote": (A, S, T, D)},
    "Query": {"operationsSummary": (S, D)},
}
# Types no one else may see at all: the directive goes on the type, and node(id) refuses it.
GATED_TYPES: Mapping[str, tuple[Role, ...]] = {"Invoice": OFFICE, "CreditMemo": OFFICE}
NODE_FIELDS = {("Query", "node"): "id", ("Query", "nodes"): "ids"}


def forbidden(message: str) -> GraphQLError:
    """A `FORBIDDEN` field error."""
    return GraphQLError(message, extensions={"code": FORBIDDEN})


class HasRole(BasePermission):
    """Allows the field when the caller holds one of the roles (developers always do)."""

    def __init__(self, roles: Iterable[Role], field: str) -> None:
        self.roles = tuple(role.value for role in roles)
        self.message = f"{field} requires one of the roles {', '.join(self.roles)}"
        self.error_extensions = {"code": FORBIDDEN}

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        """True when the request's principal holds an allowed role."""
        try:
            return principal_of(info.context).has_any_role(self.roles)
        except AuthenticationError:
            return False  # no principal: fail closed


def readable_fields(type_name: str, names: Iterable[str], context: Any) -> frozenset[str]:
    """The `names` of `type_name`'s fields this request's caller may read: what lookahead may
    prefetch, so a gated field's data is never fetched for a caller the gate refuses."""
    gates = ROLE_GATES.get(type_name, {})
    try:
        principal = principal_of(context)
    except AuthenticationError:
        principal = None
    allowed = set()
    for name in names:
        roles = gates.get(name, gates.get("*"))
        if roles is None or (
            principal is not None and principal.has_any_role([role.value for role in roles])
        ):
            allowed.add(name)
    return frozenset(allowed)


class NodeTypeAllowed(BasePermission):
    """Refuses `node`/`nodes` lookups of gated types for callers without the role."""

    def __init__(self, argument: str) -> None:
        self.argument = argument
        self.message = "one of the ids names a type this caller may not read"
        self.error_extensions = {"code": FORBIDDEN}

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        """False when an id names a gated type the caller may not see."""
        value = kwargs.get(self.argument)
        ids = value if isinstance(value, list) else [value]
        try:
            principal = principal_of(info.context)
        except AuthenticationError:
            return False
        for type_name in map(_type_of_id, ids):
            roles = GATED_TYPES.get(type_name or "")
            if roles and not principal.has_any_role([role.value for role in roles]):
                return False
        return True


def _type_of_id(value: object) -> str | None:
    """The type name inside an opaque id, without validating it (the resolver does that)."""
    from graph.types.common import decode_global_id

    try:
        return decode_global_id(str(value))[0]
    except Exception:  # noqa: BLE001 - malformed ids are the resolver's BAD_USER_INPUT
        return None


_APPLIED = "_retailgraph_role_gate"


def apply_role_gates(*classes: type | None) -> None:
    """Attach the gates of `ROLE_GATES` to these strawberry types; safe to call repeatedly."""
    for cls in classes:
        definition = getattr(cls, "__strawberry_definition__", None)
        if definition is None:
            continue
        type_name = definition.name
        gates = ROLE_GATES.get(type_name, {})
        if type_name in GATED_TYPES and not getattr(definition, _APPLIED, False):
            definition.directives = [
                *(definition.directives or ()), RequiresRole(roles=list(GATED_TYPES[type_name]))
            ]
            setattr(definition, _APPLIED, True)
        for field in definition.fields:
            name = field.graphql_name or to_camel_case(field.python_name)
            if (type_name, name) in NODE_FIELDS:
                _gate_node_field(field, NODE_FIELDS[(type_name, name)])
                continue
            roles = gates.get(name, gates.get("*"))
            if roles is not None:
                _gate(field, f"{type_name}.{name}", roles)


def _gate(field: StrawberryField, label: str, roles: tuple[Role, ...]) -> None:
    """Directive for the SDL, permission for execution, nullability for partial data."""
    if getattr(field, _APPLIED, False):
        return
    setattr(field, _APPLIED, True)
    field.directives.append(RequiresRole(roles=list(roles)))
    field.extensions.insert(0, PermissionExtension([HasRole(roles, label)], use_directives=False))
    if not isinstance(field.type, StrawberryOptional):
        field.type = StrawberryOptional(field.type)


def _gate_node_field(field: StrawberryField, argument: str) -> None:
    """`node`/`nodes`: refuse ids of gated types before any lookup."""
    if getattr(field, _APPLIED, False):
        return
    setattr(field, _APPLIED, True)
    field.extensions.insert(
        0, PermissionExtension([NodeTypeAllowed(argument)], use_directives=False)
    )
