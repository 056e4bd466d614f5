"""Single-flight: concurrent identical upstream reads share one call instead of repeating it.

Two granularities: `SingleFlight.run` for whole calls keyed by request identity (a search,
a page of a listing) and `KeyedFlight.load` for bulk reads, where each entity key in flight
is owned by exactly one upstream call and later callers wait for it rather than ask again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from typing import Any, TypeVar

from .cache import EntityCache
from .telemetry import record_join

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)

_ABSENT = object()


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Mark a finished task's exception as seen: every waiter may have been cancelled."""
    if not task.cancelled():
        task.exception()


class SingleFlight:
    """Deduplicates identical concurrent calls; counts how many callers joined one."""

    def __init__(self, *, source: str = "source") -> None:
        self.source = source
        self.joins = 0
        self._inflight: dict[Hashable, asyncio.Task[Any]] = {}

    def __len__(self) -> int:
        return len(self._inflight)

    async def run(self, key: Hashable, factory: Callable[[], Awaitable[T]]) -> T:
        """Await `factory()` unless an identical call is in flight; then share its result."""
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(factory())
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
        else:
            self.joins += 1
            record_join(self.source)
        # shield: one caller giving up must not cancel the call the others wait for.
        result: T = await asyncio.shield(task)
        return result

    def _forget(self, key: Hashable, task: asyncio.Task[Any]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        _retrieve(task)


class KeyedFlight:
    """Cache-then-single-flight loading of entities by key for one cache kind."""

    def __init__(self, cache: EntityCache, *, source: str = "source") -> None:
        self.cache = cache
        self.source = source
        self.joins = 0
        self._inflight: dict[Hashable, asyncio.Task[Mapping[Any, Any]]] = {}
        self._dropped: set[Hashable] = set()

    def invalidate(self, keys: Sequence[Hashable] | None = None) -> int:
        """Drop cached values; reads in flight for these keys will not cache what they get."""
        targets = list(self._inflight) if keys is None else list(keys)
        for key in targets:
            if self._inflight.pop(key, None) is not None:
                self._dropped.add(key)
        return self.cache.invalidate(keys)

    async def load(
        self,
        keys: Sequence[K],
        fetch: Callable[[list[K]], Awaitable[Mapping[K, Any]]],
        *,
        default: Any = _ABSENT,
    ) -> dict[K, Any]:
        """Values for `keys`: fresh cache hits, joined in-flight reads, then one `fetch`.

        `fetch` receives only the keys nobody has or is getting; keys it does not return
        are absent from the result unless `default` is given, which is then cached too
        (a customer without orders is an answer, not a miss).
        """
        wanted = list(dict.fromkeys(keys))
        result: dict[K, Any] = {}
        for key in wanted:
            value = self.cache.get(key)
            if value is not None:
                result[key] = value
        joined: dict[K, asyncio.Task[Mapping[Any, Any]]] = {}
        missing: list[K] = []
        for key in wanted:
            if key in result:
                continue
            task = self._inflight.get(key)
            if task is None:
                missing.append(key)
            else:
                joined[key] = task
                self.joins += 1
                record_join(self.source)
        if missing:
            own = asyncio.ensure_future(self._fetch_and_store(missing, fetch, default))
            for key in missing:
                self._inflight[key] = own
            own.add_done_callback(lambda done: self._forget(missing, done))
            joined.update({key: own for key in missing})
        for task in dict.fromkeys(joined.values()):
            await asyncio.shield(task)
        for key, task in joined.items():
            value = task.result().get(key, _ABSENT)
            if value is not _ABSENT:
                result[key] = value
        return {key: result[key] for key in wanted if key in result}

    async def _fetch_and_store(
        self,
        keys: list[K],
        fetch: Callable[[list[K]], Awaitable[Mapping[K, Any]]],
        default: Any,
    ) -> Mapping[Any, Any]:
        try:
            fetched = dict(await fetch(keys))
            if default is not _ABSENT:
                for key in keys:
                    fetched.setdefault(key, default)
            # A key invalidated while this read was in flight may have changed under it.
            self.cache.put_many({k: v for k, v in fetched.items() if k not in self._dropped})
            return fetched
        finally:
            self._dropped.difference_update(keys)

    def _forget(self, keys: list[K], task: asyncio.Task[Mapping[Any, Any]]) -> None:
        for key in keys:
            if self._inflight.get(key) is task:
                del self._inflight[key]
        _retrieve(task)
