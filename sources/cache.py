"""Cross-request entity caches: one bounded TTL cache per entity kind, plus a stale copy.

The fresh cache answers reads while an entity is younger than its kind's TTL. Every write
also lands in a longer-lived, bounded stale copy, so a caller facing an unavailable upstream
can still serve the last known value with its age (stale-if-error).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cachetools import TTLCache

from .telemetry import record_cache

Clock = Callable[[], float]
REPORT_HITS_EVERY = 1000  # peek hits held back from the metrics at most (EntityCache.report_hits)


@dataclass(slots=True)
class CacheStats:
    """Hits and misses of one cache kind, for tests and metrics."""

    hits: int = 0
    misses: int = 0


class EntityCache:
    """Fresh and stale copies of one entity kind, keyed by the entity's natural key."""

    def __init__(
        self,
        kind: str,
        ttl_s: float,
        maxsize: int,
        *,
        stale_ttl_s: float = 3600.0,
        clock: Clock = time.monotonic,
        enabled: bool = True,
        source: str = "source",
    ) -> None:
        self.kind = kind
        self.source = source
        self.enabled = enabled
        self.ttl_s = ttl_s
        self.stats = CacheStats()
        self._unreported_hits = 0  # peek's hits not yet handed to the metrics (report_hits)
        self._clock = clock
        self._fresh: TTLCache[Hashable, Any] = TTLCache(maxsize, ttl_s, timer=clock)
        # The stale copy remembers when each value was stored, to report its age.
        self._stale: TTLCache[Hashable, tuple[Any, float]] = TTLCache(
            maxsize, max(stale_ttl_s, ttl_s), timer=clock
        )

    def __len__(self) -> int:
        return len(self._fresh)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._fresh

    def get(self, key: Hashable) -> Any | None:
        """The fresh value for `key`, or None when absent or expired."""
        value = self._fresh.get(key)
        if value is None:
            self.stats.misses += 1
        else:
            self.stats.hits += 1
        record_cache(self.source, self.kind, "miss" if value is None else "hit")
        return value

    def peek(self, key: Hashable) -> Any | None:
        """`get` for a caller that falls back to the full read path on a miss (which counts
        the miss there): a hit is counted, a miss is not.

        The hot path of every warm read (a few hundred per customer-360), so it indexes the
        TTL cache directly: `TTLCache.get` adds a timer context and a second lookup around
        the same `__getitem__`, which raises KeyError for a missing or expired key."""
        try:
            value = self._fresh[key]
        except KeyError:
            return None
        if value is not None:
            self.stats.hits += 1
            self._unreported_hits += 1
            if self._unreported_hits >= REPORT_HITS_EVERY:
                self.report_hits()
        return value

    def report_hits(self) -> None:
        """Hand peek's hits to the metrics in one increment. The loaders of each operation
        call it when the operation ends (`Loaders.report_cache_hits`), so a 360's hundred
        hits cost one counter update per kind instead of one each; `REPORT_HITS_EVERY` bounds
        the lag of a long-lived operation (a subscription)."""
        hits, self._unreported_hits = self._unreported_hits, 0
        if hits:
            record_cache(self.source, self.kind, "hit", hits)

    def get_many(self, keys: Iterable[Hashable]) -> dict[Hashable, Any]:
        """The fresh values among `keys` (missing and expired keys absent)."""
        found: dict[Hashable, Any] = {}
        for key in keys:
            value = self.get(key)
            if value is not None:
                found[key] = value
        return found

    def put(self, key: Hashable, value: Any) -> None:
        """Store a fresh value (and its stale copy); None is never stored."""
        if value is None or not self.enabled:
            return
        self._fresh[key] = value
        self._stale[key] = (value, self._clock())

    def put_many(self, values: Mapping[Any, Any]) -> None:
        """Store several fresh values."""
        for key, value in values.items():
            self.put(key, value)

    def get_stale(self, key: Hashable) -> tuple[Any, float] | None:
        """The last value stored for `key`, fresh or not, with its age in seconds."""
        entry = self._stale.get(key)
        if entry is None:
            return None
        record_cache(self.source, self.kind, "stale")
        value, stored_at = entry
        return value, max(0.0, self._clock() - stored_at)

    def invalidate(self, keys: Iterable[Hashable] | None = None) -> int:
        """Drop fresh values (all when `keys` is None); stale copies stay for stale-if-error."""
        if keys is None:
            dropped = len(self._fresh)
            self._fresh.clear()
            return dropped
        dropped = 0
        for key in keys:
            if self._fresh.pop(key, None) is not None:
                dropped += 1
        return dropped


class CacheSet:
    """The caches of one client, one `EntityCache` per kind, created from a family map."""

    def __init__(
        self,
        families: Mapping[str, str],
        ttl_for: Callable[[str, str], float],
        maxsize: int,
        *,
        stale_ttl_s: float = 3600.0,
        clock: Clock = time.monotonic,
        enabled: bool = True,
        source: str = "source",
    ) -> None:
        self._caches = {
            kind: EntityCache(
                kind,
                ttl_for(kind, family),
                maxsize,
                stale_ttl_s=stale_ttl_s,
                clock=clock,
                enabled=enabled,
                source=source,
            )
            for kind, family in families.items()
        }

    def __getitem__(self, kind: str) -> EntityCache:
        try:
            return self._caches[kind]
        except KeyError:
            raise KeyError(f"unknown cache kind {kind!r}; known: {sorted(self._caches)}") from None

    def kinds(self) -> list[str]:
        """Every cache kind this client keeps."""
        return sorted(self._caches)

    def invalidate(self, kind: str, keys: Iterable[Hashable] | None = None) -> int:
        """Drop fresh entries of one kind; returns how many were dropped."""
        return self[kind].invalidate(keys)

    def clear(self) -> None:
        """Drop every fresh entry of every kind."""
        for cache in self._caches.values():
            cache.invalidate()
