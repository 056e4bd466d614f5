"""The loader machinery under resolvers/loaders.py: batching, spans, per-key failures.

`SourceLoader` turns one tick's keys into one bulk source call and answers in key order (a
record, the loader's missing value, or the batch's `SourceError` for each key); `CallLoader`
runs non-batchable calls concurrently with each key failing alone. Each batch is a span.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from aiodataloader import DataLoader, dispatch_queue
from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

from sources.cache import EntityCache
from sources.errors import PartlyStale, SourceError, SourceNotFound

if TYPE_CHECKING:
    from .loaders import Loaders

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
R = TypeVar("R")

tracer = trace.get_tracer("retailgraph.resolvers")


@contextmanager
def batch_span(loader: DataLoader[Any, Any], keys: Sequence[Any]) -> Iterator[Span]:
    """A span around one loader batch; the upstream calls it makes become its children."""
    name = type(loader).__name__
    with tracer.start_as_current_span(
        f"load {name}", attributes={"retailgraph.loader": name, "retailgraph.batch.keys": len(keys)}
    ) as span:
        yield span


def _failed(span: Span, errors: Sequence[object]) -> None:
    """Mark a batch span failed when keys came back as source errors."""
    failures = [e for e in errors if isinstance(e, SourceError)]
    if failures:
        span.set_status(Status(StatusCode.ERROR, type(failures[0]).__name__))
        span.set_attribute("retailgraph.batch.failed_keys", len(failures))


class SourceLoader(DataLoader[K, R], Generic[K, R]):
    """A loader over one bulk source method returning a dict keyed like the input."""

    # ERP loaders hand every key to one source call: the client splits keys into `or`
    # chains under the URL limit and those into $batch(es) of <= 100 inner requests, so a
    # cap on keys here would only turn one HTTP call into several (the cap is on requests).
    max_batch_size: int | None = None
    # The source's entity cache behind `fetch`, as (source, cache kind), when `fetch` is that
    # source's keyed read and answers a key exactly as cached (a list for a tuple): a fresh
    # hit then answers `load` at once, with no batch, task or span (`load` below).
    entity_cache: tuple[str, str] | None = None

    def __init__(self, loaders: Loaders) -> None:
        super().__init__(
            loop=asyncio.get_running_loop(), batch=loaders.batching, cache=loaders.batching
        )
        self.loaders = loaders
        self.sources = loaders.sources
        self.batches = 0
        self._fresh = self._entity_cache() if loaders.cache_hits else None

    def _entity_cache(self) -> EntityCache | None:
        if self.entity_cache is None:
            return None
        source, kind = self.entity_cache
        lookup = getattr(getattr(self.sources, source, None), "cache", None)
        cache = None if lookup is None else lookup(kind)
        return cache if isinstance(cache, EntityCache) and cache.enabled else None

    def load(self, key: K) -> asyncio.Future[R]:
        """The key's future: the one this request has already (aiodataloader's own memo,
        keyed by the key itself, read here without its checks: a warm 360 loads most keys
        two or three times); answered at once from the source's fresh entity cache when it
        holds the key; else queued for this tick's batch (aiodataloader)."""
        known = self._cache.get(key)
        if known is not None:
            return known  # type: ignore[no-any-return]
        fresh = self._fresh
        if fresh is not None:
            value = fresh.peek(key)
            if value is not None:
                future: asyncio.Future[R] = self.loop.create_future()
                future.set_result(self.from_cached(value))
                self._cache[key] = future
                return future
        return super().load(key)

    def dispatch_now(self) -> None:
        """Start this tick's batch now instead of after the event loop's queue (the keys
        queued so far; later loads start a batch of their own as usual)."""
        if self._queue:
            dispatch_queue(self)

    def report_cache_hits(self) -> None:
        """Hand the hits `load` took from the entity cache to the metrics (sources/cache.py)."""
        if self._fresh is not None:
            self._fresh.report_hits()

    def from_cached(self, value: Any) -> R:
        """A cached value (fresh, or stale when the upstream is down) as this loader answers it."""
        return value  # type: ignore[no-any-return]

    async def fetch(self, keys: list[K]) -> Mapping[K, R]:
        """Call the bulk source method for these keys."""
        raise NotImplementedError

    def missing(self) -> R:
        """What a key the upstream does not know resolves to."""
        raise NotImplementedError

    def prime_related(self, values: Mapping[K, Any]) -> None:
        """Hand records found here to the loaders that look them up by their own key."""

    # aiodataloader rejects the key's future when its value is an exception object.
    async def batch_load_fn(self, keys: list[K]) -> list[R | BaseException]:  # type: ignore[override]
        """Load one batch; a failed batch answers every key with the error."""
        if not keys:  # the scheduled dispatch of a queue that `dispatch_now` took already
            return []
        self.batches += 1
        with batch_span(self, keys) as span:
            try:
                found = await self.fetch(keys)
            except PartlyStale as exc:  # stale copies of some keys: those answer, the rest fail
                _failed(span, [exc])
                return [self.from_cached(exc.stale[k]) if k in exc.stale else exc for k in keys]
            except SourceError as exc:
                _failed(span, [exc])
                return [exc for _ in keys]
        self.prime_related(found)
        return [found[key] if key in found else self.missing() for key in keys]


class RecordLoader(SourceLoader[K, V | None]):
    """A loader of single records; an unknown key is None."""

    def missing(self) -> V | None:
        """No record for this key."""
        return None


class ListLoader(SourceLoader[K, list[V]]):
    """A loader whose values are lists; an unknown key is an empty list."""

    def missing(self) -> list[V]:
        """No records for this key."""
        return []

    def from_cached(self, value: Any) -> list[V]:
        """A cached tuple as a list."""
        return list(value)


def _prime(loader: DataLoader[Any, Any], pairs: Sequence[tuple[Hashable, object]]) -> None:
    """Prime a loader with records already in hand."""
    for key, value in pairs:
        loader.prime(key, value)


class CallLoader(SourceLoader[K, R]):
    """A loader over a non-batchable source call: dedups identical calls, runs the rest at once."""

    max_batch_size = None

    def call(self, key: K) -> Awaitable[R]:
        """The source call for one key."""
        raise NotImplementedError

    async def batch_load_fn(self, keys: list[K]) -> list[R | BaseException]:  # type: ignore[override]
        """Run every call concurrently; each key fails alone, a 404 is the missing value."""
        if not keys:  # the scheduled dispatch of a queue that `dispatch_now` took already
            return []
        self.batches += 1
        with batch_span(self, keys) as span:
            results = await asyncio.gather(*(self.call(key) for key in keys), return_exceptions=True)
            _failed(span, results)
        return [self.missing() if isinstance(r, SourceNotFound) else _checked(r) for r in results]


def _checked(result: R | BaseException) -> R | BaseException:
    """Pass source errors through as values; re-raise anything unexpected."""
    if isinstance(result, BaseException) and not isinstance(result, SourceError):
        raise result
    return result
