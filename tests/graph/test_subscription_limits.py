"""Websockets: the token may come in `connection_init`, and operations per connection are capped."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator
from typing import Any

import strawberry
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from graph.auth import Authenticator
from graph.view import GovernedGraphQL
from security_support import bearer, production_settings


@strawberry.type(description="Test root.")
class Query:
    ping: bool = strawberry.field(default=True, description="Always true.")


@strawberry.type(description="Test subscriptions.")
class Subscription:
    @strawberry.subscription(description="Never ends.")
    async def ticks(self) -> AsyncGenerator[int, None]:
        while True:
            yield 1
            await asyncio.sleep(3600)


class Context:
    """A context object like the app's: a principal slot, filled by `on_ws_connect`."""

    principal: Any = None


class View(GovernedGraphQL):
    async def get_context(self, request: Any, response: Any) -> Context:
        return Context()


SETTINGS = production_settings()


class Socket:
    """A bare ASGI websocket client: enough to speak graphql-transport-ws to the view."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Socket:
        scope = {
            "type": "websocket", "path": "/graphql", "raw_path": b"/graphql", "root_path": "",
            "scheme": "ws", "query_string": b"", "headers": [(b"host", b"graph")],
            "subprotocols": [GRAPHQL_TRANSPORT_WS_PROTOCOL], "server": ("graph", 80),
            "client": ("test", 1), "asgi": {"version": "3.0"},
        }
        await self.inbox.put({"type": "websocket.connect"})
        self.task = asyncio.create_task(self.app(scope, self.inbox.get, self.outbox.put))
        accepted = await self.receive()
        assert accepted["type"] == "websocket.accept", accepted
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.inbox.put({"type": "websocket.disconnect", "code": 1000})
        assert self.task is not None
        try:
            await asyncio.wait_for(self.task, timeout=5)
        except (asyncio.TimeoutError, asyncio.CancelledError):  # pragma: no cover
            self.task.cancel()

    async def send_json(self, message: dict[str, Any]) -> None:
        await self.inbox.put({"type": "websocket.receive", "text": json.dumps(message)})

    async def receive(self) -> dict[str, Any]:
        return await asyncio.wait_for(self.outbox.get(), timeout=5)

    async def receive_json(self) -> dict[str, Any]:
        message = await self.receive()
        assert message["type"] == "websocket.send", message
        return dict(json.loads(message["text"]))


def _app(cap: int) -> Starlette:
    view = View(
        strawberry.Schema(query=Query, subscription=Subscription),
        authenticator=Authenticator(SETTINGS),
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        max_subscriptions_per_connection=cap,
    )
    return Starlette(routes=[WebSocketRoute("/graphql", view)])


async def test_operations_over_the_cap_are_refused_with_rate_limited() -> None:
    async with Socket(_app(cap=2)) as ws:
        await ws.send_json({"type": "connection_init", "payload": bearer(SETTINGS, "store")})
        assert (await ws.receive_json())["type"] == "connection_ack"
        for n in range(3):
            await ws.send_json(
                {"id": str(n), "type": "subscribe", "payload": {"query": "subscription { ticks }"}}
            )
        messages = [await ws.receive_json() for _ in range(3)]
        errors = [m for m in messages if m["type"] == "error"]
        assert len(errors) == 1 and errors[0]["id"] == "2"
        assert errors[0]["payload"][0]["extensions"]["code"] == "RATE_LIMITED"


async def test_production_websockets_need_a_token_in_connection_init() -> None:
    async with Socket(_app(cap=2)) as ws:
        await ws.send_json({"type": "connection_init", "payload": {}})
        closed = await ws.receive()
        assert closed["type"] == "websocket.close" and closed["code"] == 4403
