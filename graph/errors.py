"""GraphQL error codes and the formatter that gives every error one of them.

What a resolver raises decides what the client sees:

    SourceError (sources/errors.py)        → SOURCE_UNAVAILABLE + extensions.source, that field only
    BadUserInput, GlobalIDValueError,
    StrawberryInputCoercionError           → BAD_USER_INPUT, message kept
    parse / validation / variable errors   → BAD_USER_INPUT, message kept
    GraphQLError with extensions.code      → kept as raised (auth, limits, persisted queries)
    anything else                          → INTERNAL, message masked, logged with its traceback

Not found is `null`, never an error. An upstream's HTTP status never reaches the client.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import GraphQLError
from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.extensions import SchemaExtension
from strawberry.relay import GlobalIDValueError
from strawberry.types.execution import ExecutionResult

from sources.errors import SourceError, SourceTimeout

logger = logging.getLogger("retailgraph.graph.errors")

BAD_USER_INPUT = "BAD_USER_INPUT"
SOURCE_UNAVAILABLE = "SOURCE_UNAVAILABLE"
INTERNAL = "INTERNAL"
INTERNAL_MESSAGE = "Internal server error."

SOURCE_LABELS = {"erp": "ERP", "wms": "WMS", "servicedesk": "service platform"}


class BadUserInput(ValueError):
    """A client sent an argument the graph cannot use (bad id, cursor, page size)."""


def _original(error: GraphQLError) -> Exception | None:
    """The innermost non-GraphQL exception behind an error, or the deepest GraphQLError."""
    original: Exception | None = error.original_error
    while isinstance(original, GraphQLError) and original.original_error is not None:
        original = original.original_error
    return original


def error_code(error: GraphQLError) -> str:
    """The `extensions.code` the error should carry."""
    existing = (error.extensions or {}).get("code")
    if isinstance(existing, str):
        return existing
    original = _original(error)
    if isinstance(original, GraphQLError):
        nested = (original.extensions or {}).get("code")
        if isinstance(nested, str):
            return nested
    if isinstance(original, SourceError):
        return SOURCE_UNAVAILABLE
    if isinstance(original, (BadUserInput, GlobalIDValueError, StrawberryInputCoercionError)):
        return BAD_USER_INPUT
    if error.path is None and (original is None or isinstance(original, (ValueError, TypeError))):
        return BAD_USER_INPUT  # parse, validation and variable coercion errors
    return INTERNAL


def _source_message(error: SourceError) -> str:
    """A client-safe message naming the unavailable source."""
    label = SOURCE_LABELS.get(error.source, error.source)
    if isinstance(error, SourceTimeout):
        return f"The {label} did not answer in time; the rest of the result is unaffected."
    return f"The {label} is unavailable; the rest of the result is unaffected."


def format_error(error: GraphQLError) -> GraphQLError:
    """Return the error as the client should see it, with `extensions.code` set."""
    code = error_code(error)
    original = _original(error)
    extensions: dict[str, Any] = dict(error.extensions or {})
    if isinstance(original, GraphQLError):
        extensions = {**(original.extensions or {}), **extensions}
    extensions["code"] = code
    message = error.message
    if code == SOURCE_UNAVAILABLE and isinstance(original, SourceError):
        extensions["source"] = original.source
        message = _source_message(original)
    elif code == INTERNAL:
        message = INTERNAL_MESSAGE
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=original if code != INTERNAL else None,
        extensions=extensions,
    )


def log_error(error: GraphQLError) -> None:
    """Log an error once, at a level that matches who has to act on it."""
    code = error_code(error)
    original = _original(error)
    if code == INTERNAL:
        logger.error("unexpected error at %s: %s", error.path, error.message, exc_info=original)
    elif code == SOURCE_UNAVAILABLE:
        logger.warning("source error at %s: %r", error.path, original)
    else:
        logger.debug("client error at %s: %s", error.path, error.message)


class ErrorFormatter(SchemaExtension):
    """Give every error in a result its contract code; mask unexpected ones."""

    def on_operation(self) -> Iterator[None]:
        """Rewrite the result's errors after the operation ran."""
        yield
        result = self.execution_context.result
        if isinstance(result, (GraphQLExecutionResult, ExecutionResult)) and result.errors:
            result.errors = [format_error(error) for error in result.errors]
