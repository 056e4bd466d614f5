"""A request's headers by lowercase name, parsed once per request for every middleware.

The telemetry, request-id, body-limit, CSRF and auth middlewares each read the headers; they
share one dict, kept in the scope's `state`. Nothing in the stack rewrites request headers.
"""

from __future__ import annotations

from starlette.types import Scope

__all__ = ["request_headers"]

_KEY = "retailgraph.request_headers"


def request_headers(scope: Scope) -> dict[str, str]:
    """The scope's headers by lowercase name (last value wins), parsed on first use."""
    state = scope.setdefault("state", {})
    found: dict[str, str] | None = state.get(_KEY)
    if found is None:
        found = state[_KEY] = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]
        }
    return found
