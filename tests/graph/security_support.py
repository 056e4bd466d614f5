"""Helpers shared by the governance tests: tokens, a fake clock, upstream call counts."""

from __future__ import annotations

import tempfile
from pathlib import Path

import base64
import contextlib
import json
import time
from collections import Counter
from pathlib import Path
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import jwt

from graph.auth import mint_token
from graph.persisted import sha256_hex
from graph.settings import PRODUCTION, Settings

PRODUCTION_SECRET = "test-production-secret-0123456789abcdef"
WRONG_SECRET = "an-attackers-secret-of-a-decent-length-0123"
SANDBOX_NAMES = ("erp", "wms", "servicedesk")
# Preflight-forcing header a non-browser client adds to GETs (CSRF prevention).
PREFLIGHT = {"apollo-require-preflight": "true"}


def production_settings(**overrides: Any) -> Settings:
    """Production mode with an HS256 secret (and any governance overrides), in a fresh data dir."""
    data_dir = Path(tempfile.mkdtemp(prefix="retailgraph-test-"))
    return Settings(**{"env": PRODUCTION, "jwt_secret": PRODUCTION_SECRET, "data_dir": data_dir, **overrides})


def bearer(settings: Settings, *roles: str, sub: str = "user-1", client_id: str | None = None) -> dict[str, str]:
    """An Authorization header with a freshly minted token."""
    token = mint_token(settings, sub=sub, roles=roles, client_id=client_id)
    return {"authorization": f"Bearer {token}"}


def hs256(claims: dict[str, Any], secret: str) -> str:
    """Sign arbitrary claims (for expired, wrongly signed or odd tokens)."""
    return jwt.encode(claims, secret, algorithm="HS256")


def unsigned_token(claims: dict[str, Any]) -> str:
    """An `alg: none` token, built by hand as an attacker would."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def claims(*roles: str, ttl_s: int = 600, **extra: Any) -> dict[str, Any]:
    """Valid-looking claims for a role."""
    now = int(time.time())
    return {"sub": "user-1", "roles": list(roles), "iat": now, "exp": now + ttl_s, **extra}


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Let time pass."""
        self.now += seconds


async def upstream_requests(sandbox: Any, names: Sequence[str] = SANDBOX_NAMES) -> int:
    """Requests the sandbox upstreams have served so far (their `/_sandbox/stats`)."""
    total = 0
    for name in names:
        transport = httpx.ASGITransport(app=getattr(sandbox, name))
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{name}") as http:
            response = await http.get("/_sandbox/stats")
            response.raise_for_status()
            total += int(response.json()["requests"])
    return total


async def upstream_routes(sandbox: Any, names: Sequence[str] = SANDBOX_NAMES) -> Counter[str]:
    """Requests served so far per upstream route template, e.g. `GET …/salesInvoices`."""
    routes: Counter[str] = Counter()
    for name in names:
        transport = httpx.ASGITransport(app=getattr(sandbox, name))
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{name}") as http:
            response = await http.get("/_sandbox/stats")
            response.raise_for_status()
            routes.update({f"{name} {route}": n for route, n in response.json()["by_route"].items()})
    return routes


def codes(body: dict[str, Any]) -> list[str]:
    """The `extensions.code` of every error in a response body."""
    return [error.get("extensions", {}).get("code") for error in body.get("errors", [])]


def write_manifest(directory: Path, client_id: str, documents: Sequence[str]) -> dict[str, str]:
    """An Apollo persisted-query manifest for a client app; returns name → id."""
    operations = [
        {"id": sha256_hex(body), "body": body, "name": f"Op{i}", "type": "query"}
        for i, body in enumerate(documents)
    ]
    manifest = {"format": "apollo-persisted-query-manifest", "version": 1, "operations": operations}
    (directory / f"{client_id}.json").write_text(json.dumps(manifest), encoding="utf-8")
    return {op["name"]: op["id"] for op in operations}


@contextlib.asynccontextmanager
async def open_client(sandbox: Any, settings: Settings, **transports: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client for a graph app with these settings (when a module needs two modes)."""
    from graph.app import create_app

    wired = {name: httpx.ASGITransport(app=getattr(sandbox, name)) for name in SANDBOX_NAMES}
    app = create_app(settings, transports={**wired, **transports})
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://graph") as http:
            yield http
