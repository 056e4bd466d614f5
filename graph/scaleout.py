"""What replicas share through Redis, wired for one app: L2 cache, invalidation, bus fan-out.

`ScaleOut.open(settings, sources)` returns an inert object without `RETAILGRAPH_REDIS_URL`,
so the app is the same single process it always was. With it: the shared cache sits behind
every source client's L1 (`sources/shared_cache.py`), invalidations reach every replica, and
`bind_bus` relays the orchestrator's event bus, so a subscriber on one replica hears what a
workflow or a webhook published on another. Redis trouble never fails a request: each part
falls back to what one process can do alone (`sources/redis_link.py`).
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import orjson
from prometheus_client import Counter

from graph.settings import Settings
from orchestrator.events import BusMessage, EventBus
from sources.redis_link import RedisLink
from sources.shared_cache import SharedCache

logger = logging.getLogger("retailgraph.scaleout")
STARTUP_WAIT_S = 2.0

BUS_FANOUT = Counter(
    "retailgraph_bus_fanout_total",
    "Event-bus messages relayed through Redis: out (published here), in (from a peer).",
    ["direction"],
)


def _portable(payload: Any) -> Any:
    """Payloads travel when they are JSON scalars; subscribers re-read state, so others go as None."""
    return payload if payload is None or isinstance(payload, (str, int, float, bool)) else None


class BusRelay:
    """Publishes this replica's bus messages to Redis and delivers peers' to local subscribers."""

    def __init__(self, link: RedisLink, prefix: str) -> None:
        self.link = link
        self.channel = f"{prefix}:bus"
        self.origin = uuid.uuid4().hex
        self.bus: EventBus | None = None
        link.handle(self.channel, self._on_message)

    def bind(self, bus: EventBus) -> None:
        """Relay `bus`: its publications go out, peers' come in."""
        self.bus = bus
        bus.relay = self.forward

    def forward(self, message: BusMessage) -> None:
        """Queue one local publication for the peers."""
        data = orjson.dumps({"o": self.origin, "t": message.topic, "p": _portable(message.payload)})
        self.link.enqueue(lambda pipe: pipe.publish(self.channel, data))
        BUS_FANOUT.labels("out").inc()

    def _on_message(self, data: bytes) -> None:
        message = orjson.loads(data)
        if message.get("o") == self.origin or self.bus is None:
            return
        BUS_FANOUT.labels("in").inc()
        self.bus.deliver(str(message["t"]), message.get("p"))


class ScaleOut:
    """The app's Redis-backed sharing, or nothing when Redis is not configured."""

    def __init__(self, link: RedisLink | None = None, cache: SharedCache | None = None,
                 relay: BusRelay | None = None, prefix: str = "retailgraph") -> None:
        self.link, self.cache, self.relay, self.prefix = link, cache, relay, prefix

    @property
    def enabled(self) -> bool:
        """True when Redis is configured (it may still be down right now)."""
        return self.link is not None

    @classmethod
    async def open(cls, settings: Settings, sources: Any) -> ScaleOut:
        """Connect to Redis when configured; waits briefly for the first subscription."""
        if not settings.redis_url:
            return cls()
        link = RedisLink(settings.redis_url, timeout_s=settings.redis_timeout_s,
                         retry_s=settings.redis_retry_s)
        cache = SharedCache(link, prefix=settings.redis_prefix, guard_s=settings.shared_cache_guard_s,
                            enabled=settings.shared_cache and settings.entity_cache)
        cache.attach(sources)
        relay = BusRelay(link, settings.redis_prefix)
        link.start()
        if not await link.wait_subscribed(min(STARTUP_WAIT_S, max(settings.redis_retry_s, 0.5))):
            logger.warning("redis is not reachable; starting with per-process caches only")
        return cls(link, cache, relay, settings.redis_prefix)

    def bind_bus(self, bus: EventBus) -> None:
        """Fan the orchestrator's event bus out across replicas."""
        if self.relay is not None:
            self.relay.bind(bus)

    async def claim_once(self, name: str, ttl_s: float) -> bool | None:
        """True if `name` was unclaimed (now claimed for `ttl_s`), False if taken, None unknown."""
        if self.link is None:
            return None
        key = f"{self.prefix}:once:{name}"
        ttl_ms = max(1, int(ttl_s * 1000))

        async def claim(redis: Any) -> bool:
            return bool(await redis.set(key, b"1", nx=True, px=ttl_ms))

        return await self.link.call("claim", claim)

    async def flush(self) -> None:
        """Wait for queued Redis writes (tests)."""
        if self.link is not None:
            await self.link.flush()

    async def close(self) -> None:
        """Flush briefly and disconnect."""
        if self.link is not None:
            await self.link.close()
