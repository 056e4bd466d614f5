"""Errors raised by the source clients; an upstream's HTTP status never leaves `sources/`.

Every failure of an upstream call is translated once, in `sources/http.py`, into one of::

    SourceError(source, message)     base; .source is "erp" | "wms" | "servicedesk"
    ├── SourceUnavailable            5xx, connection errors, malformed body
    │   ├── SourceTimeout            the call's deadline passed (or the request's budget)
    │   ├── SourceThrottled          429 over quota; .retry_after in seconds when given
    │   ├── CircuitOpen              the source's breaker is open: failed fast, not sent
    │   ├── BulkheadFull             too many calls to the source in flight and queued
    │   └── PartlyStale              failed, but stale copies of some keys were found (.stale)
    ├── SourceRejected               4xx other than 404 and 429 (.status, upstream .code)
    │   └── SourceConflict           409: stale etag, insufficient stock
    └── SourceNotFound               404 on a single-entity read

Callers catch `SourceUnavailable` to degrade (stale data, partial results), `SourceRejected`
to report a business failure, and `SourceNotFound` to answer `null`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class SourceError(Exception):
    """Base of every upstream failure; carries which source failed and why."""

    def __init__(
        self,
        source: str,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{source}: {message}")
        self.source = source
        self.message = message
        self.status = status
        self.code = code
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(source={self.source!r}, message={self.message!r}, "
            f"status={self.status!r}, code={self.code!r})"
        )


class SourceUnavailable(SourceError):
    """The upstream could not answer usefully: 5xx, network failure or a malformed body."""


class SourceTimeout(SourceUnavailable):
    """The upstream did not answer before the call's deadline."""


class SourceThrottled(SourceUnavailable):
    """The upstream refused with 429; `retry_after` says when to try again, if it said."""


class CircuitOpen(SourceUnavailable):
    """The source's circuit breaker is open; the call failed fast without being sent."""


class BulkheadFull(SourceUnavailable):
    """The source's bulkhead (concurrent calls and their queue) is full; not sent."""


class PartlyStale(SourceUnavailable):
    """A bulk read failed; `.stale` holds the stale copies found for some of its keys."""

    def __init__(self, cause: SourceUnavailable, stale: Mapping[Any, Any]) -> None:
        super().__init__(cause.source, cause.message, status=cause.status, code=cause.code)
        self.stale = dict(stale)


class SourceRejected(SourceError):
    """The upstream refused the request (4xx other than 404/429)."""


class SourceConflict(SourceRejected):
    """The upstream refused because of a conflict (409: stale etag, insufficient stock)."""


class SourceNotFound(SourceError):
    """A single entity the caller asked for does not exist upstream."""


def error_for_status(
    source: str,
    status: int,
    code: str | None,
    message: str,
    retry_after: float | None = None,
) -> SourceError:
    """The SourceError subclass instance for an upstream's non-2xx status."""
    text = f"HTTP {status}" + (f" {code}" if code else "") + (f": {message}" if message else "")
    kind: type[SourceError]
    if status == 404:
        kind = SourceNotFound
    elif status == 409:
        kind = SourceConflict
    elif status == 429:
        kind = SourceThrottled
    elif 400 <= status < 500:
        kind = SourceRejected
    else:
        kind = SourceUnavailable
    return kind(source, text, status=status, code=code, retry_after=retry_after)
