"""Settings read once from the environment, with explicit defaults.

Secrets are kept out of `repr()` so a settings object can be logged safely.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from decimal import Decimal
from pathlib import Path

DEVELOPMENT = "development"
PRODUCTION = "production"
DEV_JWT_SECRET = "retailgraph-development-secret-change-me"
HTTP_TRANSPORTS = ("auto", "aiohttp", "httpx")


@dataclass(frozen=True)
class Settings:
    """Everything the graph needs to start; build with `Settings.from_env()`."""

    env: str = DEVELOPMENT
    erp_url: str = "http://127.0.0.1:8101"
    wms_url: str = "http://127.0.0.1:8102"
    servicedesk_url: str = "http://127.0.0.1:8103"
    erp_token: str = field(default="sandbox-token", repr=False)
    wms_token: str = field(default="sandbox-token", repr=False)
    servicedesk_token: str = field(default="sandbox-token", repr=False)
    source_timeout_s: float = 5.0
    cache_size: int = 50_000
    # Off only for the benchmark's "no loaders, no cache" baseline.
    batching: bool = True
    entity_cache: bool = True
    # Performance levers (docs/benchmark.md); each can be turned off to measure what it saves.
    erp_coalesce: bool = True  # ERP reads that start together share one $batch
    prefetch: bool = True  # lookahead: children keyed by a known key load beside the parent
    loader_cache_hits: bool = True  # loaders answer fresh entity-cache hits at once, unbatched
    fast_resolvers: bool = True  # plain fields skip strawberry's per-field wrappers (graph/fast_fields.py)
    orjson: bool = True  # orjson for GraphQL request bodies and responses
    http_pool_size: int = 0  # connections per upstream; 0: its bulkhead size, < 0: httpx's
    cache_ttl_scale: float = 1.0  # multiplies every entity cache TTL (sources/config.py)
    # "auto": aiohttp's client under httpx's API when installed, far less CPU per upstream
    # call than httpx's own pool (docs/benchmark.md); "httpx" or "aiohttp" force one.
    http_transport: str = "auto"  # auto | aiohttp | httpx (sources/config.py)
    gc_freeze: bool = True  # startup's objects leave the collector's walks (graph/collector.py)
    gc_threshold: int = 20_000  # young-generation threshold; 0 keeps CPython's 700
    jwt_secret: str = field(default=DEV_JWT_SECRET, repr=False)
    jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    database_url: str | None = field(default=None, repr=False)
    redis_url: str | None = field(default=None, repr=False)
    webhook_secret: str = field(default="sandbox-webhook-secret", repr=False)
    # Scale-out (docs/scale-out.md): webhooks, Redis sharing, the orchestrator's executor id.
    erp_webhook_secret: str | None = field(default=None, repr=False)  # else webhook_secret
    wms_webhook_secret: str | None = field(default=None, repr=False)
    servicedesk_webhook_secret: str | None = field(default=None, repr=False)
    webhook_tolerance_s: float = 300.0  # signed timestamps older (or newer) than this: 401
    redis_prefix: str = "retailgraph"  # key and channel namespace shared by the replicas
    redis_timeout_s: float = 0.25  # one Redis command; slower counts as a failure
    redis_retry_s: float = 2.0  # after a Redis failure, per-process caches only for this long
    shared_cache: bool = True  # the Redis second-level entity cache (invalidation stays on)
    shared_cache_guard_s: float = 10.0  # an invalidated key refuses older fills this long
    executor_id: str | None = None  # DBOS executor; on PostgreSQL default "<host>-<pid>"
    data_dir: Path = Path(".retailgraph")
    return_window_days: int = 30
    refund_approval_threshold: Decimal = Decimal("500.00")
    mutation_wait_s: float = 2.0
    # Orchestrator steps: attempts per step for transient upstream failures, first backoff.
    workflow_step_attempts: int = 4
    workflow_retry_interval_s: float = 0.2
    max_body_bytes: int = 1_000_000
    cors_origins: tuple[str, ...] = ()
    # API governance (graph/limits.py, graph/cost.py, graph/persisted.py; docs/security.md)
    max_query_depth: int = 15
    max_query_aliases: int = 50
    max_query_tokens: int = 5000
    max_query_directives: int = 50
    max_page_size: int = 100
    max_query_cost: int = 2000
    cost_bucket_size: int = 4000
    cost_restore_rate: float = 200.0
    cost_default_list_size: int = 10
    apq_cache_size: int = 1000
    trusted_documents_dir: str | None = None
    max_subscriptions_per_connection: int = 10
    # Observability (docs/observability.md): the ops view's cache of upstream and journal reads.
    ops_summary_ttl_s: float = 30.0
    ops_refresh_s: float = 0.0  # > 0: recompute the ops gauges (case aging, backlog) this often
    log_level: str = "INFO"
    log_format: str = "json"  # or "text" for a terminal
    # Resilience (sources/resilience.py; docs/resilience.md). Shared values apply to every
    # source; sources.config reads `{source}_{name}` first, so a per-source field overrides.
    request_budget_s: float = 2.5  # deadline of one query operation, carried to every call
    connect_timeout_s: float = 1.0
    retry_attempts: int = 3  # idempotent reads, first try included
    write_retry_attempts: int = 1  # keyed writes; the orchestrator retries whole steps
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
    max_queue: int = 64
    health_window_s: float = 30.0
    erp_max_concurrency: int = 16
    wms_max_concurrency: int = 32
    servicedesk_max_concurrency: int = 16

    @property
    def is_production(self) -> bool:
        """True when running with production safeguards."""
        return self.env == PRODUCTION

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read `RETAILGRAPH_*` variables; unknown or empty ones keep the default."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for spec in fields(cls):
            raw = env.get(f"RETAILGRAPH_{spec.name.upper()}")
            if raw is None or raw == "":
                continue
            values[spec.name] = _parse(spec.name, raw, getattr(cls, spec.name, None))
        settings = cls(**values)  # type: ignore[arg-type]
        if settings.is_production and settings.jwt_secret == DEV_JWT_SECRET and not settings.jwks_url:
            raise ValueError(
                "RETAILGRAPH_ENV=production needs RETAILGRAPH_JWT_SECRET or RETAILGRAPH_JWKS_URL"
            )
        if settings.env not in (DEVELOPMENT, PRODUCTION):
            raise ValueError(f"RETAILGRAPH_ENV must be {DEVELOPMENT!r} or {PRODUCTION!r}")
        if settings.http_transport not in HTTP_TRANSPORTS:
            raise ValueError(f"RETAILGRAPH_HTTP_TRANSPORT must be one of {', '.join(HTTP_TRANSPORTS)}")
        return settings


def _parse(name: str, raw: str, default: object) -> object:
    """Convert one environment string to the type of the field's default."""
    if name == "data_dir":
        return Path(raw)
    if name == "cors_origins":
        return tuple(origin.strip() for origin in raw.split(",") if origin.strip())
    if isinstance(default, bool):
        return raw.lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    if isinstance(default, Decimal):
        return Decimal(raw)
    return raw
