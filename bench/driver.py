"""Python load drivers: constant arrival rate (wrk2-style), closed loop and burst.

A request is a `Step`: send, check, return a failure reason or None. Constant-rate runs
start each step on a fixed schedule whatever the server is doing, and count latency from
the scheduled start, so a stalled server cannot hide its queueing (coordinated omission).
Closed-loop runs for maximum throughput go through wrk (bench/wrk.py), whose C client leaves
the cores to the server; this driver runs them only for multi-request flows.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.workloads import Workload

Step = Callable[[httpx.AsyncClient, random.Random, str], Awaitable[str | None]]


@dataclass
class RunResult:
    """What one run measured."""

    requests: int = 0
    failures: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    elapsed_s: float = 0.0
    first_failure: str | None = None

    def record(self, latency_ms: float, failure: str | None) -> None:
        """Count one response; keep the first failure's reason for the report."""
        self.requests += 1
        self.latencies_ms.append(latency_ms)
        if failure is not None:
            self.failures += 1
            self.first_failure = self.first_failure or failure

    def percentile(self, share: float) -> float:
        """Latency at `share` (0..1), nearest-rank."""
        if not self.latencies_ms:
            return 0.0
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


async def post_checked(
    http: httpx.AsyncClient, body: Mapping[str, object], token: str,
    check: Callable[[dict[str, Any]], str | None],
) -> tuple[dict[str, Any] | None, str | None]:
    """POST one GraphQL request; (decoded body, failure reason or None)."""
    try:
        response = await http.post("/graphql", json=body, headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as exc:
        return None, f"transport: {exc!r}"
    if response.status_code != 200:
        return None, f"HTTP {response.status_code}: {response.text[:200]}"
    decoded: dict[str, Any] = response.json()
    if decoded.get("errors"):
        return decoded, f"errors: {decoded['errors'][:1]}"
    return decoded, check(decoded)


def request_step(workload: Workload) -> Step:
    """One checked request of `workload` with variables drawn from the run's generator."""

    async def step(http: httpx.AsyncClient, rng: random.Random, token: str) -> str | None:
        body = {"query": workload.query, "variables": workload.variables(rng)}
        return (await post_checked(http, body, token, workload.check))[1]

    return step


def _client(base_url: str, connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=base_url, timeout=30.0, limits=limits)


async def constant_rate(
    base_url: str, step: Step, *, rate: float, duration_s: float, tokens: Sequence[str], seed: int = 7,
) -> RunResult:
    """Steps start on a fixed schedule; latency counts from the scheduled start."""
    result = RunResult()
    total = max(1, int(rate * duration_s))
    async with _client(base_url, 256) as http:
        start = time.perf_counter()

        async def fire(index: int) -> None:
            scheduled = start + index / rate
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            rng = random.Random(seed * 1_000_003 + index)
            failure = await step(http, rng, tokens[index % len(tokens)])
            result.record((time.perf_counter() - scheduled) * 1000, failure)

        await asyncio.gather(*(fire(i) for i in range(total)))
        result.elapsed_s = time.perf_counter() - start
    return result


async def closed_loop(
    base_url: str, step: Step, *, concurrency: int, duration_s: float, tokens: Sequence[str],
    seed: int = 7,
) -> RunResult:
    """`concurrency` users, each starting its next step when the last one answered."""
    result = RunResult()
    async with _client(base_url, concurrency) as http:
        deadline = time.perf_counter() + duration_s

        async def user(index: int) -> None:
            rng = random.Random(seed * 1000 + index)
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                failure = await step(http, rng, tokens[index % len(tokens)])
                result.record((time.perf_counter() - started) * 1000, failure)

        started = time.perf_counter()
        await asyncio.gather(*(user(i) for i in range(concurrency)))
        result.elapsed_s = time.perf_counter() - started
    return result


async def burst(base_url: str, step: Step, *, size: int, tokens: Sequence[str]) -> RunResult:
    """`size` steps released at once, each on its own connection."""
    result = RunResult()
    async with _client(base_url, size) as http:
        start = time.perf_counter()

        async def fire(index: int) -> None:
            began = time.perf_counter()
            failure = await step(http, random.Random(0), tokens[index % len(tokens)])
            result.record((time.perf_counter() - began) * 1000, failure)

        await asyncio.gather(*(fire(i) for i in range(size)))
        result.elapsed_s = time.perf_counter() - start
    return result
