"""Per-source configuration: where the upstream lives, how to call it, how long to cache."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

DEFAULT_URLS = {
    "erp": "http://127.0.0.1:8101",
    "wms": "http://127.0.0.1:8102",
    "servicedesk": "http://127.0.0.1:8103",
}
DEFAULT_MAX_BATCH = {"erp": 100, "wms": 250, "servicedesk": 100}

# Seconds an entity stays fresh, by TTL family (see each client's `CACHE_FAMILIES`).
# Stock moves constantly, shipments hourly, documents daily, master data rarely.
DEFAULT_CACHE_TTL_S: Mapping[str, float] = MappingProxyType(
    {
        "inventory": 5.0,
        "shipments": 30.0,
        "cases": 30.0,
        "orders": 60.0,
        "invoices": 60.0,
        "credit_memos": 60.0,
        "returns": 60.0,
        "customers": 300.0,
        "profiles": 300.0,
        "products": 600.0,
        "locations": 600.0,
    }
)
DEFAULT_TTL_S = 60.0

# The resilience policy (sources/resilience.py, docs/resilience.md): setting name → default.
# Each is read as `{source}_{name}` first, then as the shared `{name}`.
RESILIENCE_DEFAULTS: Mapping[str, float] = MappingProxyType(
    {
        "connect_timeout_s": 1.0,
        "retry_attempts": 3,
        "write_retry_attempts": 1,
        "retry_backoff_s": 0.05,
        "retry_backoff_max_s": 1.0,
        "max_retry_after_s": 5.0,
        "retry_budget_ratio": 0.2,
        "retry_budget_min": 10,
        "retry_budget_window_s": 10.0,
        "breaker_failure_rate": 0.5,
        "breaker_min_calls": 20,
        "breaker_window_s": 10.0,
        "breaker_open_s": 5.0,
        "breaker_half_open_calls": 3,
        "max_concurrency": 32,
        "max_queue": 64,
        "health_window_s": 30.0,
    }
)


@dataclass(frozen=True, slots=True)
class SourceConfig:
    """How to reach and cache one upstream."""

    name: str
    base_url: str
    token: str = "sandbox-token"
    max_batch: int = 100
    timeout_s: float = 10.0
    cache_ttl_s: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_CACHE_TTL_S))
    cache_size: int = 10_000
    stale_ttl_s: float = 3600.0
    max_filter_chars: int = 2048
    page_size: int = 1000
    cache_enabled: bool = True
    coalesce: bool = True  # ERP: reads starting together share one $batch (erp_coalesce.py)
    pool_size: int = 0  # pooled connections; 0: the bulkhead's size, < 0: httpx's defaults
    # "auto": httpx-aiohttp's transport when installed (the `aiohttp` extra), else httpx's own;
    # "aiohttp" or "httpx" to insist (docs/benchmark.md: aiohttp's pool costs less per call).
    transport: str = "auto"
    # resilience (defaults in RESILIENCE_DEFAULTS; see docs/resilience.md)
    connect_timeout_s: float = 1.0
    retry_attempts: int = 3
    write_retry_attempts: int = 1
    retry_backoff_s: float = 0.05
    retry_backoff_max_s: float = 1.0
    max_retry_after_s: float = 5.0
    retry_budget_ratio: float = 0.2
    retry_budget_min: int = 10
    retry_budget_window_s: float = 10.0
    breaker_failure_rate: float = 0.5
    breaker_min_calls: int = 20
    breaker_window_s: float = 10.0
    breaker_open_s: float = 5.0
    breaker_half_open_calls: int = 3
    max_concurrency: int = 32
    max_queue: int = 64
    health_window_s: float = 30.0

    def ttl_for(self, kind: str, family: str) -> float:
        """Freshness of one cache kind: its own setting, else its family's, else the default."""
        if kind in self.cache_ttl_s:
            return float(self.cache_ttl_s[kind])
        if family in self.cache_ttl_s:
            return float(self.cache_ttl_s[family])
        return float(DEFAULT_CACHE_TTL_S.get(family, DEFAULT_TTL_S))

    @classmethod
    def for_source(cls, name: str, settings: Any = None) -> SourceConfig:
        """Build a source's config from a settings object or mapping (missing → defaults).

        Read, each optional: `{name}_url`, `{name}_token`, `{name}_timeout_s` (else
        `source_timeout_s`), `{name}_max_batch`, `cache_size`, `cache_ttl_s` (mapping of
        family/kind → seconds), `stale_ttl_s`, `entity_cache` (False turns caching off, for
        the benchmark's baseline), and every resilience setting of `RESILIENCE_DEFAULTS` as
        `{name}_{setting}`, else `{setting}`. A ready `SourceConfig` under `{name}` wins.
        """
        ready = _read(settings, name)
        if isinstance(ready, SourceConfig):
            return ready
        ttl: dict[str, float] = dict(DEFAULT_CACHE_TTL_S)
        ttl.update(_read(settings, "cache_ttl_s") or {})
        ttl.update(_read(settings, f"{name}_cache_ttl_s") or {})
        scale = float(_read(settings, "cache_ttl_scale") or 1.0)
        ttl = {kind: seconds * scale for kind, seconds in ttl.items()}
        return cls(
            name=name,
            base_url=str(_read(settings, f"{name}_url") or DEFAULT_URLS[name]),
            token=str(_read(settings, f"{name}_token") or "sandbox-token"),
            max_batch=int(_read(settings, f"{name}_max_batch") or DEFAULT_MAX_BATCH.get(name, 100)),
            timeout_s=float(
                _read(settings, f"{name}_timeout_s") or _read(settings, "source_timeout_s") or 10.0
            ),
            cache_ttl_s=ttl,
            cache_size=int(_read(settings, "cache_size") or 10_000),
            stale_ttl_s=float(_read(settings, "stale_ttl_s") or 3600.0),
            cache_enabled=_read(settings, "entity_cache") is not False,
            coalesce=_read(settings, f"{name}_coalesce") is not False,
            pool_size=int(_read(settings, "http_pool_size") or 0),
            transport=str(_read(settings, "http_transport") or "auto"),
            **_resilience(settings, name),
        )


def _resilience(settings: Any, name: str) -> dict[str, Any]:
    """The resilience settings of one source: its own value, else the shared one, else default."""
    values: dict[str, Any] = {}
    for setting, default in RESILIENCE_DEFAULTS.items():
        value = _read(settings, f"{name}_{setting}")
        if value is None:
            value = _read(settings, setting)
        values[setting] = type(default)(default if value is None else value)
    return values


def _read(settings: Any, name: str) -> Any:
    """One setting from a mapping or an attribute-style settings object, else None."""
    if settings is None:
        return None
    if isinstance(settings, Mapping):
        return settings.get(name)
    value = getattr(settings, name, None)
    # pydantic SecretStr and friends keep secrets out of reprs; unwrap only here.
    getter = getattr(value, "get_secret_value", None)
    return getter() if callable(getter) else value
