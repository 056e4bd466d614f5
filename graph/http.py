"""HTTP hardening around `/graphql`: request ids, body limits, CSRF prevention, CORS.

The middleware order, outermost first: request id → CORS → body limit → CSRF → auth → app,
so every response (errors included) carries `X-Request-Id` and CORS headers, and nothing
oversized or cross-site reaches token verification or the GraphQL view.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graph.auth import Authenticator, AuthMiddleware
from graph.request_headers import request_headers
from graph.settings import Settings

GRAPHQL_PATH = "/graphql"
GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
APPLICATION_JSON = "application/json"
# Content types a browser sends cross-site without a CORS preflight (Fetch spec).
NON_PREFLIGHTED_CONTENT_TYPES = frozenset(
    {"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"}
)
# Apollo's recommended CSRF headers: any non-empty value forces a preflight.
CSRF_REQUIRED_HEADERS = ("x-apollo-operation-name", "apollo-require-preflight")
REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


def negotiate(accept: str | None) -> str | None:
    """The response media type for an `Accept` header (None: nothing we can produce)."""
    if accept is None or not accept.strip():
        return APPLICATION_JSON
    weights: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        weights[media.lower()] = max(quality, weights.get(media.lower(), 0.0))
    wildcard = max(weights.get("*/*", 0.0), weights.get("application/*", 0.0))
    graphql_q = weights.get(GRAPHQL_RESPONSE_JSON, 0.0)
    json_q = weights.get(APPLICATION_JSON, wildcard)
    if graphql_q > 0 and graphql_q >= json_q:
        return GRAPHQL_RESPONSE_JSON
    if json_q > 0:
        return APPLICATION_JSON
    return None


def error_response(
    status: int,
    message: str,
    code: str,
    headers: Mapping[str, str],
    *,
    extra_headers: Mapping[str, str] | None = None,
) -> Response:
    """A GraphQL-shaped request error (`errors` only, no `data`) with an HTTP status."""
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    media_type = negotiate(headers.get("accept")) or APPLICATION_JSON
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        media_type=media_type,
        headers=dict(extra_headers or {}),
    )


class RequestIdMiddleware:
    """Keep a sane incoming `X-Request-Id` or mint one; echo it on the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Tag the scope's state and every response start with the request id."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = request_headers(scope).get(REQUEST_ID_HEADER, "")
        request_id = incoming if _REQUEST_ID_PATTERN.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_id)


class BodyLimitMiddleware:
    """Refuse bodies (and GET query strings) over `max_bytes` with 413 before anyone parses them."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Buffer the body up to the limit, then replay it to the app."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = request_headers(scope)

        def too_large() -> Response:  # built only for a refusal, not for every request
            return error_response(
                413, f"request body exceeds {self.max_bytes} bytes", "BAD_USER_INPUT", headers
            )

        declared = headers.get("content-length", "")
        if (declared.isdigit() and int(declared) > self.max_bytes) or len(
            scope.get("query_string", b"")
        ) > self.max_bytes:
            await too_large()(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await too_large()(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class CsrfMiddleware:
    """Apollo Router's CSRF prevention: only preflighted requests may run operations.

    A request passes when it has a `Content-Type` that is not one of the three a browser
    sends without a preflight, or a non-empty `x-apollo-operation-name` /
    `apollo-require-preflight` header. A GET that asks for HTML and carries no operation
    (a browser opening GraphiQL) executes nothing and passes too.
    """

    def __init__(self, app: ASGIApp, path: str = GRAPHQL_PATH) -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Reject a simple (non-preflighted) request with 400."""
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        headers = request_headers(scope)
        if self._preflighted(headers) or self._ide_page(scope, headers):
            await self.app(scope, receive, send)
            return
        message = (
            "This operation has been blocked as a potential Cross-Site Request Forgery (CSRF). "
            "Send a Content-Type other than "
            f"{', '.join(sorted(NON_PREFLIGHTED_CONTENT_TYPES))}, or a non-empty "
            f"{' or '.join(CSRF_REQUIRED_HEADERS)} header."
        )
        await error_response(400, message, "BAD_USER_INPUT", headers)(scope, receive, send)

    @staticmethod
    def _preflighted(headers: Mapping[str, str]) -> bool:
        """True when a browser would have had to ask CORS first."""
        content_type = headers.get("content-type")
        if content_type is not None:
            essence = content_type.split(";", 1)[0].strip().lower()
            if "/" not in essence or essence not in NON_PREFLIGHTED_CONTENT_TYPES:
                return True
        return any(headers.get(name, "").strip() for name in CSRF_REQUIRED_HEADERS)

    @staticmethod
    def _ide_page(scope: Scope, headers: Mapping[str, str]) -> bool:
        """A plain browser GET for the GraphiQL page: no operation in the query string."""
        query_string = scope.get("query_string", b"").decode("latin-1")
        names = {pair.split("=", 1)[0] for pair in query_string.split("&") if pair}
        return (
            scope["method"] == "GET"
            and "text/html" in headers.get("accept", "")
            and not names & {"query", "extensions", "variables", "operationName"}
        )


def middleware(
    settings: Settings, authenticator: Authenticator, *, extra_cors_headers: Sequence[str] = ()
) -> list[Middleware]:
    """The governed middleware stack for the Starlette app, outermost first."""
    return [
        Middleware(RequestIdMiddleware),
        Middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=[
                "authorization", "content-type", "accept", REQUEST_ID_HEADER,
                *CSRF_REQUIRED_HEADERS, *extra_cors_headers,
            ],
            expose_headers=[REQUEST_ID_HEADER, "retry-after"],
            max_age=600,
        ),
        Middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes),
        Middleware(CsrfMiddleware),
        Middleware(AuthMiddleware, authenticator=authenticator),
    ]
