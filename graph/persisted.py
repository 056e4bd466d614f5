"""Persisted queries: Apollo's APQ protocol in development, trusted documents in production.

A request names a document with `extensions.persistedQuery = {version: 1, sha256Hash}`.

- development: automatic persisted queries. A hash alone is looked up in an in-memory LRU
  (then in the trusted documents); unknown → `PERSISTED_QUERY_NOT_FOUND` with the message
  `PersistedQueryNotFound`, on which Apollo clients resend hash + query to register it.
- production: a safelist per client application, loaded at start-up from a directory of
  Apollo persisted-query manifests named `<client_id>.json` (the `client_id` claim of the
  caller's token picks the list). Registration is off; a hash not in the caller's list is
  `PERSISTED_QUERY_NOT_FOUND`; a document sent as text is accepted from a non-developer only
  when it is byte-for-byte one of its client's trusted documents.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graph.auth import Principal

MANIFEST_FORMAT = "apollo-persisted-query-manifest"
NOT_FOUND_MESSAGE = "PersistedQueryNotFound"


class PersistedQueryError(Exception):
    """A persisted-query request that cannot be served; carries the GraphQL error code."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def sha256_hex(document: str) -> str:
    """The id of a document: the hex SHA-256 of its UTF-8 text, as Apollo computes it."""
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


class ApqStore:
    """Automatically persisted queries: a bounded LRU of hash → document."""

    def __init__(self, max_entries: int = 1000) -> None:
        self._documents: OrderedDict[str, str] = OrderedDict()
        self._max_entries = max_entries

    def get(self, sha256: str) -> str | None:
        """The registered document, refreshing its recency."""
        document = self._documents.get(sha256)
        if document is not None:
            self._documents.move_to_end(sha256)
        return document

    def put(self, sha256: str, document: str) -> None:
        """Register a document whose hash the caller has already verified."""
        self._documents[sha256] = document
        self._documents.move_to_end(sha256)
        while len(self._documents) > self._max_entries:
            self._documents.popitem(last=False)


@dataclass(frozen=True)
class TrustedDocuments:
    """The safelist: per client application, document id → document text."""

    by_client: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @classmethod
    def from_directory(cls, path: str | Path | None) -> TrustedDocuments:
        """Load every `<client_id>.json` manifest in `path` (none: an empty safelist)."""
        if path is None:
            return cls()
        directory = Path(path)
        if not directory.is_dir():
            raise ValueError(f"trusted documents directory {directory} does not exist")
        return cls({p.stem: _load_manifest(p) for p in sorted(directory.glob("*.json"))})

    def lookup(self, client_id: str, sha256: str, *, any_client: bool = False) -> str | None:
        """The trusted document with this id for the client (or any client)."""
        clients = self.by_client.values() if any_client else [self.by_client.get(client_id, {})]
        for documents in clients:
            if sha256 in documents:
                return documents[sha256]
        return None

    def trusts(self, client_id: str, document: str) -> bool:
        """True when this exact text is one of the client's trusted documents."""
        return self.lookup(client_id, sha256_hex(document)) == document


def _load_manifest(path: Path) -> dict[str, str]:
    """Read one Apollo persisted-query manifest, checking every id against its body."""
    manifest = json.loads(path.read_text(encoding="utf-8"))
    if manifest.get("format") != MANIFEST_FORMAT or manifest.get("version") != 1:
        raise ValueError(f"{path}: not an {MANIFEST_FORMAT} version 1 file")
    documents: dict[str, str] = {}
    for operation in manifest.get("operations", []):
        body, sha256 = operation["body"], operation["id"]
        if sha256_hex(body) != sha256:
            raise ValueError(f"{path}: id {sha256} is not the SHA-256 of its body")
        documents[sha256] = body
    return documents


@dataclass
class PersistedQueries:
    """Turns a request's `query` and `extensions` into the document text to run."""

    production: bool
    trusted: TrustedDocuments
    apq: ApqStore

    def resolve(
        self, query: str | None, extensions: Mapping[str, Any] | None, principal: Principal
    ) -> str | None:
        """The document to execute, or `PersistedQueryError` (None: no document at all)."""
        persisted = (extensions or {}).get("persistedQuery")
        if persisted is None:
            if query is not None and self.production and not principal.is_developer:
                if not self.trusted.trusts(principal.client_id, query):
                    raise PersistedQueryError(
                        "ad-hoc documents are not accepted in production; send the id of a "
                        "trusted document in extensions.persistedQuery.sha256Hash",
                        "FORBIDDEN",
                    )
            return query
        sha256 = _requested_hash(persisted)
        if query is not None:
            if sha256_hex(query) != sha256:
                raise PersistedQueryError("provided sha256Hash does not match query", "BAD_USER_INPUT")
            if not self.production:
                self.apq.put(sha256, query)
                return query
            if principal.is_developer:
                return query
        document = self.trusted.lookup(
            principal.client_id, sha256, any_client=principal.is_developer
        )
        if document is None and not self.production:
            document = self.apq.get(sha256)
        if document is None:
            raise PersistedQueryError(NOT_FOUND_MESSAGE, "PERSISTED_QUERY_NOT_FOUND")
        return document


def _requested_hash(persisted: Any) -> str:
    """Validate `extensions.persistedQuery` and return its lowercase hash."""
    if not isinstance(persisted, Mapping) or persisted.get("version") != 1:
        raise PersistedQueryError("unsupported persisted query version", "BAD_USER_INPUT")
    sha256 = persisted.get("sha256Hash")
    if not isinstance(sha256, str) or len(sha256) != 64:
        raise PersistedQueryError("persistedQuery.sha256Hash must be 64 hex digits", "BAD_USER_INPUT")
    return sha256.lower()
