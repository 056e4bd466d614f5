"""Structured logs: one JSON line per operation, trace ids on every line, no PII or tokens."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from graph.app import create_app
from graph.auth import mint_token
from graph.logs import JsonFormatter, TextFormatter, redact
from graph.settings import PRODUCTION, Settings
from sandbox.apps import SandboxApps

CUSTOMER_360 = """
query Customer360($email: String!) {
  customer(email: $email) {
    name email phone
    orders(first: 3) { nodes { number shipments { status } invoices { number } } }
    cases(first: 3) { nodes { number subject } }
  }
}
"""
ADA = "ada.lovelace@example.com"


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of stderr that is one of our JSON log lines."""
    lines = []
    for raw in text.splitlines():
        if raw.startswith("{"):
            lines.append(json.loads(raw))
    return lines


async def test_a_customer_360_logs_one_line_with_its_facts_and_no_pii_or_token(
    client: httpx.AsyncClient, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    token = mint_token(settings, sub="agent-ada-fan", roles=["agent"], client_id="agent-desktop")
    capsys.readouterr()
    response = await client.post(
        "/graphql", json={"query": CUSTOMER_360, "variables": {"email": ADA}},
        headers={"Authorization": f"Bearer {token}"},
    )
    body = response.json()
    customer = body["data"]["customer"]
    assert customer["email"] == ADA and customer["phone"]
    written = capsys.readouterr().err

    # Nothing that identifies the customer, the caller or their credentials, anywhere.
    for secret in (ADA, customer["phone"], customer["name"], token, token.split(".")[1], "agent-ada-fan"):
        assert secret not in written
    (line,) = [entry for entry in json_lines(written) if entry["logger"] == "retailgraph.operation"]
    assert line["level"] == "INFO"
    assert line["operation"] == "Customer360"
    assert line["type"] == "query"
    assert line["client"] == "agent-desktop"
    assert line["roles"] == ["agent"]
    assert line["status"] == 200
    assert line["duration_ms"] > 0
    assert line["cost"] == {
        "requested": body["extensions"]["cost"]["requestedQueryCost"],
        "actual": body["extensions"]["cost"]["actualQueryCost"],
    }
    assert line["upstream_calls"] == {"erp": 3, "servicedesk": 2, "wms": 1}
    assert line["upstream_calls_total"] == 6
    assert line["errors"] == []
    assert line["trace_id"] == body["extensions"]["traceId"]
    assert line["request_id"] == response.headers["x-request-id"]


async def test_every_line_logged_during_an_operation_carries_its_trace_id(
    client: httpx.AsyncClient, upstream: Callable[[str], httpx.AsyncClient],
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with upstream("erp") as http:
        (await http.put("/_sandbox/faults", json={"outage": True})).raise_for_status()
    capsys.readouterr()
    body = (await client.post("/graphql", json={"query": CUSTOMER_360, "variables": {"email": ADA}})).json()
    lines = json_lines(capsys.readouterr().err)
    assert len(lines) >= 2  # the source error warning and the operation line at least
    assert {entry["trace_id"] for entry in lines} == {body["extensions"]["traceId"]}
    (line,) = [entry for entry in lines if entry["logger"] == "retailgraph.operation"]
    assert line["errors"] == [{"code": "SOURCE_UNAVAILABLE", "path": "customer", "source": "erp"}]
    assert all(ADA not in json.dumps(entry) for entry in lines)


@pytest.fixture
def production(settings: Settings) -> Settings:
    return replace(settings, env=PRODUCTION, jwt_secret="a-production-secret-of-some-length")


async def test_a_refused_request_is_logged_with_its_code_and_without_the_token(
    sandbox: SandboxApps, production: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    app: Starlette = create_app(production, transports={
        name: httpx.ASGITransport(app=getattr(sandbox, name)) for name in ("erp", "wms", "servicedesk")})
    forged = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.c2lnbmF0dXJlLW5vdC12YWxpZA"
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://graph") as http,
    ):
        capsys.readouterr()
        response = await http.post("/graphql", json={"query": "{ viewer { roles } }"},
                                   headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    written = capsys.readouterr().err
    assert forged not in written and "mallory" not in written
    (line,) = [entry for entry in json_lines(written) if entry["logger"] == "retailgraph.operation"]
    assert (line["status"], line["errors"], line["client"]) == (401, [{"code": "UNAUTHENTICATED"}], "unknown")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mail ada.lovelace@example.com now", "mail [redacted] now"),
        ("Authorization: Bearer abc.def-ghi_jkl", "Authorization: Bearer [redacted]"),
        ("token=s3cr3t-t0k3n-value", "token=[redacted]"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig-nature", "jwt [redacted]"),
        ("call +44 20 7946 0958 please", "call [redacted] please"),
        ("call (020) 7946-0958", "call [redacted]"),
    ],
)
def test_redact_masks_contact_details_and_credentials(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    ["order SO-100001 line 20000", "on 2026-11-26 at 16:20:00.123", "took 41.7 ms, 6 calls",
     "case 1001 ticket RMA-100004", "127.0.0.1:8101"],
)
def test_redact_keeps_what_is_not_personal(text: str) -> None:
    assert redact(text) == text


def test_formatters_scrub_messages_and_fields_alike() -> None:
    record = logging.LogRecord("retailgraph.test", logging.WARNING, __file__, 1,
                               "lookup of %s failed", ("ada.lovelace@example.com",), None)
    record.detail = {"who": "Bearer abcdefghijkl"}
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "lookup of [redacted] failed"
    assert line["detail"] == {"who": "Bearer [redacted]"}
    assert "ada.lovelace" not in TextFormatter().format(record)
