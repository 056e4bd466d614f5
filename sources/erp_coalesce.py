"""Per-tick coalescing of ERP reads: what one resolver level asks for goes up as one `$batch`.

Business Central's JSON `$batch` carries up to 100 GETs of any entity sets in one HTTP call,
so the reads that start together (the DataLoader batches of one tick and the source calls
they lead to: customers, orders and invoices, returns and credit memos) need not cost one
round trip each. `ErpCoalescer.get` parks a read's URLs for a few event-loop turns; then
every URL parked in that window travels together: one URL alone as a plain GET, several as
`$batch`(es) of at most `max_inner` inner requests. Each read gets its own answers or its own
error: an inner request that failed fails only the read that asked for it, while a failed
HTTP call (timeout, 503, open breaker) fails every read riding in it.

Only reads of the same request scope (`sources/deadline.py`) share a window, so one
operation's deadline, retries and trace never govern another's reads; reads outside any
scope (workflows, scripts) share theirs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .deadline import RequestScope, current_scope

# Event-loop turns a window stays open. A DataLoader dispatches one turn after its first
# load, its batch task starts a turn later and the source's single-flight task one more,
# so reads of one resolver level reach the coalescer within a few turns of each other.
DEFAULT_TURNS = 6
MAX_INNER = 100

SendOne = Callable[[str], Awaitable[Any]]
SendBatch = Callable[[Sequence[str]], Awaitable[list[dict[str, Any]]]]
Check = Callable[[dict[str, Any]], Any]


@dataclass(slots=True)
class _Read:
    """One caller's URLs and the future its answers go to."""

    urls: Sequence[str]
    future: asyncio.Future[list[Any]]


@dataclass(slots=True)
class _Window:
    """The reads parked under one request scope until the window closes."""

    reads: list[_Read] = field(default_factory=list)


class ErpCoalescer:
    """Merges the ERP GETs that start within a few loop turns into the fewest HTTP calls."""

    def __init__(
        self,
        send_one: SendOne,
        send_batch: SendBatch,
        check: Check,
        *,
        turns: int = DEFAULT_TURNS,
        max_inner: int = MAX_INNER,
    ) -> None:
        self._send_one = send_one
        self._send_batch = send_batch
        self._check = check
        self.turns = turns
        self.max_inner = max(1, min(max_inner, MAX_INNER))
        self._windows: dict[int, tuple[RequestScope | None, _Window]] = {}
        self.http_calls = 0
        self.reads = 0

    async def get(self, urls: Sequence[str]) -> list[Any]:
        """The response bodies of these `/api/v2.0/`-relative URLs, in order."""
        if not urls:
            return []
        scope = current_scope()
        key = id(scope)
        entry = self._windows.get(key)
        if entry is None:
            entry = (scope, _Window())
            self._windows[key] = entry
            # The flush task copies this caller's context: the scope (deadline) and trace.
            asyncio.ensure_future(self._flush_later(key, entry[1]))
        read = _Read(urls=list(urls), future=asyncio.get_running_loop().create_future())
        entry[1].reads.append(read)
        self.reads += 1
        return await read.future

    async def _flush_later(self, key: int, window: _Window) -> None:
        """Close the window after `turns` loop turns and send what it collected."""
        try:
            for _ in range(self.turns):
                await asyncio.sleep(0)
            self._close(key, window)
            await self._send(window.reads)
        except BaseException as exc:  # every waiter must hear how its read ended
            self._close(key, window)
            for read in window.reads:
                if read.future.done():
                    continue
                if isinstance(exc, Exception):
                    read.future.set_exception(exc)
                else:
                    read.future.cancel()
            if not isinstance(exc, Exception):
                raise

    def _close(self, key: int, window: _Window) -> None:
        """No later read may join this window."""
        if self._windows.get(key, (None, None))[1] is window:
            del self._windows[key]

    async def _send(self, reads: list[_Read]) -> None:
        """One GET for a lone URL, else `$batch` chunks; hand each read its answers."""
        live = [read for read in reads if not read.future.done()]
        urls = [url for read in live for url in read.urls]
        if not urls:
            return
        if len(urls) == 1:
            self.http_calls += 1
            try:
                body = await self._send_one(urls[0])
            except Exception as exc:  # noqa: BLE001 - the one read's own error
                _settle(live[0], exc)
                return
            _settle(live[0], [body])
            return
        chunks = [urls[i:i + self.max_inner] for i in range(0, len(urls), self.max_inner)]
        self.http_calls += len(chunks)
        results = await asyncio.gather(
            *(self._send_batch(chunk) for chunk in chunks), return_exceptions=True
        )
        answers: list[dict[str, Any] | BaseException] = []
        for chunk, result in zip(chunks, results):
            if isinstance(result, BaseException):
                answers.extend(result for _ in chunk)
            else:
                answers.extend(result)
        position = 0
        for read in live:
            mine = answers[position:position + len(read.urls)]
            position += len(read.urls)
            _settle(read, self._bodies(mine))

    def _bodies(self, answers: Sequence[dict[str, Any] | BaseException]) -> list[Any] | Exception:
        """The bodies of one read's inner answers, or the first error among them."""
        bodies: list[Any] = []
        for answer in answers:
            if isinstance(answer, Exception):
                return answer
            if isinstance(answer, BaseException):
                raise answer
            try:
                bodies.append(self._check(answer))
            except Exception as exc:  # noqa: BLE001 - an inner failure is this read's alone
                return exc
        return bodies


def _settle(read: _Read, outcome: list[Any] | BaseException) -> None:
    """Resolve a read's future unless its caller gave up."""
    if read.future.done():
        return
    if isinstance(outcome, BaseException):
        read.future.set_exception(outcome)
    else:
        read.future.set_result(outcome)
