"""The HTTP app: Starlette routes around the strawberry GraphQL view.

`create_app()` is the factory uvicorn calls (`retailgraph serve`); tests call it with
`transports=` to mount the sandbox apps in process.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from graph.context import Context, get_context
from graph.schema import schema as default_schema
from graph.settings import Settings
from sources import build_sources


class GraphQLView(GraphQL[Context, None]):
    """The strawberry ASGI view with our per-request context."""

    async def get_context(self, request: Any, response: Any) -> Context:
        """Build a fresh context (principal, loaders, sources) for this request."""
        return await get_context(request, response)


def create_app(
    settings: Settings | None = None,
    *,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
) -> Starlette:
    """Build the app; the lifespan opens one pooled client per source and closes it."""
    settings = settings or Settings.from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        sources = build_sources(settings, transports=dict(transports or {}))
        app.state.sources = sources
        try:
            yield
        finally:
            await sources.aclose()

    view = GraphQLView(
        default_schema,
        graphql_ide=None if settings.is_production else "graphiql",
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
    )
    app = Starlette(
        routes=[
            Route("/graphql", view, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", view),
            Route("/healthz", healthz),
        ],
        lifespan=lifespan,
    )
    app.state.settings = settings
    return app


async def healthz(request: Request) -> JSONResponse:
    """Liveness: the process answers."""
    return JSONResponse({"status": "ok"})
