"""Tracing: the operation's span tree, W3C traceparent to every upstream, exporter settings."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from graph.tracing import configure_tracing, span_exporters

CUSTOMER_360 = """
query Customer360 {
  customer(number: "C-10001") {
    name
    orders(first: 3) { nodes { number shipments { status } } }
    cases(first: 3) { nodes { number subject } }
  }
}
"""
INCOMING_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
INCOMING_PARENT = "00f067aa0ba902b7"
TRACEPARENT = f"00-{INCOMING_TRACE}-{INCOMING_PARENT}-01"

_EXPORTER = InMemorySpanExporter()
_attached = False


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Every span finished during the test (the process's provider, plus an in-memory exporter)."""
    global _attached
    provider = configure_tracing()
    assert provider is not None, "tracing is on by default (only export is off)"
    if not _attached:
        provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
        _attached = True
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


def by_trace(exporter: InMemorySpanExporter, trace_id: str) -> list[ReadableSpan]:
    """The finished spans of one trace."""
    return [s for s in exporter.get_finished_spans() if f"{s.context.trace_id:032x}" == trace_id]


def ancestors(span: ReadableSpan, spans: Sequence[ReadableSpan]) -> list[ReadableSpan]:
    """The chain of parents of `span` within `spans`, nearest first."""
    by_id = {s.context.span_id: s for s in spans}
    chain: list[ReadableSpan] = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        chain.append(span)
    return chain


async def last_headers(upstream: Callable[[str], httpx.AsyncClient], name: str) -> dict[str, str]:
    async with upstream(name) as http:
        response = await http.get("/_sandbox/last-headers")
        response.raise_for_status()
        return {k.lower(): v for k, v in response.json().items()}


async def test_traceparent_continues_the_callers_trace_into_every_upstream(
    client: httpx.AsyncClient, upstream: Callable[[str], httpx.AsyncClient], spans: InMemorySpanExporter
) -> None:
    response = await client.post(
        "/graphql", json={"query": CUSTOMER_360}, headers={"traceparent": TRACEPARENT}
    )
    body = response.json()
    assert "errors" not in body, body
    assert body["extensions"]["traceId"] == INCOMING_TRACE

    trace = by_trace(spans, INCOMING_TRACE)
    client_spans = {s.context.span_id: s for s in trace if s.kind is SpanKind.CLIENT}
    for source in ("erp", "wms", "servicedesk"):
        header = (await last_headers(upstream, source))["traceparent"]
        version, trace_id, parent_id, flags = header.split("-")
        assert (version, trace_id, flags) == ("00", INCOMING_TRACE, "01")
        # The upstream's parent is our client span for exactly that call.
        sent_by = client_spans[int(parent_id, 16)]
        assert sent_by.attributes["retailgraph.source"] == source


async def test_upstream_calls_are_children_of_loader_batches_inside_the_operation_span(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    response = await client.post(
        "/graphql", json={"query": CUSTOMER_360}, headers={"traceparent": TRACEPARENT}
    )
    assert response.status_code == 200
    trace = by_trace(spans, INCOMING_TRACE)
    (server,) = [s for s in trace if s.kind is SpanKind.SERVER]
    assert server.name == "POST /graphql"
    assert server.parent is not None and f"{server.parent.span_id:016x}" == INCOMING_PARENT
    assert server.attributes["http.response.status_code"] == 200
    (operation,) = [s for s in trace if s.name == "query Customer360"]
    assert operation.attributes["graphql.operation.name"] == "Customer360"
    assert operation.attributes["graphql.operation.type"] == "query"
    assert operation.parent is not None and operation.parent.span_id == server.context.span_id

    upstream_calls = [s for s in trace if s.kind is SpanKind.CLIENT]
    assert {s.attributes["retailgraph.source"] for s in upstream_calls} == {"erp", "wms", "servicedesk"}
    for call in upstream_calls:
        chain = ancestors(call, trace)
        assert operation in chain, f"{call.name} is not under the operation span"
        assert chain[0].name.startswith("load "), f"{call.name} is not under a loader batch"
        assert call.attributes["http.response.status_code"] == 200

    batches = {s.attributes["retailgraph.loader"]: s for s in trace if s.name.startswith("load ")}
    assert batches["ShipmentsByOrderNumberLoader"].attributes["retailgraph.batch.keys"] == 3
    assert all(ancestors(b, trace)[-2:] == [operation, server] for b in batches.values())


async def test_a_request_without_traceparent_starts_a_trace_and_reports_its_id(
    client: httpx.AsyncClient, spans: InMemorySpanExporter
) -> None:
    body = (await client.post("/graphql", json={"query": "{ viewer { roles } }"})).json()
    trace_id = body["extensions"]["traceId"]
    assert len(trace_id) == 32 and int(trace_id, 16) != 0
    assert trace_id != INCOMING_TRACE
    names = {s.name for s in by_trace(spans, trace_id)}
    assert {"POST /graphql", "query anonymous"} <= names


async def test_a_failed_upstream_marks_the_batch_and_call_spans_as_errors(
    client: httpx.AsyncClient, upstream: Callable[[str], httpx.AsyncClient], spans: InMemorySpanExporter
) -> None:
    async with upstream("wms") as http:
        (await http.put("/_sandbox/faults", json={"outage": True})).raise_for_status()
    body = (await client.post("/graphql", json={"query": CUSTOMER_360})).json()
    codes = {e["extensions"]["code"] for e in body["errors"]}
    assert codes == {"SOURCE_UNAVAILABLE"}
    assert body["data"]["customer"]["name"] == "Ada Lovelace"  # the rest still resolved
    trace = by_trace(spans, body["extensions"]["traceId"])
    wms_calls = [s for s in trace if s.kind is SpanKind.CLIENT and s.attributes["retailgraph.source"] == "wms"]
    assert wms_calls and all(s.status.status_code is StatusCode.ERROR for s in wms_calls)
    (batch,) = [s for s in trace if s.name == "load ShipmentsByOrderNumberLoader"]
    assert batch.status.status_code is StatusCode.ERROR
    erp_calls = [s for s in trace if s.kind is SpanKind.CLIENT and s.attributes["retailgraph.source"] == "erp"]
    assert erp_calls and all(s.status.status_code is StatusCode.UNSET for s in erp_calls)


def test_export_is_off_unless_otel_traces_exporter_names_one(monkeypatch: pytest.MonkeyPatch) -> None:
    assert span_exporters({}) == []
    assert span_exporters({"OTEL_TRACES_EXPORTER": "none"}) == []
    (console,) = span_exporters({"OTEL_TRACES_EXPORTER": "console"})
    assert isinstance(console, ConsoleSpanExporter)

    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector.internal:4318")
    otlp, console = span_exporters({"OTEL_TRACES_EXPORTER": "otlp,console"})
    assert isinstance(otlp, OTLPSpanExporter)
    assert otlp._endpoint == "http://collector.internal:4318/v1/traces"
    otlp.shutdown()

    with pytest.raises(ValueError, match="zipkin"):
        span_exporters({"OTEL_TRACES_EXPORTER": "zipkin"})
    with pytest.raises(ValueError, match="grpc"):
        span_exporters({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})


def test_otel_sdk_disabled_installs_nothing() -> None:
    from graph import tracing

    saved = tracing._provider
    tracing._provider = None
    try:
        assert configure_tracing({"OTEL_SDK_DISABLED": "true"}) is None
    finally:
        tracing._provider = saved
