"""Shared sandbox machinery: JSON, auth, stats, faults, rate limits, idempotency, control API."""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_IDEMPOTENCY_KEY = 255


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)  # a cent-rounded Decimal prints with at most 2 decimals
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(content: Any) -> bytes:
    """Serialize to JSON; Decimals become numbers."""
    return orjson.dumps(content, default=_default)


class JSONResponse(Response):
    """orjson-rendered JSON response."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)


@dataclass
class Result:
    """A handler's answer before it becomes an HTTP response (or a $batch entry)."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def response(self) -> Response:
        """The HTTP response for this result."""
        if self.body is None:
            return Response(status_code=self.status, headers=self.headers)
        return JSONResponse(self.body, self.status, self.headers)


# (status, kind, message) → the product's own error body. Kinds: unauthorized, rate_limited,
# unavailable, bad_request, not_found, conflict, idempotency_key_reused, idempotency_key_in_use.
ErrorFactory = Callable[[int, str, str], Result]


class BadRequest(Exception):
    """A malformed request body or parameter (HTTP 400)."""


async def read_json(request: Request) -> Any:
    """The request body as JSON, or BadRequest."""
    body = await request.body()
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise BadRequest("The request body is not valid JSON.") from None


def parse_json(body: bytes) -> Any:
    """Decode a JSON body, or BadRequest."""
    try:
        return orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        raise BadRequest("The request body is not valid JSON.") from None


@dataclass
class Faults:
    """Injected failures for API calls (not control calls)."""

    latency_ms: int = 0
    error_rate: float = 0.0
    outage: bool = False

    def merge(self, changes: Mapping[str, Any]) -> None:
        """Apply the given keys after validating all of them."""
        valid: dict[str, type | tuple[type, ...]] = {
            "latency_ms": int, "error_rate": (int, float), "outage": bool}
        for key, value in changes.items():
            if key not in valid or isinstance(value, bool) != (key == "outage") or \
                    not isinstance(value, valid[key]):
                raise BadRequest(f"Invalid fault setting '{key}': {value!r}.")
        if changes.get("latency_ms", 0) < 0 or not 0 <= changes.get("error_rate", 0) <= 1:
            raise BadRequest("latency_ms must be ≥ 0 and error_rate within [0, 1].")
        for key, value in changes.items():
            setattr(self, key, float(value) if key == "error_rate" else value)


class Stats:
    """Request counts by route template."""

    def __init__(self) -> None:
        self.requests = 0
        self.by_route: dict[str, int] = {}

    def record(self, template: str, *, http_request: bool = True) -> None:
        """Count one call; inner $batch operations count by route only."""
        if http_request:
            self.requests += 1
        self.by_route[template] = self.by_route.get(template, 0) + 1

    def snapshot(self) -> dict[str, Any]:
        """The stats document."""
        return {"requests": self.requests, "by_route": dict(self.by_route)}


class RateLimiter:
    """A fixed-window request quota per credential."""

    def __init__(self, limit: int, window_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window_seconds, self.clock = limit, window_seconds, clock
        self._windows: dict[str, tuple[float, int]] = {}

    def configure(self, limit: int, window_seconds: float) -> None:
        """Change the quota and start fresh windows."""
        self.limit, self.window_seconds = limit, window_seconds
        self._windows.clear()

    def _window(self, key: str) -> tuple[float, int]:
        now = self.clock()
        start, used = self._windows.get(key, (now, 0))
        if now - start >= self.window_seconds:
            start, used = now, 0
        return start, used

    def hit(self, key: str) -> tuple[bool, int]:
        """Count a request; (allowed, seconds to wait when refused)."""
        start, used = self._window(key)
        if used >= self.limit:
            wait = start + self.window_seconds - self.clock()
            return False, max(1, math.ceil(wait))
        self._windows[key] = (start, used + 1)
        return True, 0

    def remaining(self, key: str) -> int:
        """Requests left in the current window."""
        return max(0, self.limit - self._window(key)[1])


@dataclass
class Stored:
    """A write's first successful response, kept for replay."""

    fingerprint: bytes
    result: Result


class SandboxState:
    """Per-app mutable control state: credentials, stats, faults, quotas, idempotency, logs."""

    def __init__(self, *, token: str, seed: int, error: ErrorFactory,
                 rate_limit: int = 1_000_000, rate_window_seconds: float = 60.0,
                 rate_headers: bool = False) -> None:
        self.token, self.seed, self.error = token, seed, error
        self.stats = Stats()
        self.faults = Faults()
        self.rng = random.Random(seed)
        self.limiter = RateLimiter(rate_limit, rate_window_seconds)
        self.rate_headers = rate_headers
        self.idempotency: dict[str, Stored] = {}
        self.in_flight: set[str] = set()
        self.writes: list[dict[str, Any]] = []
        self.last_headers: dict[str, str] = {}

    def rate_limit_headers(self) -> dict[str, str]:
        """Zendesk-style quota headers."""
        remaining = str(self.limiter.remaining(self.token))
        return {"X-Rate-Limit": str(self.limiter.limit), "X-Rate-Limit-Remaining": remaining,
                "ratelimit-limit": str(self.limiter.limit), "ratelimit-remaining": remaining,
                "ratelimit-reset": str(math.ceil(self.limiter.window_seconds))}


def _fingerprint(method: str, target: str, body: bytes) -> bytes:
    try:  # the same JSON with different whitespace or key order is the same request
        canonical = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS) if body else b""
    except orjson.JSONDecodeError:
        canonical = body
    return method.encode() + b" " + target.encode() + b"\n" + canonical


async def idempotent(state: SandboxState, method: str, path: str, target: str,
                     headers: Mapping[str, str], body: bytes,
                     run: Callable[[], Awaitable[Result]]) -> Result:
    """Run a write once per Idempotency-Key; replay its first 2xx answer, log accepted writes."""
    # Only 2xx answers are stored: a refused write changed nothing, so its key may be retried.
    key = headers.get("idempotency-key")
    if key is not None and not 0 < len(key) <= MAX_IDEMPOTENCY_KEY:
        return state.error(400, "bad_request", "Idempotency-Key must be 1-255 characters.")
    fingerprint = _fingerprint(method, target, body)
    if key is not None:
        stored = state.idempotency.get(key)
        if stored is not None:
            if stored.fingerprint != fingerprint:
                return state.error(422, "idempotency_key_reused",
                                   "Keys for idempotent requests can only be used with the same "
                                   "parameters they were first used with.")
            replay = stored.result
            return Result(replay.status, replay.body,
                          {**replay.headers, "Idempotent-Replayed": "true"})
        if key in state.in_flight:
            return state.error(409, "idempotency_key_in_use",
                               "A request with this Idempotency-Key is still being processed.")
        state.in_flight.add(key)
    try:
        result = await run()
    finally:
        if key is not None:
            state.in_flight.discard(key)
    if 200 <= result.status < 300:
        if key is not None:
            # Store a JSON-clean copy: later writes must not change what a replay shows.
            frozen = orjson.loads(dumps(result.body)) if result.body is not None else None
            state.idempotency[key] = Stored(fingerprint, Result(result.status, frozen,
                                                                dict(result.headers)))
        state.writes.append({"method": method, "path": path, "idempotency_key": key,
                             "status": result.status})
    return result


def route_templates(routes: Sequence[BaseRoute]) -> Callable[[Scope], str]:
    """Resolve `METHOD /path/{param}` for stats from a Starlette route list."""
    def template_for(scope: Scope) -> str:
        for route in routes:
            match, _ = route.matches(scope)
            if match is not Match.NONE and isinstance(route, Route):
                return f"{scope['method']} {route.path}"
        return f"{scope['method']} (unmatched)"
    return template_for


class SandboxMiddleware:
    """Pure ASGI middleware for API calls: stats, faults, auth, quota, last headers."""

    def __init__(self, app: ASGIApp, state: SandboxState,
                 template_for: Callable[[Scope], str]) -> None:
        self.app, self.state, self.template_for = app, state, template_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_sandbox"):
            await self.app(scope, receive, send)
            return
        state = self.state
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope["headers"]:
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        state.last_headers = headers
        state.stats.record(self.template_for(scope))
        if state.rate_headers:
            send = self._with_rate_headers(send)
        refusal = await self._refusal(headers)
        if refusal is not None:
            await refusal.response()(scope, receive, send)
            return
        await self.app(scope, receive, send)

    async def _refusal(self, headers: Mapping[str, str]) -> Result | None:
        state, faults = self.state, self.state.faults
        if faults.latency_ms:
            await asyncio.sleep(faults.latency_ms / 1000)
        if faults.outage:
            return state.error(503, "unavailable", "The service is temporarily unavailable.")
        if faults.error_rate and state.rng.random() < faults.error_rate:
            return state.error(503, "unavailable", "The service is temporarily unavailable.")
        scheme, _, credential = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or credential.strip() != state.token:
            return state.error(401, "unauthorized", "The credentials provided are incorrect.")
        allowed, retry_after = state.limiter.hit(state.token)
        if not allowed:
            refusal = state.error(429, "rate_limited",
                                  f"Rate limit exceeded; retry after {retry_after} seconds.")
            refusal.headers["Retry-After"] = str(retry_after)
            return refusal
        return None

    def _with_rate_headers(self, send: Send) -> Send:
        async def sender(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(k.lower().encode(), v.encode())
                         for k, v in self.state.rate_limit_headers().items()]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)
        return sender


def control_routes(state: SandboxState) -> list[Route]:
    """The unauthenticated /_sandbox control endpoints shared by every app."""
    async def stats(request: Request) -> Response:
        return JSONResponse(state.stats.snapshot())

    async def reset_stats(request: Request) -> Response:
        state.stats = Stats()
        return JSONResponse(state.stats.snapshot())

    async def faults(request: Request) -> Response:
        if request.method == "PUT":
            try:
                changes = await read_json(request)
                if not isinstance(changes, dict):
                    raise BadRequest("Expected a JSON object.")
                state.faults.merge(changes)
            except BadRequest as exc:
                return JSONResponse({"error": str(exc)}, 400)
            state.rng = random.Random(state.seed)  # the same settings draw the same failures
        return JSONResponse(asdict(state.faults))

    async def rate_limit(request: Request) -> Response:
        if request.method == "PUT":
            try:
                body = await read_json(request)
                limit = body.get("limit", state.limiter.limit) if isinstance(body, dict) else None
                window = body.get("window_seconds", state.limiter.window_seconds) \
                    if isinstance(body, dict) else None
                if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0 or \
                        not isinstance(window, (int, float)) or window <= 0:
                    raise BadRequest("Expected {\"limit\": int ≥ 0, \"window_seconds\": > 0}.")
            except BadRequest as exc:
                return JSONResponse({"error": str(exc)}, 400)
            state.limiter.configure(limit, float(window))
        return JSONResponse({"limit": state.limiter.limit,
                             "window_seconds": state.limiter.window_seconds,
                             "remaining": state.limiter.remaining(state.token)})

    async def last_headers(request: Request) -> Response:
        return JSONResponse(state.last_headers)

    async def writes(request: Request) -> Response:
        return JSONResponse(state.writes)

    return [
        Route("/_sandbox/stats", stats, methods=["GET"]),
        Route("/_sandbox/stats/reset", reset_stats, methods=["POST"]),
        Route("/_sandbox/faults", faults, methods=["GET", "PUT"]),
        Route("/_sandbox/rate-limit", rate_limit, methods=["GET", "PUT"]),
        Route("/_sandbox/last-headers", last_headers, methods=["GET"]),
        Route("/_sandbox/writes", writes, methods=["GET"]),
    ]
