"""The HTTP base every source client shares: auth, JSON, error translation, call counting.

A read passes, in order: the entity cache and single-flight (`_load`, `_shared`), then
`_request_json`, then `_send`, the one place a request leaves the process. `_send` hands
each request to the source's `Resilience` (deadline budget, circuit breaker, bulkhead,
retries: `sources/resilience.py`), which runs `_attempt`, one network round trip, as often
as the policy allows. When a keyed read fails and the operation allows it (`RequestScope`),
`_load` serves the stale cached copy instead and notes its age (stale-if-error).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import httpx
import orjson

from .cache import CacheSet, Clock, EntityCache
from .config import SourceConfig
from .deadline import current_scope
from .errors import (
    PartlyStale,
    SourceError,
    SourceTimeout,
    SourceUnavailable,
    error_for_status,
)
from .flight import KeyedFlight, SingleFlight
from .resilience import KEYED_WRITE, READ, WRITE, Resilience
from .retry import Sleep
from .telemetry import record_batch, record_upstream_call, upstream_span

if TYPE_CHECKING:
    from .shared_cache import SharedCache

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(slots=True)
class SourceStats:
    """What a client did upstream: HTTP calls sent, by route, and single-flight joins."""

    calls: int = 0
    by_route: dict[str, int] = field(default_factory=dict)


class HttpSource:
    """Base of the source clients: one pooled httpx client, caches and single-flight."""

    source: ClassVar[str] = "source"
    # cache kind → TTL family (a key of SourceConfig.cache_ttl_s)
    CACHE_FAMILIES: ClassVar[Mapping[str, str]] = {}
    # The Redis second level behind the entity caches, when configured (sources/shared_cache.py).
    shared: SharedCache | None = None

    def __init__(
        self,
        config: SourceConfig,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        clock: Clock = time.monotonic,
        rng: random.Random | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.config = config
        self.stats = SourceStats()
        self.resilience = Resilience(config, clock=clock, rng=rng, sleep=sleep)
        self.caches = CacheSet(
            self.CACHE_FAMILIES,
            config.ttl_for,
            config.cache_size,
            stale_ttl_s=config.stale_ttl_s,
            clock=clock,
            enabled=config.cache_enabled,
            source=self.source,
        )
        self._flights = {
            kind: KeyedFlight(self.caches[kind], source=self.source) for kind in self.CACHE_FAMILIES
        }
        self._calls = SingleFlight(source=self.source)
        # Requests are built by the client (base URL, default headers, timeouts) and sent
        # straight to the transport: the client's send adds auth and redirect machinery this
        # code does not use, a log line, and cookie handling (it would keep an upstream's
        # cookies and send them back on every later call, whoever that call serves; the APIs
        # authenticate with bearer tokens). Nothing reaches the client's cookie jar now.
        self._transport = transport or _network_transport(config)
        self._http = httpx.AsyncClient(
            base_url=config.base_url,
            transport=self._transport,
            timeout=httpx.Timeout(config.timeout_s, connect=config.connect_timeout_s),
            headers={
                "Authorization": f"Bearer {config.token}",
                "Accept": "application/json",
                "User-Agent": "retailgraph-sources/0.1",
            },
        )

    async def aclose(self) -> None:
        """Close the pooled HTTP client."""
        await self._http.aclose()

    async def __aenter__(self: T) -> T:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @property
    def joins(self) -> int:
        """How many reads joined an identical read already in flight instead of calling."""
        return self._calls.joins + sum(flight.joins for flight in self._flights.values())

    def cache(self, kind: str) -> EntityCache:
        """The entity cache of one kind (see `CACHE_FAMILIES`)."""
        return self.caches[kind]

    def invalidate(self, kind: str, keys: Iterable[Hashable] | None = None) -> int:
        """Drop cached entities of `kind` (all when `keys` is None), on every replica; how many here."""
        wanted = None if keys is None else list(keys)
        dropped = self.drop_local(kind, wanted)
        if self.shared is not None:
            self.shared.invalidate(self, kind, wanted)
        return dropped

    def drop_local(self, kind: str, keys: Iterable[Hashable] | None = None) -> int:
        """Drop cached entities of `kind` in this process only (a peer already told Redis)."""
        return self._flights[kind].invalidate(None if keys is None else list(keys))

    async def _load(
        self,
        kind: str,
        keys: Sequence[K],
        fetch: Callable[[list[K]], Awaitable[Mapping[K, Any]]],
        *,
        many: bool = False,
    ) -> dict[K, Any]:
        """Cached, single-flighted bulk read; `many` kinds map every key (empty = ()).

        When the upstream is unavailable and the operation allows stale data, the stale
        copies are served instead (their age noted in the request scope); a `PartlyStale`
        error carries them when only some keys have one.
        """

        async def upstream(wanted: list[K]) -> Mapping[K, Any]:
            record_batch(self.source, kind, len(wanted))
            return await fetch(wanted)

        async def measured(wanted: list[K]) -> Mapping[K, Any]:
            if self.shared is None:
                return await upstream(wanted)
            return await self.shared.read_through(self, kind, wanted, upstream, many=many)

        try:
            if many:
                return await self._flights[kind].load(keys, measured, default=())
            return await self._flights[kind].load(keys, measured)
        except SourceUnavailable as exc:
            return self._stale_or_raise(kind, keys, exc)

    def _stale_or_raise(self, kind: str, keys: Sequence[K], exc: SourceUnavailable) -> dict[K, Any]:
        """Stale-if-error: every key's stale copy, else `PartlyStale` (some) or `exc` (none)."""
        scope = current_scope()
        if scope is None or not scope.allow_stale:
            raise exc
        cache = self.caches[kind]
        wanted = list(dict.fromkeys(keys))
        found: dict[K, Any] = {}
        oldest = 0.0
        for key in wanted:
            entry = cache.get_stale(key)
            if entry is not None:
                found[key], age = entry
                oldest = max(oldest, age)
        if not found:
            raise exc
        scope.note_stale(self.source, oldest)
        if len(found) < len(wanted):
            raise PartlyStale(exc, found) from exc
        return found

    def _prime(self, kind: str, values: Mapping[Any, Any]) -> None:
        """Store entities learnt as a by-product of another read."""
        self.caches[kind].put_many(values)
        if self.shared is not None:
            self.shared.store(self, kind, values)

    async def _shared(self, key: Hashable, factory: Callable[[], Awaitable[T]]) -> T:
        """Single-flight for reads that are not keyed by entity (searches, listings)."""
        return await self._calls.run(key, factory)

    async def _request_json(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        route: str | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Send one request and decode its JSON body; non-2xx become SourceErrors.

        `idempotent=True` marks a POST that only reads (the ERP's `$batch` of GETs) as safe
        to retry; by default only GET/HEAD/OPTIONS and writes with an `Idempotency-Key` are.
        """
        content = orjson.dumps(json) if json is not None else None
        request_headers = dict(headers or {})
        if content is not None:
            request_headers.setdefault("Content-Type", "application/json")
        request = self._http.build_request(
            method, url, params=params, content=content, headers=request_headers
        )
        response = await self._send(
            request, route=route or f"{method} {request.url.path}", idempotent=idempotent
        )
        if response.status_code >= 400:
            raise self._status_error(response.status_code, response.content, response.headers)
        if not response.content:
            return None
        return self._decode(response.content, f"{method} {request.url.path}")

    async def _send(
        self,
        request: httpx.Request,
        *,
        route: str,
        timeout_s: float | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """The one exit to the network: each attempt under the source's resilience policy.

        Answers any status below 500 other than 429 (the caller translates 4xx); 5xx, 429,
        transport failures and timeouts raise SourceErrors, after the retries they earn.
        """
        if idempotent is None:
            idempotent = request.method in SAFE_METHODS
        if idempotent:
            kind = READ
        elif "idempotency-key" in request.headers:
            kind = KEYED_WRITE
        else:
            kind = WRITE
        return await self.resilience.call(
            lambda timeout: self._attempt(request, route, timeout), kind=kind, timeout_s=timeout_s
        )

    async def _attempt(self, request: httpx.Request, route: str, timeout_s: float) -> httpx.Response:
        """One network round trip within `timeout_s`: counted, traced, errors translated."""
        self.stats.calls += 1
        self.stats.by_route[route] = self.stats.by_route.get(route, 0) + 1
        started = time.perf_counter()
        outcome = "error"
        try:
            with upstream_span(self.source, request.method, route, request.headers) as span:
                try:
                    async with asyncio.timeout(timeout_s):
                        response = await self._transport.handle_async_request(request)
                        try:
                            await response.aread()
                        finally:
                            await response.aclose()
                except (TimeoutError, httpx.TimeoutException) as exc:
                    outcome = "timeout"
                    raise SourceTimeout(
                        self.source, f"{route} timed out after {timeout_s:.3g}s"
                    ) from exc
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                    raise SourceUnavailable(
                        self.source, f"{route} failed: {type(exc).__name__}: {exc}"
                    ) from exc
                outcome = str(response.status_code)
                span.set_attribute("http.response.status_code", response.status_code)
                if response.status_code >= 500 or response.status_code == 429:
                    raise self._status_error(
                        response.status_code, response.content, response.headers
                    )
                return response
        finally:
            record_upstream_call(
                self.source, route, outcome, time.perf_counter() - started
            )

    def _decode(self, body: bytes, what: str) -> Any:
        """Parse a JSON body; garbage from upstream is an outage, not a crash."""
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise SourceUnavailable(self.source, f"malformed JSON from {what}") from exc

    def _status_error(self, status: int, body: Any, headers: Mapping[str, str]) -> SourceError:
        """Translate an upstream error status and body (raw or decoded) into a SourceError."""
        code, message = _error_fields(body)
        return error_for_status(self.source, status, code, message, _retry_after(headers))

    def _malformed(self, what: str, exc: Exception) -> SourceUnavailable:
        """The error for an upstream record that does not have the documented shape."""
        return SourceUnavailable(
            self.source, f"malformed {what}: {type(exc).__name__}: {exc}"
        )


def _network_transport(config: SourceConfig) -> httpx.AsyncBaseTransport:
    """The upstream transport: httpx-aiohttp's (`aiohttp`, or `auto` when it is installed),
    else httpx's own. aiohttp's connection pool costs less CPU per call than httpcore's,
    which checks every pooled connection's socket on each request (docs/benchmark.md).
    Neither takes a proxy from the environment."""
    limits = _pool_limits(config)
    if config.transport == "httpx":
        return httpx.AsyncHTTPTransport(limits=limits)
    try:
        import aiohttp
        from httpx_aiohttp import AiohttpTransport  # the `aiohttp` extra
    except ImportError:
        if config.transport == "aiohttp":
            raise
        return httpx.AsyncHTTPTransport(limits=limits)
    ssl_context = httpx.create_ssl_context()  # what httpx-aiohttp's own session would verify with

    def session() -> aiohttp.ClientSession:
        """httpx-aiohttp's session (made on first use, inside the running loop), keeping no
        cookies either (see `HttpSource.__init__`)."""
        connector = aiohttp.TCPConnector(
            limit=limits.max_connections or 0,
            keepalive_timeout=limits.keepalive_expiry,
            ssl=ssl_context,
        )
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

    return AiohttpTransport(limits=limits, client=session)


def _pool_limits(config: SourceConfig) -> httpx.Limits:
    """Connections to keep: the bulkhead's size unless configured (< 0: httpx's defaults). As
    many pooled connections as the bulkhead lets calls run at once: with httpx's default of
    20 kept alive, a busy source would reconnect on every call past 20."""
    if config.pool_size < 0:
        return httpx.Limits(max_connections=100, max_keepalive_connections=20)
    size = config.pool_size or config.max_concurrency
    return httpx.Limits(max_connections=size, max_keepalive_connections=size)


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds from a `Retry-After` header (any case), None when absent or a date."""
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return float(value)
            except (TypeError, ValueError):
                return None
    return None


def _error_fields(body: Any) -> tuple[str | None, str]:
    """(code, message) from any of the upstreams' error bodies, raw or decoded, best effort."""
    data = body
    if isinstance(body, (bytes, str)):
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None, ""
    if not isinstance(data, dict):
        return None, ""
    error = data.get("error")
    if isinstance(error, dict):
        code = error.get("code") or error.get("type")
        return (str(code) if code else None), str(error.get("message") or "")
    if isinstance(error, str):
        return error, str(data.get("description") or "")
    return None, str(data.get("message") or "")
