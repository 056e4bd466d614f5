"""A bulkhead per source: at most `max_concurrent` calls in flight, `max_queue` waiting.

A call beyond both fails fast with `BulkheadFull`, so a slow upstream ties up a bounded
share of the process instead of every connection and task. A queued call waits at most
the time its request has left (`SourceTimeout` after that). Written here because it is
an `asyncio.Semaphore` plus a waiting count; no library adds anything to that.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from .errors import BulkheadFull, SourceTimeout


class Bulkhead:
    """Concurrency limit with a bounded, deadline-aware queue for one source."""

    def __init__(self, source: str, max_concurrent: int, max_queue: int) -> None:
        self.source = source
        self.max_concurrent = max(1, max_concurrent)
        self.max_queue = max(0, max_queue)
        self.rejections = 0
        self._slots = asyncio.Semaphore(self.max_concurrent)
        self._in_flight = 0
        self._waiting = 0

    @property
    def in_flight(self) -> int:
        """Calls holding a slot now."""
        return self._in_flight

    @property
    def waiting(self) -> int:
        """Calls queued for a slot now."""
        return self._waiting

    @asynccontextmanager
    async def slot(self, wait_s: float | None) -> AsyncIterator[None]:
        """Hold one slot for the body; queue at most `wait_s` seconds (None: no limit)."""
        if self._slots.locked() and self._waiting >= self.max_queue:
            self.rejections += 1
            raise BulkheadFull(
                self.source,
                f"bulkhead full ({self.max_concurrent} in flight, {self._waiting} queued)",
            )
        self._waiting += 1
        try:
            if wait_s is None:
                await self._slots.acquire()
            else:
                async with asyncio.timeout(wait_s):
                    await self._slots.acquire()
        except TimeoutError as exc:
            raise SourceTimeout(
                self.source, f"no bulkhead slot within the request budget ({wait_s:.3f}s)"
            ) from exc
        finally:
            self._waiting -= 1
        self._in_flight += 1
        try:
            yield
        finally:
            self._in_flight -= 1
            self._slots.release()
