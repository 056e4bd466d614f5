"""The shared HTTP base: what the sandbox cannot do — garbage bodies, resets, hangs (respx)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
import respx

from sources.config import SourceConfig
from sources.erp import ErpClient
from sources.errors import (
    SourceConflict,
    SourceError,
    SourceNotFound,
    SourceRejected,
    SourceThrottled,
    SourceTimeout,
    SourceUnavailable,
)
from sources.servicedesk import ServiceDeskClient
from sources.wms import WmsClient

WMS = "http://wms.test"
ERP = "http://erp.test"
# respx mocks httpx's own transport, so these clients use it (the default would take
# httpx-aiohttp's when installed; tests/sources/test_http_transports.py covers both).
RESPX = "httpx"
LEVELS = f"{WMS}/v1/inventory-levels"


@pytest.fixture
async def wms() -> AsyncIterator[WmsClient]:
    client = WmsClient(SourceConfig(name="wms", base_url=WMS, token="t0k", timeout_s=0.5, transport=RESPX))
    yield client
    await client.aclose()


@pytest.fixture
async def erp() -> AsyncIterator[ErpClient]:
    client = ErpClient(SourceConfig(name="erp", base_url=ERP, transport=RESPX), company_id="c0")
    yield client
    await client.aclose()


@respx.mock
async def test_bearer_token_and_json_accept_are_sent(wms: WmsClient) -> None:
    route = respx.get(LEVELS).respond(json={"inventory_levels": [], "next_cursor": None})
    assert await wms.inventory_levels(["SKU-1"]) == {"SKU-1": []}
    request = route.calls.last.request
    assert request.headers["authorization"] == "Bearer t0k"
    assert request.url.params["skus"] == "SKU-1"
    assert wms.stats.calls == 1


@respx.mock
async def test_an_upstreams_cookies_are_never_kept_or_sent_back(wms: WmsClient) -> None:
    route = respx.get(LEVELS).respond(
        json={"inventory_levels": [], "next_cursor": None},
        headers={"Set-Cookie": "session=agent-1; Path=/"},
    )
    await wms.inventory_levels(["SKU-1"])
    await wms.inventory_levels(["SKU-2"])  # another key: not a cache hit
    assert route.call_count == 2
    assert "cookie" not in route.calls.last.request.headers
    assert not wms._http.cookies


@respx.mock
async def test_malformed_json_is_unavailable_with_the_cause_kept(wms: WmsClient) -> None:
    respx.get(LEVELS).respond(200, content=b"<html>proxy error</html>")
    with pytest.raises(SourceUnavailable, match="malformed JSON") as caught:
        await wms.inventory_levels(["SKU-1"])
    assert caught.value.source == "wms"
    assert isinstance(caught.value.__cause__, orjson.JSONDecodeError)


@respx.mock
async def test_records_without_the_documented_shape_are_unavailable(wms: WmsClient) -> None:
    respx.get(LEVELS).respond(json={"inventory_levels": [{"sku": "SKU-1"}], "next_cursor": None})
    with pytest.raises(SourceUnavailable, match="malformed inventory level") as caught:
        await wms.inventory_levels(["SKU-1"])
    assert isinstance(caught.value.__cause__, KeyError)


@respx.mock
async def test_connection_reset_is_unavailable(wms: WmsClient) -> None:
    respx.get(LEVELS).mock(side_effect=httpx.ConnectError("connection reset"))
    with pytest.raises(SourceUnavailable) as caught:
        await wms.inventory_levels(["SKU-1"])
    assert not isinstance(caught.value, SourceTimeout)
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


@respx.mock
async def test_httpx_timeout_is_source_timeout(wms: WmsClient) -> None:
    respx.get(LEVELS).mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(SourceTimeout) as caught:
        await wms.inventory_levels(["SKU-1"])
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)


async def test_the_per_call_deadline_cuts_a_hanging_upstream() -> None:
    async def hang(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return httpx.Response(200, json={})

    config = SourceConfig(name="wms", base_url=WMS, timeout_s=0.05, transport=RESPX)
    async with WmsClient(config, httpx.MockTransport(hang)) as client:
        with pytest.raises(SourceTimeout, match="timed out after 0.05s"):
            await client.locations()


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "code"),
    [
        (
            500,
            {"error": {"type": "unavailable", "message": "boom"}},
            {},
            SourceUnavailable,
            "unavailable",
        ),
        (503, b"", {}, SourceUnavailable, None),
        (
            400,
            {"error": {"type": "invalid_request", "message": "too many"}},
            {},
            SourceRejected,
            "invalid_request",
        ),
        (
            401,
            {"error": {"type": "unauthorized", "message": "no"}},
            {},
            SourceRejected,
            "unauthorized",
        ),
        (404, {"error": {"type": "not_found", "message": "no"}}, {}, SourceNotFound, "not_found"),
        (
            409,
            {"error": {"type": "insufficient_stock", "message": "short"}},
            {},
            SourceConflict,
            "insufficient_stock",
        ),
        (
            429,
            {"error": {"type": "rate_limited"}},
            {"Retry-After": "7"},
            SourceThrottled,
            "rate_limited",
        ),
    ],
)
@respx.mock
async def test_upstream_statuses_become_the_source_error_family(
    wms: WmsClient, status: int, body: object, headers: dict, kind: type, code: str | None
) -> None:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    respx.get(LEVELS).respond(status, content=content, headers=headers)
    with pytest.raises(SourceError) as caught:
        await wms.inventory_levels(["SKU-1"])
    assert type(caught.value) is kind
    assert (caught.value.status, caught.value.code) == (status, code)
    if status == 429:
        assert caught.value.retry_after == 7.0
    # nothing was cached: the next read asks again
    respx.get(LEVELS).respond(json={"inventory_levels": [], "next_cursor": None})
    assert await wms.inventory_levels(["SKU-1"]) == {"SKU-1": []}


@respx.mock
async def test_zendesk_error_bodies_are_understood() -> None:
    respx.get("http://sd.test/api/v2/tickets/9/comments.json").respond(
        404, json={"error": "RecordNotFound", "description": "Not found"}
    )
    async with ServiceDeskClient(SourceConfig(name="servicedesk", base_url="http://sd.test", transport=RESPX)) as sd:
        with pytest.raises(SourceNotFound) as caught:
            await sd.case_comments(9, first=10, after=None)
    assert caught.value.code == "RecordNotFound"
    assert caught.value.source == "servicedesk"


@respx.mock
async def test_a_failed_inner_batch_request_fails_the_read(erp: ErpClient) -> None:
    respx.post(f"{ERP}/api/v2.0/$batch").respond(
        json={
            "responses": [
                {"id": "0", "status": 200, "headers": {}, "body": {"value": []}},
                {
                    "id": "1",
                    "status": 503,
                    "headers": {},
                    "body": {"error": {"code": "ServiceUnavailable", "message": "down"}},
                },
            ]
        }
    )
    with pytest.raises(SourceUnavailable) as caught:
        await erp.orders_by_numbers(["SO-1"])
    assert caught.value.code == "ServiceUnavailable"


@respx.mock
async def test_a_batch_answer_missing_responses_is_malformed(erp: ErpClient) -> None:
    respx.post(f"{ERP}/api/v2.0/$batch").respond(
        json={
            "responses": [
                {"id": "0", "status": 200, "headers": {}, "body": {"value": []}},
            ]
        }
    )
    with pytest.raises(SourceUnavailable, match=r"malformed \$batch"):
        await erp.orders_by_numbers(["SO-1"])


@respx.mock
async def test_erp_error_code_is_carried(erp: ErpClient) -> None:
    respx.get(url__startswith=f"{ERP}/api/v2.0/companies(c0)/customers").respond(
        400, json={"error": {"code": "BadRequest_InvalidFilter", "message": "too long"}}
    )
    with pytest.raises(SourceRejected) as caught:
        await erp.customers_by_numbers(["C-1"])
    assert caught.value.code == "BadRequest_InvalidFilter"
    assert "too long" in str(caught.value)


@respx.mock
async def test_a_response_is_read_without_the_clients_cookie_and_redirect_handling(
    wms: WmsClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requests go straight to the transport: httpx's client would parse every response's
    cookies (building a urllib request each time) for a jar that keeps nothing."""
    extracted: list[object] = []
    monkeypatch.setattr(httpx.Cookies, "extract_cookies", lambda self, response: extracted.append(response))
    respx.get(LEVELS).respond(json={"inventory_levels": [], "next_cursor": None})
    assert await wms.inventory_levels(["SKU-1"]) == {"SKU-1": []}
    assert extracted == []
    assert wms.stats.calls == 1
