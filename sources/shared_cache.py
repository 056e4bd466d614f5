"""The shared second-level entity cache in Redis, and invalidation across replicas.

A read that misses a client's per-process cache (L1) asks Redis (L2) inside the same
single-flight, then the upstream for what L2 lacks; what the upstream returns fills both,
with the kind's L1 TTL. An invalidation on one replica drops its L1, deletes the L2 entries
and tells every other replica (pub/sub) to drop theirs.

Keys: `{prefix}:c:{codec schema}:{source}:{kind}:{generation}:{key}`. Dropping a whole kind
bumps its generation (one INCR) instead of scanning. An invalidation also leaves a
tombstone (`{prefix}:t:…`, `guard_s`) that stops a read which started before it, on any
replica, from writing its older answer back into L2 afterwards.

While Redis is down, or the listener is not subscribed (peers' invalidations could be
missed), L2 is skipped entirely: reads go L1 → upstream as without Redis.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, Protocol

import orjson
from prometheus_client import Counter
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from .cache import CacheSet, Clock, EntityCache
from .codec import SCHEMA, CodecError, decode, decode_key, encode, encode_key
from .redis_link import RedisLink

logger = logging.getLogger("retailgraph.shared_cache")
Upstream = Callable[[list[Any]], Awaitable[Mapping[Any, Any]]]

# KEYS: n value keys, then their n tombstones; ARGV: ttl ms, then n values.
SET_UNLESS_TOMBSTONED = """
local n = #KEYS / 2
for i = 1, n do
  if redis.call('EXISTS', KEYS[n + i]) == 0 then
    redis.call('SET', KEYS[i], ARGV[i + 1], 'PX', ARGV[1])
  end
end
return n
"""

SHARED_CACHE_EVENTS = Counter(
    "retailgraph_shared_cache_events_total",
    "Shared (Redis) cache lookups by kind and outcome (hit, miss, error).",
    ["source", "kind", "outcome"],
)
INVALIDATIONS = Counter(
    "retailgraph_invalidations_total",
    "Entity cache invalidations by kind and origin (local: this replica; peer: another).",
    ["source", "kind", "origin"],
)


class CachedClient(Protocol):
    """What the shared cache needs of a source client (`sources.http.HttpSource`)."""

    caches: CacheSet

    @property
    def source(self) -> str:
        """"erp", "wms" or "servicedesk"."""

    def cache(self, kind: str) -> EntityCache:
        """The L1 cache of one kind."""

    def drop_local(self, kind: str, keys: Iterable[Hashable] | None = None) -> int:
        """Drop L1 entries in this process only."""


class SharedCache:
    """L2 reads and fills, invalidation with tombstones, and peers' invalidations applied."""

    def __init__(
        self,
        link: RedisLink,
        *,
        prefix: str = "retailgraph",
        guard_s: float = 10.0,
        enabled: bool = True,
        clock: Clock = time.monotonic,
    ) -> None:
        self.link = link
        self.prefix = prefix
        self.channel = f"{prefix}:invalidate"
        self.origin = uuid.uuid4().hex
        self.enabled = enabled
        self.guard_s = guard_s
        self._clock = clock
        self._clients: dict[str, CachedClient] = {}
        self._generations: dict[tuple[str, str], int] = {}
        self._tombstones: dict[tuple[str, str, str | None], float] = {}
        link.handle(self.channel, self._on_message)
        link.on_connect(self._resync)

    def attach(self, clients: Iterable[Any]) -> None:
        """Put this cache behind each client's L1 (sets `client.shared`)."""
        for client in clients:
            self._clients[client.source] = client
            client.shared = self

    # -- reading -------------------------------------------------------------------------------

    def usable(self, client: CachedClient, kind: str) -> bool:
        """True when L2 may answer for this kind now."""
        l1 = client.cache(kind)
        return (
            self.enabled and l1.enabled and l1.ttl_s > 0 and self.link.subscribed
            and not self.link.down and (client.source, kind) in self._generations
        )

    async def read_through(
        self, client: CachedClient, kind: str, keys: Sequence[Any], upstream: Upstream, *, many: bool
    ) -> Mapping[Any, Any]:
        """L2 hits for `keys`, then `upstream` for the rest, whose answers fill L2.

        `many` kinds map every key: a key the upstream did not return is stored as `()`.
        """
        if not self.usable(client, kind):
            return await upstream(list(keys))
        started = self._clock()
        found = await self._get_many(client.source, kind, keys)
        missing = [key for key in keys if key not in found]
        if not missing:
            return found
        fetched = dict(await upstream(missing))
        filled = {key: fetched.get(key, ()) for key in missing} if many else fetched
        self.store(client, kind, filled, since=started)
        return {**found, **fetched}

    async def _get_many(self, source: str, kind: str, keys: Sequence[Any]) -> dict[Any, Any]:
        generation = self._generations.get((source, kind))
        if generation is None:
            return {}
        # A key invalidated within the guard window is read from upstream: its Redis delete
        # may still be queued, and fills are refused for that long anyway.
        recent = self._clock() - self.guard_s
        named: list[tuple[Any, str]] = []
        for key in keys:
            try:
                text = encode_key(key)
            except CodecError:
                continue
            if not self._invalidated_since(source, kind, text, recent):
                named.append((key, self._value_key(source, kind, generation, text)))
        if not named:
            return {}
        names = [name for _, name in named]
        blobs = await self.link.call("get", lambda redis: redis.mget(names))
        if blobs is None:
            SHARED_CACHE_EVENTS.labels(source, kind, "error").inc(len(named))
            return {}
        found: dict[Any, Any] = {}
        for (key, _), blob in zip(named, blobs):
            if blob is None:
                SHARED_CACHE_EVENTS.labels(source, kind, "miss").inc()
                continue
            try:
                found[key] = decode(blob)
            except CodecError as exc:
                logger.warning("undecodable shared cache entry %s/%s: %s", source, kind, exc)
                SHARED_CACHE_EVENTS.labels(source, kind, "error").inc()
                continue
            SHARED_CACHE_EVENTS.labels(source, kind, "hit").inc()
        return found

    # -- filling -------------------------------------------------------------------------------

    def store(
        self, client: CachedClient, kind: str, values: Mapping[Any, Any], *, since: float | None = None
    ) -> None:
        """Queue L2 fills with the kind's TTL; keys invalidated since `since` are skipped."""
        if not values or not self.usable(client, kind):
            return
        source = client.source
        ttl_ms = int(client.cache(kind).ttl_s * 1000)
        generation = self._generations[(source, kind)]
        entries = dict(values)

        def fill(pipe: Pipeline) -> None:
            # Encoded by the writer task, off the request path, and checked against the
            # tombstones known by then.
            names: list[str] = []
            tombs: list[str] = []
            blobs: list[bytes] = []
            for key, value in entries.items():
                if value is None:
                    continue
                try:
                    text = encode_key(key)
                    blob = encode(value)
                except CodecError:
                    continue
                if since is not None and self._invalidated_since(source, kind, text, since):
                    continue
                names.append(self._value_key(source, kind, generation, text))
                tombs.append(self._tomb_key(source, kind, text))
                blobs.append(blob)
            if names:
                pipe.eval(SET_UNLESS_TOMBSTONED, 2 * len(names), *names, *tombs, ttl_ms, *blobs)

        self.link.enqueue(fill)

    # -- invalidating --------------------------------------------------------------------------

    def invalidate(self, client: CachedClient, kind: str, keys: Sequence[Hashable] | None) -> None:
        """After a local L1 drop: delete from L2, tombstone, and tell the peers."""
        source = client.source
        now = self._clock()
        INVALIDATIONS.labels(source, kind, "local").inc()
        self._prune(now)
        if keys is None:
            self._tombstones[(source, kind, None)] = now
            self.link.enqueue_serial(lambda redis: self._bump(redis, source, kind))
            return
        texts = []
        for key in keys:
            try:
                texts.append(encode_key(key))
            except CodecError:
                continue
        for text in texts:
            self._tombstones[(source, kind, text)] = now
        if not texts:
            return
        generation = self._generations.get((source, kind))
        message = self._message(source, kind, texts, None)
        guard_ms = max(1, int(self.guard_s * 1000))

        def drop(pipe: Pipeline) -> None:
            if generation is not None:
                pipe.delete(*(self._value_key(source, kind, generation, t) for t in texts))
            for text in texts:
                pipe.set(self._tomb_key(source, kind, text), b"1", px=guard_ms)
            pipe.publish(self.channel, message)

        self.link.enqueue(drop)

    async def _bump(self, redis: Redis, source: str, kind: str) -> None:
        """Drop a whole kind: a new generation makes every older entry unreachable."""
        generation = int(await redis.incr(self._generation_key(source, kind)))
        self._generations[(source, kind)] = generation
        await redis.publish(self.channel, self._message(source, kind, None, generation))

    def _message(self, source: str, kind: str, keys: list[str] | None, generation: int | None) -> bytes:
        return orjson.dumps({"o": self.origin, "s": source, "k": kind, "keys": keys, "g": generation})

    def _on_message(self, data: bytes) -> None:
        """A peer's invalidation: drop the same entries from this replica's L1."""
        message = orjson.loads(data)
        if message.get("o") == self.origin:
            return
        source, kind = str(message["s"]), str(message["k"])
        client = self._clients.get(source)
        if client is None or kind not in client.caches.kinds():
            return
        now = self._clock()
        INVALIDATIONS.labels(source, kind, "peer").inc()
        texts = message.get("keys")
        if texts is None:
            generation = message.get("g")
            if isinstance(generation, int):
                known = self._generations.get((source, kind), 0)
                self._generations[(source, kind)] = max(known, generation)
            self._tombstones[(source, kind, None)] = now
            client.drop_local(kind)
            return
        for text in texts:
            self._tombstones[(source, kind, str(text))] = now
        client.drop_local(kind, [decode_key(str(text)) for text in texts])

    async def _resync(self) -> None:
        """On (re)subscription: learn every kind's generation and drop L1 (messages may be lost)."""
        pairs = [(s, k) for s, client in self._clients.items() for k in client.caches.kinds()]
        if not pairs:
            return
        names = [self._generation_key(s, k) for s, k in pairs]
        values = await self.link.client.mget(names)
        self._generations = {pair: int(value or 0) for pair, value in zip(pairs, values)}
        for client in self._clients.values():
            for kind in client.caches.kinds():
                client.drop_local(kind)

    def _invalidated_since(self, source: str, kind: str, text: str, since: float) -> bool:
        for key in ((source, kind, text), (source, kind, None)):
            when = self._tombstones.get(key)
            if when is not None and when >= since:
                return True
        return False

    def _prune(self, now: float) -> None:
        """Forget local tombstones older than the guard window (bounded memory)."""
        if len(self._tombstones) < 10_000:
            return
        horizon = now - self.guard_s
        self._tombstones = {k: v for k, v in self._tombstones.items() if v >= horizon}

    # -- key layout ----------------------------------------------------------------------------

    def _value_key(self, source: str, kind: str, generation: int, text: str) -> str:
        return f"{self.prefix}:c:{SCHEMA}:{source}:{kind}:{generation}:{text}"

    def _tomb_key(self, source: str, kind: str, text: str) -> str:
        return f"{self.prefix}:t:{source}:{kind}:{text}"

    def _generation_key(self, source: str, kind: str) -> str:
        return f"{self.prefix}:g:{source}:{kind}"
