"""The governed strawberry view: GraphQL-over-HTTP status codes, GET rules, websocket auth.

Status codes follow the GraphQL-over-HTTP spec. A response without `data` (the request was
refused before execution) is 400 when the client accepts `application/graphql-response+json`
and 200 with legacy `application/json`; whatever the media type, `RATE_LIMITED` is 429 with
`Retry-After`, `UNAUTHENTICATED` 401, a mutation over GET 405, a body that is not JSON 400
and an unsupported content type 415. Every error body is GraphQL-shaped.
"""

from __future__ import annotations

from typing import Any

import orjson
from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse
from strawberry.schema.exceptions import InvalidOperationTypeError
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    SubscribeMessage,
)
from strawberry.types import ExecutionResult

from graph.auth import AuthenticationError, Authenticator
from graph.http import GRAPHQL_RESPONSE_JSON, error_response, negotiate

MEDIA_TYPE_ATTRIBUTE = "retailgraph_media_type"
STATUS_BY_CODE = {"RATE_LIMITED": 429, "UNAUTHENTICATED": 401}


class GovernedTransportWSHandler(BaseGraphQLTransportWSHandler[Any, Any]):
    """graphql-transport-ws with the token in `connection_init` and a coded subscription cap."""

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        """Keep the init payload on the context so `on_ws_connect` can authenticate it."""
        payload = message.get("payload")
        if isinstance(payload, dict) and not isinstance(self.context, dict):
            self.context.connection_params = payload
        await super().handle_connection_init(message)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        """Refuse an operation over the per-connection cap with `RATE_LIMITED`."""
        cap = self.max_subscriptions_per_connection
        if self.connection_acknowledged and cap is not None and len(self.operations) >= cap:
            await self.send_message(
                {
                    "id": message["id"],
                    "type": "error",
                    "payload": [
                        {
                            "message": f"at most {cap} operations per connection",
                            "extensions": {"code": "RATE_LIMITED"},
                        }
                    ],
                }
            )
            return
        await super().handle_subscribe(message)


class GovernedGraphQL(GraphQL[Any, None]):
    """Strawberry's ASGI view with the HTTP contract of docs/security.md."""

    graphql_transport_ws_handler_class = GovernedTransportWSHandler

    def __init__(
        self, schema: Any, *, authenticator: Authenticator, fast_json: bool = True, **options: Any
    ) -> None:
        super().__init__(schema, **options)
        self.authenticator = authenticator
        self.fast_json = fast_json  # orjson both ways; off only to measure what it saves

    def encode_json(self, data: object) -> str | bytes:
        """Compact JSON by orjson unless turned off; text, as websocket text frames need."""
        if self.fast_json:
            return orjson.dumps(data).decode()
        return super().encode_json(data)

    def decode_json(self, data: str | bytes) -> object:
        """A request body; orjson's decode error is a `json.JSONDecodeError` like the stdlib's."""
        if self.fast_json:
            return orjson.loads(data)
        return super().decode_json(data)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Negotiate the media type first; turn strawberry's plain-text errors into GraphQL ones."""
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive=receive)
        media_type = negotiate(request.headers.get("accept"))
        if media_type is None and not self._wants_html(request):
            response = error_response(
                406, f"Accept must allow {GRAPHQL_RESPONSE_JSON} or application/json",
                "BAD_USER_INPUT", request.headers,
            )
        else:
            scope.setdefault("state", {})[MEDIA_TYPE_ATTRIBUTE] = media_type
            try:
                response = await self.run(request)
            except HTTPException as exc:
                response = self._http_error(exc, request)
        await response(scope, receive, send)

    @staticmethod
    def _wants_html(request: Request) -> bool:
        """A browser asking for the IDE page."""
        return request.method == "GET" and "text/html" in request.headers.get("accept", "")

    def _http_error(self, exc: HTTPException, request: Request) -> Response:
        """A GraphQL-shaped body for a refusal raised while reading the request."""
        status, headers = exc.status_code, {}
        if isinstance(exc.__cause__, InvalidOperationTypeError) and request.method == "GET":
            status, headers = 405, {"Allow": "POST"}
        elif exc.reason == "Unsupported content type":
            status = 415
        elif status == 405:
            headers = {"Allow": "GET, POST"}
        return error_response(status, exc.reason, "BAD_USER_INPUT", request.headers,
                              extra_headers=headers)

    def should_render_graphql_ide(self, request: Any) -> bool:
        """Only a browser GET with no operation in it gets GraphiQL."""
        params = request.query_params
        return (
            request.method == "GET"
            and params.get("query") is None
            and params.get("extensions") is None
            and "text/html" in request.headers.get("accept", "")
        )

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        """Strawberry's sub-response, remembered so results can set status and headers."""
        sub_response = await super().get_sub_response(request)
        request.scope.setdefault("state", {})["sub_response"] = sub_response
        return sub_response

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        """Drop `data` from refused requests and pick the status code for the response."""
        response = await super().process_result(request, result)
        errors = result.errors or []
        refused = result.data is None and bool(errors) and all(e.path is None for e in errors)
        if refused:
            response.pop("data", None)
        codes = [(e.extensions or {}).get("code") for e in errors]
        state = request.scope.get("state", {})
        sub_response: Response | None = state.get("sub_response")
        media_type = state.get(MEDIA_TYPE_ATTRIBUTE) or "application/json"
        if sub_response is None:
            return response
        setattr(sub_response, MEDIA_TYPE_ATTRIBUTE, media_type)
        for code, status in STATUS_BY_CODE.items():
            if code in codes:
                sub_response.status_code = status
                break
        else:
            if refused and media_type == GRAPHQL_RESPONSE_JSON:
                sub_response.status_code = 400
        if "RATE_LIMITED" in codes:
            retry = next(
                ((e.extensions or {}).get("retryAfter") for e in errors
                 if (e.extensions or {}).get("code") == "RATE_LIMITED"),
                None,
            )
            sub_response.headers["Retry-After"] = str(retry or 1)
        return response

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        """Strawberry's response, with the negotiated media type."""
        response = super().create_response(response_data, sub_response)
        media_type = getattr(sub_response, MEDIA_TYPE_ATTRIBUTE, None)
        if media_type:
            response.headers["content-type"] = media_type
        # GET serves (persisted) queries at stable URLs; caches must key on the caller too.
        response.headers["vary"] = "Accept, Authorization"
        return response

    async def on_ws_connect(self, context: Any) -> Any:
        """Authenticate a websocket from its handshake header or its `connection_init` payload."""
        if getattr(context, "principal", None) is not None:
            return await super().on_ws_connect(context)
        params = getattr(context, "connection_params", None) or {}
        authorization = params.get("Authorization") or params.get("authorization")
        if authorization is None and isinstance(params.get("token"), str):
            authorization = f"Bearer {params['token']}"
        try:
            context.principal = await self.authenticator.authenticate(authorization)
        except AuthenticationError as exc:
            raise ConnectionRejectionError({"message": str(exc)}) from exc
        return await super().on_ws_connect(context)
