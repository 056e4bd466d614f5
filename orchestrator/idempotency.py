"""Idempotency keys, Stripe's semantics: the first input wins, its result is replayed.

A workflow's id is derived from (operation, key), so the key is the workflow. The hash of
the first input is stored with the workflow; the same key with the same input returns that
workflow (nothing runs twice, even for concurrent duplicates, because DBOS starts one
execution per id), the same key with different input is refused. Nothing is stored until
the input passed validation: the claim happens after `clean_*`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

MAX_KEY_LENGTH = 255
IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"


class IdempotencyKeyReused(Exception):
    """The key was first used with a different input."""

    def __init__(self, operation: str, key: str) -> None:
        super().__init__(f"idempotency key {key!r} was already used for a different {operation} input")
        self.operation = operation
        self.key = key


class InvalidIdempotencyKey(ValueError):
    """The key is empty or too long."""


def check_key(key: str) -> str:
    """A usable key: non-empty after trimming, at most 255 characters (as Stripe)."""
    cleaned = key.strip()
    if not cleaned:
        raise InvalidIdempotencyKey("idempotencyKey must not be empty")
    if len(cleaned) > MAX_KEY_LENGTH:
        raise InvalidIdempotencyKey(f"idempotencyKey must be at most {MAX_KEY_LENGTH} characters")
    return cleaned


def workflow_id_for(operation: str, key: str) -> str:
    """The workflow id of (operation, key): readable operation, hashed key (keys are arbitrary)."""
    digest = hashlib.sha256(f"{operation}\x00{key}".encode()).hexdigest()[:32]
    return f"{operation}-{digest}"


def input_hash(payload: Mapping[str, Any]) -> str:
    """A stable hash of an input: canonical JSON, keys sorted, the key itself excluded."""
    cleaned = {k: v for k, v in payload.items() if k not in ("idempotencyKey", "idempotency_key")}
    canonical = json.dumps(cleaned, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def same_input(stored_hash: str, payload: Mapping[str, Any]) -> bool:
    """Whether `payload` is the input the key was first used with."""
    return stored_hash == input_hash(payload)
