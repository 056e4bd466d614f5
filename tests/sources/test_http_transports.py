"""Both network transports (httpx's own and httpx-aiohttp's) over real loopback sockets.

The resilience policy relies on httpx's exception types: a refused connection must become
SourceUnavailable and a server that never answers SourceTimeout, whichever transport
carries the request; and a pooled client must reuse its connections.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

import pytest

from sources.config import SourceConfig
from sources.errors import SourceTimeout, SourceUnavailable
from sources.wms import WmsClient

TRANSPORTS = ["httpx", pytest.param("aiohttp", marks=pytest.mark.skipif(
    __import__("importlib").util.find_spec("httpx_aiohttp") is None, reason="httpx-aiohttp not installed"))]
LOCATIONS = {"locations": [{"id": "LOC-01", "code": "DC-NORTH", "name": "North DC", "type": "warehouse",
                            "region": "NORTH", "timezone": "Europe/London"}]}

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], "asyncio.Future[None] | object"]


async def _serve(handler: Handler) -> AsyncIterator[tuple[int, list[int]]]:
    connections: list[int] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            await handler(reader, writer)  # type: ignore[misc]
        finally:
            writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield port, connections


def _locations(heads: list[bytes] | None = None, extra_headers: bytes = b"") -> Handler:
    """A handler answering every request on its connection with the location list
    (keep-alive), noting each request's head (lower-cased) in `heads`."""
    body = json.dumps(LOCATIONS).encode()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                if heads is not None:
                    heads.append(head.lower())
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + extra_headers
                             + b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return  # the client closed its kept-alive connection

    return handler


@pytest.fixture
async def answering() -> AsyncIterator[tuple[int, list[int]]]:
    """A loopback HTTP/1.1 server answering every request with the location list (keep-alive)."""
    async for served in _serve(_locations()):
        yield served


@pytest.fixture
async def silent() -> AsyncIterator[tuple[int, list[int]]]:
    """A loopback server that accepts connections and never answers."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)

    async for served in _serve(handler):
        yield served


def _client(port: int, transport: str, host: str = "127.0.0.1") -> WmsClient:
    config = SourceConfig(name="wms", base_url=f"http://{host}:{port}", transport=transport,
                          timeout_s=0.3, retry_attempts=1, cache_enabled=False)
    return WmsClient(config)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_reads_go_over_one_kept_alive_connection(
    answering: tuple[int, list[int]], transport: str
) -> None:
    port, connections = answering
    async with _client(port, transport) as wms:
        for _ in range(3):
            [location] = await wms.locations()
            assert location.id == "LOC-01"
    assert len(connections) == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_refused_connection_is_source_unavailable(transport: str) -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    async with _client(port, transport) as wms:
        with pytest.raises(SourceUnavailable) as caught:
            await wms.locations()
    assert caught.value.source == "wms"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_server_that_never_answers_is_a_timeout(
    silent: tuple[int, list[int]], transport: str
) -> None:
    port, _ = silent
    async with _client(port, transport) as wms:
        with pytest.raises(SourceTimeout):
            await wms.locations()


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_an_upstreams_cookies_are_never_sent_back(transport: str) -> None:
    seen: list[bytes] = []
    handler = _locations(seen, extra_headers=b"Set-Cookie: session=agent-1; Path=/\r\n")
    async for port, _ in _serve(handler):
        # By name: aiohttp's default jar would ignore cookies of a bare IP address.
        async with _client(port, transport, host="localhost") as wms:
            for _ in range(2):
                await wms.locations()
    assert len(seen) == 2
    assert all(b"\r\ncookie:" not in head for head in seen), seen[-1]
