"""Limits checked before execution, and the schema extension that enforces all governance.

`GovernanceExtension` runs first among the schema extensions and, per operation:

1. on_operation: resolves persisted queries (graph/persisted.py) for the caller;
2. on_parse: parses with a token limit (cached per document text);
3. on_validate: document limits (depth, aliases, directives, page sizes) *before* the
   standard rules, whose cost grows with the document; then validation (cached, with
   introspection refused and suggestions removed for non-developers in production); then
   the static cost against the maximum (`QUERY_TOO_COMPLEX`) and the caller's budget
   (`RATE_LIMITED`) — so a refused operation never reaches a resolver or an upstream;
4. on_execute: the actual cost, and the unused part of the reservation given back;
5. get_results: `extensions.cost` on every response.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import (
    DirectiveNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    parse,
    visit,
    Visitor,
)
from graphql.utilities import get_operation_ast
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from graph.auth import ANONYMOUS_DEVELOPER, AuthenticationError, Principal, principal_of
from graph.cost import CostBudget, actual_cost, static_cost, static_cost_of_text
from graph.persisted import ApqStore, PersistedQueries, PersistedQueryError, TrustedDocuments
from graph.settings import Settings

QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
RATE_LIMITED = "RATE_LIMITED"
BAD_USER_INPUT = "BAD_USER_INPUT"
TOKEN_LIMIT_MESSAGE = "Document contains more than"
_PLACEHOLDER = parse("{ __typename }")  # stands in for a document refused before parsing


@dataclass(frozen=True)
class Limits:
    """Document limits, from settings."""

    max_depth: int
    max_aliases: int
    max_tokens: int
    max_directives: int
    max_page_size: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        """The limits configured by `RETAILGRAPH_MAX_QUERY_*` and friends."""
        return cls(
            max_depth=settings.max_query_depth,
            max_aliases=settings.max_query_aliases,
            max_tokens=settings.max_query_tokens,
            max_directives=settings.max_query_directives,
            max_page_size=settings.max_page_size,
        )


@dataclass(frozen=True)
class Shape:
    """What the limits look at in a document; variables aside, fixed per document."""

    aliases: int
    directives: int
    depth: int
    slices: tuple[tuple[str, str, Any], ...]

    @classmethod
    def of(cls, document: DocumentNode, max_depth_cap: int) -> Shape:
        """Walk the document once."""
        counter = _Counter()
        visit(document, counter)
        depth = max_depth(document, max_depth_cap)
        return cls(counter.aliases, counter.directives, depth, tuple(counter.slices))


def limit_errors(
    document: DocumentNode, limits: Limits, variables: Mapping[str, Any] | None,
    *, shape: Shape | None = None,
) -> list[GraphQLError]:
    """Depth, alias, directive and page-size violations, without expanding fragments twice."""
    shape = shape or Shape.of(document, limits.max_depth)
    errors: list[GraphQLError] = []
    if shape.aliases > limits.max_aliases:
        errors.append(_error(f"{shape.aliases} aliases exceed the limit of {limits.max_aliases}"))
    if shape.directives > limits.max_directives:
        errors.append(
            _error(f"{shape.directives} directives exceed the limit of {limits.max_directives}")
        )
    depth = shape.depth
    if depth > limits.max_depth:
        errors.append(_error(f"depth {depth} exceeds the limit of {limits.max_depth}"))
    for field, argument, value in shape.slices:
        if isinstance(value, VariableNode):
            value = (variables or {}).get(value.name.value)
        elif isinstance(value, IntValueNode):
            value = int(value.value)
        if isinstance(value, int) and not 0 <= value <= limits.max_page_size:
            errors.append(
                GraphQLError(
                    f"{field}({argument}:) must be between 0 and {limits.max_page_size}",
                    extensions={"code": BAD_USER_INPUT},
                )
            )
    return errors


def _error(message: str) -> GraphQLError:
    """A `QUERY_TOO_COMPLEX` request error."""
    return GraphQLError(f"Query too complex: {message}.", extensions={"code": QUERY_TOO_COMPLEX})


class _Counter(Visitor):
    """Counts aliases and directives and collects `first`/`last` arguments, node by node."""

    def __init__(self) -> None:
        super().__init__()
        self.aliases = 0
        self.directives = 0
        self.slices: list[tuple[str, str, Any]] = []

    def enter_field(self, node: FieldNode, *_: Any) -> None:
        """Count an alias; remember slicing arguments."""
        if node.alias is not None:
            self.aliases += 1
        for argument in node.arguments or ():
            if argument.name.value in ("first", "last"):
                self.slices.append((node.name.value, argument.name.value, argument.value))

    def enter_directive(self, node: DirectiveNode, *_: Any) -> None:
        """Count a directive use."""
        self.directives += 1


def max_depth(document: DocumentNode, cap: int) -> int:
    """The deepest field nesting of any operation, explored no further than `cap` + 1 levels.

    Fragments are measured once (relative depth, memoised) and introspection is free, so
    neither fragment fan-out nor a very deep document can make this check expensive.
    """
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    memo: dict[str, int] = {}
    visiting: set[str] = set()

    def depth_of(selection_set: SelectionSetNode | None, level: int) -> int:
        deepest = level - 1
        if level > cap + 1:
            return deepest
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                if not selection.name.value.startswith("__"):
                    deepest = max(deepest, depth_of(selection.selection_set, level + 1))
                    deepest = max(deepest, level)
            elif isinstance(selection, InlineFragmentNode):
                deepest = max(deepest, depth_of(selection.selection_set, level))
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name not in memo and name in fragments and name not in visiting:
                    visiting.add(name)
                    memo[name] = depth_of(fragments[name].selection_set, 1)
                    visiting.discard(name)
                deepest = max(deepest, level - 1 + memo.get(name, 0))
        return deepest

    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    return max((depth_of(op.selection_set, 1) for op in operations), default=0)


@lru_cache(maxsize=512)
def _parse(query: str, max_tokens: int) -> DocumentNode:
    """Parse once per distinct document text (the AST is never mutated)."""
    return parse(query, max_tokens=max_tokens)


def _cached_document(query: str, max_tokens: int) -> DocumentNode | None:
    """The document `_parse` gives for this text (already cached by `on_parse`); None when
    the text does not parse."""
    try:
        return _parse(query, max_tokens)
    except GraphQLError:
        return None


@lru_cache(maxsize=512)
def _shape(query: str, max_tokens: int, max_depth_cap: int) -> Shape:
    """The limits' walk of a document, once per document text (its AST is `_parse`'s)."""
    return Shape.of(_parse(query, max_tokens), max_depth_cap)


@lru_cache(maxsize=512)
def _validate_text(
    schema: GraphQLSchema, query: str, max_tokens: int, rules: tuple[Any, ...]
) -> list[GraphQLError]:
    """Validate once per (schema, document text, rules); keyed by the text because hashing
    a graphql-core AST walks every node of it, on every request."""
    return validate_document(schema, _parse(query, max_tokens), rules)


class Governor:
    """App-wide governance state: limits, the cost budget and the persisted documents."""

    def __init__(self, settings: Settings, *, budget: CostBudget | None = None) -> None:
        self.settings = settings
        self.limits = Limits.from_settings(settings)
        self.max_cost = min(settings.max_query_cost, settings.cost_bucket_size)
        self.budget = budget or CostBudget(settings.cost_bucket_size, settings.cost_restore_rate)
        self.persisted = PersistedQueries(
            production=settings.is_production,
            trusted=TrustedDocuments.from_directory(settings.trusted_documents_dir),
            apq=ApqStore(settings.apq_cache_size),
        )

    def extension(self) -> Callable[[], SchemaExtension]:
        """A factory for `build_schema(extensions=[...])`: one extension instance per operation."""
        return lambda: GovernanceExtension(self)


class GovernanceExtension(SchemaExtension):
    """Persisted queries, limits, validation, cost and budget for one operation."""

    def __init__(self, governor: Governor) -> None:
        super().__init__()
        self.governor = governor
        self.principal = ANONYMOUS_DEVELOPER
        self.rejection: GraphQLError | None = None
        self.requested: int = 0
        self.actual: int | None = None

    def on_operation(self) -> Iterator[None]:
        """Identify the caller and resolve the document it asked for."""
        context = self.execution_context
        try:
            self.principal = self._principal()
            context.query = self.governor.persisted.resolve(
                context.query, context.operation_extensions, self.principal
            )
        except (AuthenticationError, PersistedQueryError) as exc:
            code = getattr(exc, "code", "UNAUTHENTICATED")
            self.rejection = GraphQLError(str(exc), extensions={"code": code})
            context.graphql_document = _PLACEHOLDER
            context._provided_operation_name = None  # type: ignore[attr-defined]
        yield

    def _principal(self) -> Principal:
        """The authenticated caller; anonymous developer only outside production."""
        try:
            return principal_of(self.execution_context.context)
        except AuthenticationError:
            if self.governor.settings.is_production:
                raise
            return ANONYMOUS_DEVELOPER

    def on_parse(self) -> Iterator[None]:
        """Parse with the token limit; a token overflow is `QUERY_TOO_COMPLEX`."""
        context = self.execution_context
        max_tokens = self.governor.limits.max_tokens
        context.parse_options["max_tokens"] = max_tokens
        if context.graphql_document is None and context.query:
            try:
                context.graphql_document = _parse(context.query, max_tokens)
            except GraphQLError:
                pass  # strawberry parses again and reports the error itself
        yield
        for error in context.pre_execution_errors or ():
            if error.message.startswith(f"Syntax Error: {TOKEN_LIMIT_MESSAGE}"):
                error.extensions = {**(error.extensions or {}), "code": QUERY_TOO_COMPLEX}

    def on_validate(self) -> Iterator[None]:
        """Everything that can refuse an operation before it runs, cheapest first."""
        context = self.execution_context
        context.pre_execution_errors = self._refusals()
        yield

    def _refusals(self) -> list[GraphQLError]:
        """The errors that stop this operation (empty: it may run, and its cost is reserved)."""
        if self.rejection is not None:
            return [self.rejection]
        context = self.execution_context
        document = context.graphql_document
        assert document is not None
        limits = self.governor.limits
        shape = None
        if context.query and document is _cached_document(context.query, limits.max_tokens):
            shape = _shape(context.query, limits.max_tokens, limits.max_depth)
        errors = limit_errors(document, limits, context.variables, shape=shape)
        if errors:
            return errors
        restricted = self.governor.settings.is_production and not self.principal.is_developer
        rules = tuple(context.validation_rules)
        if restricted:
            rules += (NoSchemaIntrospectionCustomRule,)
        if shape is not None:  # our cached document: validate once per text, not per AST hash
            found = _validate_text(context.schema._schema, context.query, limits.max_tokens, rules)
        else:
            found = validate_document(context.schema._schema, document, rules)
        errors = [_copy(e, restricted) for e in found]
        if errors:
            return errors
        list_size = self.governor.settings.cost_default_list_size
        if shape is not None:  # our cached document: its cost is remembered per query text
            self.requested = static_cost_of_text(
                context.schema._schema, context.query, document, context.operation_name,
                context.variables, default_list_size=list_size,
            )
        else:
            self.requested = static_cost(
                context.schema._schema, document, context.operation_name, context.variables,
                default_list_size=list_size,
            )
        if self.requested > self.governor.max_cost:
            return [_error(f"cost {self.requested} exceeds the maximum of {self.governor.max_cost}")]
        if not self.governor.budget.try_spend(self.principal.client_id, self.requested):
            retry = self.governor.budget.retry_after(self.principal.client_id, self.requested)
            return [
                GraphQLError(
                    f"Throttled: this query costs {self.requested} points; retry in {retry} s.",
                    extensions={"code": RATE_LIMITED, "retryAfter": retry},
                )
            ]
        self.actual = self.requested  # until execution tells us better
        return []

    def on_execute(self) -> Iterator[None]:
        """Measure what was returned and give back the unused reservation."""
        yield
        result = self.execution_context.result
        data = getattr(result, "data", None)
        if self.actual is None or not isinstance(data, dict):
            return
        operation = get_operation_ast(
            self.execution_context.graphql_document, self.execution_context.operation_name
        ) if self.execution_context.graphql_document else None
        self.actual = min(actual_cost(data, operation), self.requested)
        self.governor.budget.refund(self.principal.client_id, self.requested - self.actual)

    def get_results(self) -> dict[str, Any]:
        """`extensions.cost`, Shopify's shape."""
        status = self.governor.budget.status(self.principal.client_id)
        return {
            "cost": {
                "requestedQueryCost": self.requested,
                "actualQueryCost": self.actual,
                "throttleStatus": status.as_json(),
            }
        }


def _copy(error: GraphQLError, restricted: bool) -> GraphQLError:
    """A fresh copy of a cached validation error, without suggestions for restricted callers."""
    message = error.message
    if restricted and "Did you mean" in message:
        message = message.split(" Did you mean")[0].strip()
    code = "FORBIDDEN" if restricted and "introspection has been disabled" in message else BAD_USER_INPUT
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        extensions={**(error.extensions or {}), "code": code},
    )
