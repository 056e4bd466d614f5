"""OData query building for the Business Central-shaped ERP: filters, URLs, paging links.

Business Central ignores `field in (...)` (every row comes back), so many keys are fetched
with `field eq 'a' or field eq 'b' …` chains, each kept under the URL filter limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

API_ROOT = "/api/v2.0/"
# Characters left literal in query values; everything else is percent-encoded.
_SAFE = "$,()"


def literal(value: str) -> str:
    """An OData string literal: single-quoted, embedded quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def filter_length(text: str) -> int:
    """Length of a filter as the ERP measures it against its limit (the decoded text)."""
    return len(text)


def or_chains(field_name: str, values: Iterable[str], max_chars: int) -> list[str]:
    """`field eq 'v1' or field eq 'v2' …` filters, each at most `max_chars` long."""
    chains: list[str] = []
    current: list[str] = []
    length = 0
    joiner = filter_length(" or ")
    for value in dict.fromkeys(values):
        clause = f"{field_name} eq {literal(value)}"
        size = filter_length(clause)
        if size > max_chars:
            raise ValueError(f"a single {field_name} value is longer than the filter limit")
        if current and length + joiner + size > max_chars:
            chains.append(" or ".join(current))
            current, length = [], 0
        length += (joiner if current else 0) + size
        current.append(clause)
    if current:
        chains.append(" or ".join(current))
    return chains


@dataclass(frozen=True, slots=True)
class Query:
    """One OData collection read, relative to the company: entity set plus query options."""

    entity_set: str
    filter: str | None = None
    expand: str | None = None
    orderby: str | None = None
    top: int | None = None
    skip: int | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    def options(self) -> list[tuple[str, str]]:
        """The query options in a stable order."""
        pairs: list[tuple[str, str]] = []
        if self.filter:
            pairs.append(("$filter", self.filter))
        if self.expand:
            pairs.append(("$expand", self.expand))
        if self.orderby:
            pairs.append(("$orderby", self.orderby))
        if self.top is not None:
            pairs.append(("$top", str(self.top)))
        if self.skip:
            pairs.append(("$skip", str(self.skip)))
        pairs.extend(sorted(self.extra.items()))
        return pairs

    def relative_url(self, company_id: str) -> str:
        """The URL relative to `/api/v2.0/`, as `$batch` wants it."""
        query = "&".join(f"{key}={quote(value, safe=_SAFE)}" for key, value in self.options())
        path = f"companies({company_id})/{self.entity_set}"
        return f"{path}?{query}" if query else path


def chained_queries(
    entity_set: str,
    field_name: str,
    values: Sequence[str],
    max_chars: int,
    *,
    expand: str | None = None,
) -> list[Query]:
    """One query per filter chain needed to read every row whose `field_name` is in `values`."""
    return [
        Query(entity_set, filter=chain, expand=expand)
        for chain in or_chains(field_name, values, max_chars)
    ]


def relative_from_link(link: str) -> str:
    """`@odata.nextLink` (absolute, any host) → URL relative to `/api/v2.0/`."""
    parts = urlsplit(link)
    path = parts.path
    index = path.find(API_ROOT)
    if index >= 0:
        path = path[index + len(API_ROOT):]
    else:
        path = path.lstrip("/")
    return f"{path}?{parts.query}" if parts.query else path


def absolute_path(relative: str) -> str:
    """A `$batch`-relative URL as a path from the server root."""
    return API_ROOT + relative
