"""One replica's connection to Redis: ordered writes, a pub/sub listener, and failure state.

Everything that crosses replicas goes through here: the shared entity cache
(`sources/shared_cache.py`), invalidations and the event-bus fan-out (`graph/scaleout.py`).
Redis is an accelerator, never a dependency of an answer:

- commands have a short timeout and no client-side retries; any failure marks Redis down for
  `retry_s`, during which callers act as if it were absent (L1 only, local bus only);
- writes (cache fills, invalidations, publications) queue in one outbox drained by one task,
  so a replica's Redis writes land in the order it made them, batched into pipelines;
- the listener re-subscribes after a failure and runs the connect hooks each time it does
  (the shared cache drops this replica's L1 then: invalidations may have been missed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from prometheus_client import Counter, Gauge
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from .cache import Clock

logger = logging.getLogger("retailgraph.redis")
T = TypeVar("T")
PipelineOp = Callable[[Pipeline], object]
SerialOp = Callable[[Redis], Awaitable[None]]
MessageHandler = Callable[[bytes], None]
ConnectHook = Callable[[], Awaitable[None]]
MAX_PIPELINE = 500
FAILURES = (RedisError, OSError, TimeoutError)

REDIS_ERRORS = Counter(
    "retailgraph_redis_errors_total",
    "Redis operations that failed (the replica carried on without Redis).",
    ["op"],
)
REDIS_DROPPED = Counter(
    "retailgraph_redis_dropped_writes_total",
    "Queued Redis writes dropped because Redis was down or the outbox was full.",
)
REDIS_CONNECTED = Gauge(
    "retailgraph_redis_connected",
    "1 while this replica holds a live Redis subscription (invalidations and fan-out).",
    multiprocess_mode="livemin",
)


class RedisLink:
    """A command client, an ordered write outbox and a reconnecting pub/sub listener."""

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 0.25,
        retry_s: float = 2.0,
        outbox_size: int = 10_000,
        clock: Clock = time.monotonic,
    ) -> None:
        no_retries = Retry(NoBackoff(), 0)
        self.client: Redis = Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, retry=no_retries
        )
        # The listener blocks on reads by design: no read timeout, but periodic PINGs.
        self._listen_client: Redis = Redis.from_url(
            url, socket_timeout=None, socket_connect_timeout=timeout_s, retry=Retry(NoBackoff(), 0),
            health_check_interval=10,
        )
        self.retry_s = retry_s
        self._clock = clock
        self._down_until = 0.0
        self._handlers: dict[str, MessageHandler] = {}
        self._hooks: list[ConnectHook] = []
        self._outbox: asyncio.Queue[tuple[bool, Any]] = asyncio.Queue(outbox_size)
        self._tasks: list[asyncio.Task[None]] = []
        self._subscribed = asyncio.Event()
        self._closing = False

    # -- state ---------------------------------------------------------------------------------

    @property
    def down(self) -> bool:
        """True while a recent failure keeps Redis out of the request path."""
        return self._clock() < self._down_until

    @property
    def subscribed(self) -> bool:
        """True while the listener holds its subscription (peers' messages arrive)."""
        return self._subscribed.is_set()

    def failed(self, op: str, exc: BaseException) -> None:
        """Note a failure: Redis stays out of the request path for `retry_s`."""
        REDIS_ERRORS.labels(op).inc()
        if not self.down:
            logger.warning("redis %s failed (%s: %s); L1 only for %.1fs",
                           op, type(exc).__name__, exc, self.retry_s)
        self._down_until = self._clock() + self.retry_s

    # -- wiring --------------------------------------------------------------------------------

    def handle(self, channel: str, handler: MessageHandler) -> None:
        """Call `handler(data)` for each message on `channel` (register before `start`)."""
        self._handlers[channel] = handler

    def on_connect(self, hook: ConnectHook) -> None:
        """Run `hook` after every successful (re)subscription, before messages are read."""
        self._hooks.append(hook)

    def start(self) -> None:
        """Start the outbox writer and the listener on the running loop."""
        self._tasks = [
            asyncio.create_task(self._drain(), name="redis-outbox"),
            asyncio.create_task(self._listen(), name="redis-listener"),
        ]

    async def wait_subscribed(self, timeout_s: float) -> bool:
        """Wait up to `timeout_s` for the first subscription; False when Redis is not there."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), timeout_s)
        return self.subscribed

    async def close(self, flush_timeout_s: float = 1.0) -> None:
        """Flush what is queued (briefly), stop both tasks and close the connections."""
        self._closing = True
        if self._tasks and not self.down:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._outbox.join(), flush_timeout_s)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._subscribed.clear()
        REDIS_CONNECTED.set(0)
        await self.client.aclose()
        await self._listen_client.aclose()

    # -- commands ------------------------------------------------------------------------------

    async def call(self, op: str, command: Callable[[Redis], Awaitable[T]]) -> T | None:
        """Run one command now; None when Redis is down or the command fails."""
        if self.down or self._closing:
            return None
        try:
            return await command(self.client)
        except FAILURES as exc:
            self.failed(op, exc)
            return None

    def enqueue(self, op: PipelineOp) -> None:
        """Queue pipeline commands (batched with their neighbours, in order)."""
        self._put(False, op)

    def enqueue_serial(self, op: SerialOp) -> None:
        """Queue an operation that needs a reply before the next queued write runs."""
        self._put(True, op)

    async def flush(self) -> None:
        """Wait until every queued write has been attempted (tests, shutdown)."""
        await self._outbox.join()

    def _put(self, serial: bool, op: Any) -> None:
        if self.down or self._closing or not self._tasks:
            REDIS_DROPPED.inc()
            return
        try:
            self._outbox.put_nowait((serial, op))
        except asyncio.QueueFull:
            REDIS_DROPPED.inc()

    async def _drain(self) -> None:
        """The one writer: consecutive pipeline ops share a round trip; serial ops run alone."""
        while True:
            items = [await self._outbox.get()]
            while not self._outbox.empty() and len(items) < MAX_PIPELINE:
                items.append(self._outbox.get_nowait())
            batch: list[PipelineOp] = []
            try:
                for serial, op in items:
                    if serial:
                        await self._run_pipeline(batch)
                        batch = []
                        await self._run_serial(op)
                    else:
                        batch.append(op)
                await self._run_pipeline(batch)
            finally:
                for _ in items:
                    self._outbox.task_done()

    async def _run_pipeline(self, ops: list[PipelineOp]) -> None:
        if not ops:
            return
        if self.down:
            REDIS_DROPPED.inc(len(ops))
            return
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for op in ops:
                    op(pipe)
                await pipe.execute(raise_on_error=False)
        except FAILURES as exc:
            self.failed("write", exc)
        except Exception:  # a bad op must not stop the writer
            logger.exception("redis pipeline op failed")

    async def _run_serial(self, op: SerialOp) -> None:
        if self.down:
            REDIS_DROPPED.inc()
            return
        try:
            await op(self.client)
        except FAILURES as exc:
            self.failed("write", exc)
        except Exception:
            logger.exception("redis serial op failed")

    # -- listening -----------------------------------------------------------------------------

    async def _listen(self) -> None:
        """Subscribe, run the connect hooks, dispatch messages; start over after a failure."""
        if not self._handlers:
            return  # commands only: nothing to listen to
        while not self._closing:
            pubsub = self._listen_client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(*self._handlers)
                for hook in self._hooks:
                    await hook()
                self._subscribed.set()
                REDIS_CONNECTED.set(1)
                logger.info("redis subscribed to %s", ", ".join(sorted(self._handlers)))
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        self._dispatch(message["channel"], message["data"])
            except Exception as exc:  # noqa: BLE001 - any failure: resubscribe after retry_s
                self.failed("subscribe", exc)
            finally:
                self._subscribed.clear()
                REDIS_CONNECTED.set(0)
                with contextlib.suppress(*FAILURES):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(self.retry_s)

    def _dispatch(self, channel: Any, data: Any) -> None:
        name = channel.decode() if isinstance(channel, bytes) else str(channel)
        handler = self._handlers.get(name)
        if handler is None:
            return
        try:
            handler(data if isinstance(data, bytes) else str(data).encode())
        except Exception:  # one bad message must not end the subscription
            logger.exception("redis message on %s could not be handled", name)
