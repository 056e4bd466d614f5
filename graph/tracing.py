"""Tracing: OpenTelemetry spans for each request, operation, loader batch and upstream call.

One query makes this tree (W3C `traceparent` continues it in every upstream):

    POST /graphql                          SERVER   TelemetryMiddleware (parent: incoming traceparent)
    └── query Customer360                  INTERNAL OperationTelemetry (schema extension)
        ├── load OrdersByCustomerNumberLoader        resolvers/loaders.py, one per batch
        │   └── erp GET salesOrders        CLIENT   sources/telemetry.upstream_span
        └── …

The SDK is configured from the standard variables: `OTEL_SDK_DISABLED`, `OTEL_TRACES_EXPORTER`
(`none` by default, `console`, `otlp`, comma-separated), `OTEL_EXPORTER_OTLP_ENDPOINT` /
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `…_HEADERS`, `OTEL_SERVICE_NAME`,
`OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER[_ARG]`, `OTEL_PROPAGATORS`. With nothing to
export to, spans are not recorded (`ExportGate` samples nothing until a span processor is
attached; recording a span costs CPU on every request), but every span still has its ids: an
incoming `traceparent`'s trace id, or a new one, reaches logs, `extensions.traceId` and the
`traceparent` sent upstream (with the sampled flag unset, as nothing was recorded).

The middleware also keeps the request's `OperationRecord` — name, client, duration, cost,
upstream calls, error codes — and hands it to `graph.metrics` and `graph.logs` when the
response is sent.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from graphql import GraphQLError
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, Sampler, SamplingResult
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode, TraceState
from opentelemetry.util.types import Attributes
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension

from graph.errors import SOURCE_UNAVAILABLE, error_code
from graph.request_headers import request_headers
from sources.errors import SourceError
from sources.telemetry import tally_upstream_calls

logger = logging.getLogger("retailgraph.graph.tracing")
tracer = trace.get_tracer("retailgraph.graph")

# Scraped and probed constantly; a span per probe would drown the traces that matter.
UNTRACED_PATHS = frozenset({"/metrics", "/healthz", "/readyz"})
OPERATION_PATHS = frozenset({"/graphql"})
# The code of a request refused by HTTP middleware before any operation ran.
CODE_BY_STATUS = {401: "UNAUTHENTICATED", 403: "FORBIDDEN", 429: "RATE_LIMITED"}

_provider: TracerProvider | None = None


def configure_tracing(environ: Mapping[str, str] | None = None) -> TracerProvider | None:
    """Install the SDK tracer provider once per process, exporting as `OTEL_*` says."""
    global _provider
    env = os.environ if environ is None else environ
    if _provider is not None:
        return _provider
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):  # someone (a test, a distro) installed one already
        _provider = current
        return current
    provider = build_provider(env)
    trace.set_tracer_provider(provider)
    _provider = provider
    return provider


def build_provider(env: Mapping[str, str]) -> TracerProvider:
    """A tracer provider exporting as `OTEL_TRACES_EXPORTER` says; with no exporter it
    records nothing (until a span processor is attached) but still hands out span ids."""
    provider = GatedTracerProvider(
        resource=Resource.create(
            {"service.name": env.get("OTEL_SERVICE_NAME") or "retailgraph"}
        )
    )
    for exporter in span_exporters(env):
        provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


class ExportGate(Sampler):
    """Samples nothing while spans have nowhere to go, then as the configured sampler says.

    A span the SDK records costs CPU (attributes, events, timestamps, the processor calls)
    whether or not anything exports it; a dropped span is a `NonRecordingSpan` that still has
    its trace id (the incoming one, or a new one) and its own span id, so logs, `extensions.
    traceId` and the `traceparent` sent upstream are unchanged but for the sampled flag.
    `ALWAYS_OFF` rather than `ParentBased(ALWAYS_OFF)`: a caller's sampled flag does not give
    a span of ours anywhere to go either.
    """

    def __init__(self, sampler: Sampler) -> None:
        self.sampler = sampler
        self.open = False  # GatedTracerProvider opens it when a span processor is attached

    def should_sample(
        self,
        parent_context: otel_context.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        """DROP while closed; the configured sampler's decision once open."""
        sampler = self.sampler if self.open else ALWAYS_OFF
        return sampler.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        """How spans are sampled, for the SDK's diagnostics."""
        return f"ExportGate{{{self.sampler.get_description() if self.open else 'AlwaysOffSampler'}}}"


class GatedTracerProvider(TracerProvider):
    """The SDK provider behind an `ExportGate` (configured by `OTEL_TRACES_SAMPLER[_ARG]` as
    usual): it samples nothing until a span processor — an exporter's, or a test's in-memory
    one — is attached."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sampler = ExportGate(self.sampler)  # before any tracer is handed out

    def add_span_processor(self, span_processor: SpanProcessor) -> None:
        """Attach `span_processor`; from now on spans are recorded (as the sampler says)."""
        super().add_span_processor(span_processor)
        if isinstance(self.sampler, ExportGate):
            self.sampler.open = True


def span_exporters(env: Mapping[str, str]) -> list[SpanExporter]:
    """The exporters named by `OTEL_TRACES_EXPORTER` (default `none`: export nothing)."""
    names = [n.strip().lower() for n in env.get("OTEL_TRACES_EXPORTER", "none").split(",")]
    exporters: list[SpanExporter] = []
    for name in names:
        if name in ("", "none"):
            continue
        if name == "console":
            exporters.append(ConsoleSpanExporter())
        elif name == "otlp":
            protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get(
                "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
            )
            if protocol != "http/protobuf":
                raise ValueError(f"OTLP protocol {protocol!r} is not supported; use http/protobuf")
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
                OTLPSpanExporter,
            )

            # Reads OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT, _HEADERS, _TIMEOUT, _COMPRESSION itself.
            exporters.append(OTLPSpanExporter())
        else:
            raise ValueError(f"OTEL_TRACES_EXPORTER {name!r} is not supported: none, console or otlp")
    return exporters


def trace_id_of(span: Span) -> str | None:
    """The 32-hex-digit trace id of a span, None when it is not a real span."""
    context = span.get_span_context()
    return trace.format_trace_id(context.trace_id) if context.is_valid else None


@dataclass
class OperationRecord:
    """What one GraphQL request did, for its metrics and its log line (no PII in here)."""

    started: float = field(default_factory=time.perf_counter)
    name: str | None = None
    type: str | None = None
    client: str = "unknown"
    roles: tuple[str, ...] = ()
    trace_id: str | None = None
    request_id: str | None = None
    executed: bool = False
    upstream_calls: dict[str, int] = field(default_factory=dict)
    errors: list[dict[str, str]] = field(default_factory=list)
    cost: Mapping[str, Any] | None = None
    status: int | None = None
    duration_s: float = 0.0

    @property
    def error_codes(self) -> list[str]:
        """Distinct error codes, in first-seen order."""
        return list(dict.fromkeys(error["code"] for error in self.errors))


_RECORD: ContextVar[OperationRecord | None] = ContextVar("retailgraph_operation", default=None)


def current_record() -> OperationRecord | None:
    """The record of the request being served in this context, if any."""
    return _RECORD.get()


def note_result(result: Any) -> None:
    """Take the cost (`extensions.cost`) of a finished result onto the current record."""
    record = _RECORD.get()
    extensions = getattr(result, "extensions", None) or {}
    if record is not None and isinstance(extensions.get("cost"), Mapping):
        record.cost = extensions["cost"]


def finish(record: OperationRecord) -> None:
    """Record metrics and write the log line of a finished operation."""
    from graph import logs, metrics

    try:
        metrics.record_operation(record)
    except Exception:
        logger.exception("could not record operation metrics")
    logs.log_operation(record)


def client_of(principal: Any) -> tuple[str, tuple[str, ...]]:
    """(client label, roles) of a principal; the user's own id is never used as a client."""
    if principal is None:
        return "unknown", ()
    roles = tuple(getattr(principal, "roles", ()) or ())
    if not getattr(principal, "authenticated", True):
        return "anonymous", roles
    client_id = getattr(principal, "client_id", None)
    if not client_id or client_id == getattr(principal, "sub", None):
        return "unidentified", roles  # no client_id/azp claim: the token names only the user
    return str(client_id), roles


class TelemetryMiddleware:
    """ASGI middleware: a SERVER span per HTTP request and the operation record of `/graphql`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request inside its span; finish the operation record when it is done."""
        if scope["type"] != "http" or scope["path"] in UNTRACED_PATHS:
            await self.app(scope, receive, send)
            return
        carrier = request_headers(scope)
        parent = propagate.extract(carrier)
        method, path = scope["method"], scope["path"]
        record = OperationRecord()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        token = _RECORD.set(record)
        try:
            with (
                tracer.start_as_current_span(
                    # Known routes only: a span name per scanned URL would flood the backend.
                    f"{method} {path}" if path in OPERATION_PATHS or path.startswith("/webhooks/") else method,
                    context=parent,
                    kind=SpanKind.SERVER,
                    attributes={"http.request.method": method, "url.path": path},
                ) as span,
                tally_upstream_calls() as tally,
            ):
                record.trace_id = trace_id_of(span)
                record.upstream_calls = tally
                try:
                    await self.app(scope, receive, send_with_status)
                finally:
                    if span.is_recording():
                        span.set_attribute("http.response.status_code", status)
                        if status >= 500:
                            span.set_status(Status(StatusCode.ERROR))
                    if path in OPERATION_PATHS:
                        self._close(record, scope, status)
        finally:
            _RECORD.reset(token)

    @staticmethod
    def _close(record: OperationRecord, scope: Scope, status: int) -> None:
        """Fill in what only the end of the request knows, then report the operation."""
        state = scope.get("state", {})
        record.status = status
        record.request_id = state.get("request_id")
        record.client, record.roles = client_of(state.get("principal"))
        record.duration_s = time.perf_counter() - record.started
        if not record.executed:
            if status < 400:
                return  # the GraphiQL page, a CORS preflight: no operation
            record.errors = [{"code": CODE_BY_STATUS.get(status, "BAD_USER_INPUT" if status < 500 else "INTERNAL")}]
        finish(record)


class OperationTelemetry(SchemaExtension):
    """The operation's span, `extensions.traceId`, and the operation's facts on its record."""

    def __init__(self) -> None:
        super().__init__()
        self.trace_id: str | None = None

    def on_operation(self) -> Iterator[None]:
        """Open the operation span around everything the operation does."""
        record = _RECORD.get()
        own = record is None  # a websocket subscription: no HTTP middleware around it
        if record is None:
            record = OperationRecord()
        span = tracer.start_span(
            "graphql.operation", kind=SpanKind.INTERNAL if not own else SpanKind.SERVER
        )
        self.trace_id = trace_id_of(span)
        token = otel_context.attach(trace.set_span_in_context(span))
        with tally_upstream_calls() if own else contextlib.nullcontext() as tally:
            if tally is not None:
                record.upstream_calls = tally
            try:
                yield
            finally:
                self._describe(span, record)
                span.end()
                otel_context.detach(token)
                loaders = getattr(self.execution_context.context, "loaders", None)
                if loaders is not None:  # the operation's cache hits, counted once per kind
                    loaders.report_cache_hits()
        if own:
            record.trace_id = self.trace_id
            record.client, record.roles = client_of(
                getattr(self.execution_context.context, "principal", None)
            )
            record.duration_s = time.perf_counter() - record.started
            finish(record)

    def _describe(self, span: Span, record: OperationRecord) -> None:
        """Name the span after the operation and note its errors on span and record."""
        context = self.execution_context
        name = context.operation_name or "anonymous"
        try:
            kind = context.operation_type.value
        except Exception:  # noqa: BLE001 - no document (parse error, refused request)
            kind = "unknown"
        recording = span.is_recording()  # not when nothing is exported: skip the span's part
        if recording:
            span.update_name(f"{kind} {name}")
            span.set_attribute("graphql.operation.name", name)
            span.set_attribute("graphql.operation.type", kind)
        result = context.result
        errors: list[GraphQLError] = list(getattr(result, "errors", None) or ())
        if not errors:
            errors = list(context.pre_execution_errors or ())
        record.name, record.type, record.executed = name, kind, True
        record.errors = [_error_fact(error) for error in errors]
        if record.errors and recording:
            span.set_attribute("graphql.error.codes", record.error_codes)
            if getattr(result, "data", None) is None or "INTERNAL" in record.error_codes:
                span.set_status(Status(StatusCode.ERROR, ",".join(record.error_codes)))

    def get_results(self) -> dict[str, Any]:
        """`extensions.traceId`: quote it to find the operation in the tracing backend."""
        return {"traceId": self.trace_id} if self.trace_id else {}


def _error_fact(error: GraphQLError) -> dict[str, str]:
    """Code, field path and source of an error; never its message (it may echo input)."""
    fact = {"code": error_code(error)}
    if error.path:
        fact["path"] = ".".join(str(part) for part in error.path)
    original = error.original_error
    while isinstance(original, GraphQLError) and original.original_error is not None:
        original = original.original_error
    if fact["code"] == SOURCE_UNAVAILABLE and isinstance(original, SourceError):
        fact["source"] = original.source
    return fact
