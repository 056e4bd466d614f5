"""The HTTP app: Starlette routes around the strawberry GraphQL view.

`create_app()` is the factory uvicorn calls (`retailgraph serve`); tests call it with
`transports=` to mount the sandbox apps in process.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from graph import logs, metrics, tracing
from graph.auth import Authenticator
from graph.collector import tune_collector
from graph.context import Context, get_context
from graph.http import middleware
from graph.limits import Governor
from graph.resilience import budget_extension, readyz
from graph.scaleout import ScaleOut
from graph.schema import build_schema
from graph.schema import schema as default_schema
from graph.settings import Settings
from graph.types.ops import start_ops_refresher
from graph.view import GovernedGraphQL
from graph.webhooks import WebhookReceiver
from orchestrator import start_orchestrator
from sources import build_sources


class GraphQLView(GovernedGraphQL):
    """The governed strawberry ASGI view with our per-request context."""

    async def get_context(self, request: Any, response: Any) -> Context:
        """Build a fresh context (principal, loaders, sources) for this request."""
        return await get_context(request, response)

    async def process_result(self, request: Any, result: Any) -> Any:
        """Note the operation's cost for its log line and metrics, then shape the response."""
        tracing.note_result(result)
        return await super().process_result(request, result)


def create_app(
    settings: Settings | None = None,
    *,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
) -> Starlette:
    """Build the app; the lifespan opens one pooled client per source and closes it."""
    settings = settings or Settings.from_env()
    tracing.configure_tracing()  # docs/observability.md: OTEL_* variables, off by default
    logs.configure_logging(settings.log_level, settings.log_format)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        sources = build_sources(settings, transports=dict(transports or {}))
        app.state.sources = sources
        # Redis sharing (docs/scale-out.md) sits behind the sources; inert without a URL.
        scale_out = app.state.scale_out = await ScaleOut.open(settings, sources)
        # Workflows use the sources, so the orchestrator starts after them and stops first.
        try:
            orchestrator = await start_orchestrator(settings, sources)
        except BaseException:
            await scale_out.close()
            raise
        app.state.orchestrator = app.state.workflows = orchestrator
        scale_out.bind_bus(orchestrator.bus)
        refresher = start_ops_refresher(app.state, settings.ops_refresh_s)
        tune_collector(freeze=settings.gc_freeze, threshold=settings.gc_threshold)
        try:
            yield
        finally:
            if refresher is not None:
                refresher.cancel()
                await asyncio.gather(refresher, return_exceptions=True)
            await orchestrator.close()
            await scale_out.close()
            await sources.aclose()
            metrics.process_exiting()

    # Governance (docs/security.md): auth and HTTP hardening as middleware; persisted
    # queries, limits, cost and budget as the first schema extension after error formatting.
    authenticator = Authenticator(settings, jwks_transport=(transports or {}).get("jwks"))
    governor = Governor(settings)
    schema = build_schema(
        # budget_extension: each query's deadline and extensions.stale (docs/resilience.md)
        extensions=[governor.extension(), tracing.OperationTelemetry, budget_extension(settings)],
        mutation=getattr(default_schema, "mutation", None),
        subscription=getattr(default_schema, "subscription", None),
        fast_resolvers=settings.fast_resolvers,
    )
    view = GraphQLView(
        schema,
        authenticator=authenticator,
        graphql_ide=None if settings.is_production else "graphiql",
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        max_subscriptions_per_connection=settings.max_subscriptions_per_connection,
        allowed_origins=settings.cors_origins,
        fast_json=settings.orjson,
    )
    app = Starlette(
        routes=[
            Route("/graphql", view, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", view),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics.metrics_endpoint),
            Route("/webhooks/{source}", WebhookReceiver(settings).endpoint, methods=["POST"]),
        ],
        middleware=[Middleware(tracing.TelemetryMiddleware), *middleware(settings, authenticator)],
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.governor = governor
    app.state.authenticator = authenticator
    return app


async def healthz(request: Request) -> JSONResponse:
    """Liveness: the process answers."""
    return JSONResponse({"status": "ok"})
