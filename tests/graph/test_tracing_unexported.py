"""Tracing with no exporter: spans are not recorded, yet their ids still reach logs and upstreams."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import httpx
import pytest
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanKind

from graph.tracing import ExportGate, build_provider, configure_tracing
from test_tracing import CUSTOMER_360  # the same small 360 the recording tests trace

INCOMING_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
INCOMING_PARENT = "00f067aa0ba902b7"
TRACEPARENT = f"00-{INCOMING_TRACE}-{INCOMING_PARENT}-01"  # the caller sampled its trace



@pytest.fixture
def provider() -> Iterator[TracerProvider]:
    """A provider built as `configure_tracing` builds one with no exporter (not installed)."""
    built = build_provider({})
    yield built
    built.shutdown()


def server_span(provider: TracerProvider) -> trace.Span:
    """A span continuing the incoming traceparent, as the HTTP middleware starts it."""
    parent = propagate.extract({"traceparent": TRACEPARENT})
    return provider.get_tracer("test").start_span("POST /graphql", context=parent, kind=SpanKind.SERVER)


def test_with_no_exporter_spans_are_not_recorded_but_continue_the_incoming_trace(
    provider: TracerProvider,
) -> None:
    assert isinstance(provider.sampler, ExportGate)
    span = server_span(provider)
    assert isinstance(span, NonRecordingSpan) and not span.is_recording()
    ids = span.get_span_context()
    assert ids.is_valid
    assert f"{ids.trace_id:032x}" == INCOMING_TRACE
    assert f"{ids.span_id:016x}" != INCOMING_PARENT  # a span of its own, for logs and upstreams

    token = otel_context.attach(trace.set_span_in_context(span))
    try:
        child = provider.get_tracer("test").start_span("erp GET salesOrders", kind=SpanKind.CLIENT)
        headers: dict[str, str] = {}
        propagate.inject(headers, context=trace.set_span_in_context(child))
    finally:
        otel_context.detach(token)
    assert not child.is_recording()
    version, trace_id, parent_id, flags = headers["traceparent"].split("-")
    assert (version, trace_id, flags) == ("00", INCOMING_TRACE, "00")  # nothing was recorded
    assert parent_id == f"{child.get_span_context().span_id:016x}"


def test_a_root_span_without_exporter_still_gets_a_new_trace_id(provider: TracerProvider) -> None:
    span = provider.get_tracer("test").start_span("POST /graphql")
    assert not span.is_recording()
    assert span.get_span_context().is_valid


def test_an_attached_span_processor_makes_spans_recorded(provider: TracerProvider) -> None:
    exporter = InMemorySpanExporter()
    tracer = provider.get_tracer("test")  # handed out before the processor: still gated by it
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    span = server_span(provider)
    assert span.is_recording()
    span.end()
    (finished,) = exporter.get_finished_spans()
    assert f"{finished.context.trace_id:032x}" == INCOMING_TRACE
    assert finished.parent is not None and f"{finished.parent.span_id:016x}" == INCOMING_PARENT
    with tracer.start_as_current_span("load OrdersByCustomerNumberLoader") as child:
        assert child.is_recording()


def test_a_configured_exporter_records_spans() -> None:
    provider = build_provider({"OTEL_TRACES_EXPORTER": "console"})
    try:
        span = server_span(provider)
        assert span.is_recording()  # never ended: nothing is printed
    finally:
        provider.shutdown()


class Watch(SpanProcessor):
    """Notes every span the SDK records (a non-recording span never reaches a processor)."""

    def __init__(self) -> None:
        self.started: list[ReadableSpan] = []
        self.watching = False

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        if self.watching:
            self.started.append(span)


_WATCH = Watch()
_attached = False


@pytest.fixture
def unexported(monkeypatch: pytest.MonkeyPatch) -> Iterator[Watch]:
    """The process's provider as it is when no exporter is configured (gate closed), watched."""
    global _attached
    provider = configure_tracing()
    assert provider is not None
    gate = provider.sampler
    assert isinstance(gate, ExportGate), "configure_tracing installs the gated provider"
    monkeypatch.setattr(gate, "open", gate.open)  # whatever happens below, restored afterwards
    if not _attached:
        provider.add_span_processor(_WATCH)  # opens the gate...
        _attached = True
    gate.open = False  # ...which is closed again: the state of a process exporting nothing
    _WATCH.started.clear()
    _WATCH.watching = True
    yield _WATCH
    _WATCH.watching = False
    _WATCH.started.clear()


async def test_unrecorded_requests_keep_the_incoming_trace_id_in_logs_headers_and_upstreams(
    client: httpx.AsyncClient, upstream: Callable[[str], httpx.AsyncClient],
    unexported: Watch, capsys: pytest.CaptureFixture[str],
) -> None:
    async with upstream("wms") as http:  # a failed source: a warning line besides the operation's
        (await http.put("/_sandbox/faults", json={"outage": True})).raise_for_status()
    capsys.readouterr()
    response = await client.post("/graphql", json={"query": CUSTOMER_360}, headers={"traceparent": TRACEPARENT})
    body = response.json()
    assert body["data"]["customer"]["name"] == "Ada Lovelace"
    assert body["extensions"]["traceId"] == INCOMING_TRACE
    assert unexported.started == []  # not one span was recorded

    lines = [json.loads(raw) for raw in capsys.readouterr().err.splitlines() if raw.startswith("{")]
    assert len(lines) >= 2
    assert {line["trace_id"] for line in lines} == {INCOMING_TRACE}
    assert all(len(line["span_id"]) == 16 and line["span_id"] != INCOMING_PARENT for line in lines)
    (operation,) = [line for line in lines if line["logger"] == "retailgraph.operation"]
    assert operation["operation"] == "Customer360"

    for source in ("erp", "servicedesk", "wms"):
        async with upstream(source) as http:
            seen = {k.lower(): v for k, v in (await http.get("/_sandbox/last-headers")).json().items()}
        version, trace_id, parent_id, flags = seen["traceparent"].split("-")
        assert (version, trace_id, flags) == ("00", INCOMING_TRACE, "00")
        assert parent_id != INCOMING_PARENT and int(parent_id, 16) != 0
