"""Load drivers: closed-loop (max throughput) and constant arrival rate (wrk2-style)."""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field

import httpx

from bench.workloads import Workload


@dataclass
class RunResult:
    """What one workload run measured."""

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


async def _one(
    http: httpx.AsyncClient, workload: Workload, rng: random.Random, token: str
) -> str | None:
    """Send one request and check it; returns a failure reason or None."""
    try:
        response = await http.post(
            "/graphql",
            json={"query": workload.query, "variables": workload.variables(rng)},
            headers={"Authorization": f"Bearer {token}"},
        )
    except httpx.HTTPError as exc:
        return f"transport: {exc!r}"
    if response.status_code != 200:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    body = response.json()
    if body.get("errors"):
        return f"errors: {body['errors'][:1]}"
    return workload.check(body)


async def closed_loop(
    base_url: str, workload: Workload, *, concurrency: int, duration_s: float,
    tokens: list[str], seed: int = 7,
) -> RunResult:
    """`concurrency` users, each sending its next request when the last one answers."""
    result = RunResult()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0, limits=limits) as http:
        deadline = time.perf_counter() + duration_s

        async def user(index: int) -> None:
            rng = random.Random(seed * 1000 + index)
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                failure = await _one(http, workload, rng, tokens[index % len(tokens)])
                result.record((time.perf_counter() - started) * 1000, failure)

        started = time.perf_counter()
        await asyncio.gather(*(user(i) for i in range(concurrency)))
        result.elapsed_s = time.perf_counter() - started
    return result


async def constant_rate(
    base_url: str, workload: Workload, *, rate: float, duration_s: float,
    tokens: list[str], seed: int = 7,
) -> RunResult:
    """Requests start on a fixed schedule; latency counts from the scheduled start."""
    result = RunResult()
    total = int(rate * duration_s)
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as http:
        start = time.perf_counter()

        async def fire(index: int) -> None:
            scheduled = start + index / rate
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            rng = random.Random(seed * 1000 + index)
            failure = await _one(http, workload, rng, tokens[index % len(tokens)])
            result.record((time.perf_counter() - scheduled) * 1000, failure)

        await asyncio.gather(*(fire(i) for i in range(total)))
        result.elapsed_s = time.perf_counter() - start
    return result


async def burst(
    base_url: str, workload: Workload, *, size: int, tokens: list[str]
) -> RunResult:
    """`size` identical requests released at once (tests single-flight dedup)."""
    result = RunResult()
    limits = httpx.Limits(max_connections=size)
    async with httpx.AsyncClient(base_url=base_url, timeout=30.0, limits=limits) as http:
        start = time.perf_counter()

        async def fire(index: int) -> None:
            began = time.perf_counter()
            failure = await _one(http, workload, random.Random(0), tokens[index % len(tokens)])
            result.record((time.perf_counter() - began) * 1000, failure)

        await asyncio.gather(*(fire(i) for i in range(size)))
        result.elapsed_s = time.perf_counter() - start
    return result
