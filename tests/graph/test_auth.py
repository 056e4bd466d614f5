"""Authentication: every bad token is a quick 401 with no upstream call; JWKS keys rotate."""

from __future__ import annotations

import time
import base64
import hashlib
import hmac
import json
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from graph.app import create_app
from graph.auth import AuthenticationError, Authenticator, JwksCache
from graph.settings import PRODUCTION, Settings
from security_support import (
    PRODUCTION_SECRET,
    WRONG_SECRET,
    FakeClock,
    bearer,
    claims,
    codes,
    hs256,
    production_settings,
    unsigned_token,
    upstream_requests,
)

VIEWER = "{ viewer { subject roles authenticated } }"


@pytest.fixture
def settings() -> Settings:
    """Production: a token is required."""
    return production_settings()


async def post(client: httpx.AsyncClient, headers: dict[str, str], query: str = VIEWER) -> httpx.Response:
    return await client.post("/graphql", json={"query": query}, headers=headers)


async def assert_refused(client: httpx.AsyncClient, sandbox: Any, headers: dict[str, str]) -> str:
    """401 UNAUTHENTICATED with a bearer challenge, and nothing reached an upstream."""
    before = await upstream_requests(sandbox)
    response = await post(client, headers, "{ customer(number: \"C-10001\") { name } }")
    assert response.status_code == 401, response.text
    assert codes(response.json()) == ["UNAUTHENTICATED"]
    assert "data" not in response.json()
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert await upstream_requests(sandbox) == before
    return str(response.json()["errors"][0]["message"])


async def test_a_valid_token_is_the_viewer(client: httpx.AsyncClient, settings: Settings) -> None:
    response = await post(client, bearer(settings, "developer", "agent", sub="ada"))
    assert response.status_code == 200
    assert response.json()["data"]["viewer"] == {
        "subject": "ada", "roles": ["developer", "agent"], "authenticated": True,
    }


async def test_missing_token_is_401_in_production(client: httpx.AsyncClient, sandbox: Any) -> None:
    assert "missing" in await assert_refused(client, sandbox, {})


async def test_expired_token_is_401(client: httpx.AsyncClient, sandbox: Any) -> None:
    expired = claims("agent", ttl_s=-120)  # beyond the 30 s leeway
    message = await assert_refused(client, sandbox, {"authorization": f"Bearer {hs256(expired, PRODUCTION_SECRET)}"})
    assert "expired" in message


async def test_token_expired_within_the_leeway_is_accepted(client: httpx.AsyncClient) -> None:
    token = hs256(claims("developer", ttl_s=-5), PRODUCTION_SECRET)
    assert (await post(client, {"authorization": f"Bearer {token}"})).status_code == 200


async def test_wrongly_signed_token_is_401(client: httpx.AsyncClient, sandbox: Any) -> None:
    forged = hs256(claims("supervisor"), WRONG_SECRET)
    await assert_refused(client, sandbox, {"authorization": f"Bearer {forged}"})


async def test_alg_none_token_is_401(client: httpx.AsyncClient, sandbox: Any) -> None:
    message = await assert_refused(
        client, sandbox, {"authorization": f"Bearer {unsigned_token(claims('developer'))}"}
    )
    assert "none" in message


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-a-jwt", "Bearer a.b.c", "Bearer ", "Basic dXNlcjpwYXNz", "token"],
)
async def test_malformed_credentials_are_401(
    client: httpx.AsyncClient, sandbox: Any, authorization: str
) -> None:
    await assert_refused(client, sandbox, {"authorization": authorization})


async def test_token_without_a_known_role_is_401(client: httpx.AsyncClient, sandbox: Any) -> None:
    token = hs256(claims("admin"), PRODUCTION_SECRET)
    await assert_refused(client, sandbox, {"authorization": f"Bearer {token}"})


async def test_not_yet_valid_token_is_401(client: httpx.AsyncClient, sandbox: Any) -> None:
    token = hs256(claims("agent", nbf=int(time.time()) + 600), PRODUCTION_SECRET)
    await assert_refused(client, sandbox, {"authorization": f"Bearer {token}"})


async def test_a_token_is_verified_once_and_remembered_only_until_it_expires(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    decoded: list[str] = []
    real_decode = jwt.decode

    def counted(token: str, *args: Any, **kwargs: Any) -> Any:
        decoded.append(token)
        return real_decode(token, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counted)
    clock = FakeClock(start=time.time())
    authenticator = Authenticator(production_settings(), clock=clock)
    token = hs256(claims("agent", ttl_s=40), PRODUCTION_SECRET)
    for _ in range(3):
        assert (await authenticator.verify(token)).roles == ("agent",)
    assert decoded == [token]  # the signature was checked once

    clock.advance(59)  # remembered for at most VERIFIED_TTL_S (60 s): checked again after that
    await authenticator.verify(token)
    assert len(decoded) == 1
    clock.advance(2)
    await authenticator.verify(token)  # exp + 30 s leeway has not passed yet (real clock)
    assert len(decoded) == 2

    clock.advance(30)  # past exp + leeway on the cache's clock: the entry is gone
    assert authenticator._verified.get(token) is None
    with pytest.raises(AuthenticationError):  # and a bad token is never remembered
        await authenticator.verify(hs256(claims("agent"), WRONG_SECRET))
    assert len(authenticator._verified) == 0


async def test_issuer_and_audience_are_checked() -> None:
    settings = production_settings(jwt_issuer="https://id.example", jwt_audience="retailgraph")
    authenticator = Authenticator(settings)
    good = claims("agent", iss="https://id.example", aud="retailgraph")
    assert (await authenticator.verify(hs256(good, PRODUCTION_SECRET))).roles == ("agent",)
    for wrong in ({"iss": "https://evil.example"}, {"aud": "someone-else"}):
        with pytest.raises(AuthenticationError):
            await authenticator.verify(hs256({**good, **wrong}, PRODUCTION_SECRET))


async def test_development_anonymous_is_a_developer_but_a_bad_token_is_still_401(
    sandbox: Any,
) -> None:
    app = create_app(Settings(), transports=_sandbox_transports(sandbox))
    async with app.router.lifespan_context(app), _client(app) as client:
        anonymous = await post(client, {})
        assert anonymous.json()["data"]["viewer"] == {
            "subject": "anonymous", "roles": ["developer"], "authenticated": False,
        }
        forged = hs256(claims("developer"), WRONG_SECRET)
        assert (await post(client, {"authorization": f"Bearer {forged}"})).status_code == 401


# --- JWKS: RS256 / ES256 with caching and rotation -------------------------------------


def _rsa_jwk(kid: str) -> tuple[Any, dict[str, Any]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return key, {**public, "kid": kid, "use": "sig", "alg": "RS256"}


def _ec_jwk(kid: str) -> tuple[Any, dict[str, Any]]:
    key = ec.generate_private_key(ec.SECP256R1())
    public = jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return key, {**public, "kid": kid, "use": "sig", "alg": "ES256"}


class IdentityProvider:
    """An in-process JWKS endpoint whose key set the test rotates."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.served = 0
        self.app = Starlette(routes=[Route("/.well-known/jwks.json", self.jwks)])

    async def jwks(self, request: Request) -> JSONResponse:
        self.served += 1
        return JSONResponse({"keys": self.keys})

    def transport(self) -> httpx.ASGITransport:
        return httpx.ASGITransport(app=self.app)


def _sign(key: Any, kid: str, algorithm: str, role: str = "supervisor") -> str:
    return jwt.encode(claims(role), key, algorithm=algorithm, headers={"kid": kid})


JWKS_URL = "http://idp/.well-known/jwks.json"


async def test_jwks_keys_are_cached_and_rotate_on_an_unknown_kid() -> None:
    idp, clock = IdentityProvider(), FakeClock()
    old_key, old_jwk = _rsa_jwk("2026-01")
    new_key, new_jwk = _ec_jwk("2026-02")
    idp.keys = [old_jwk]
    authenticator = Authenticator(production_settings(jwks_url=JWKS_URL))
    authenticator.jwks = JwksCache(JWKS_URL, transport=idp.transport(), clock=clock)

    assert (await authenticator.verify(_sign(old_key, "2026-01", "RS256"))).roles == ("supervisor",)
    await authenticator.verify(_sign(old_key, "2026-01", "RS256"))
    assert idp.served == 1  # cached

    idp.keys = [old_jwk, new_jwk]  # the provider publishes the next key
    clock.advance(31)  # past the refresh cooldown
    principal = await authenticator.verify(_sign(new_key, "2026-02", "ES256"))
    assert principal.sub == "user-1" and idp.served == 2

    idp.keys = [new_jwk]  # the old key is retired; after the cache lifespan it is gone
    clock.advance(301)
    with pytest.raises(AuthenticationError):
        await authenticator.verify(_sign(old_key, "2026-01", "RS256"))
    assert idp.served == 3


async def test_unknown_kid_does_not_hammer_the_identity_provider() -> None:
    idp, clock = IdentityProvider(), FakeClock()
    key, jwk = _rsa_jwk("k1")
    idp.keys = [jwk]
    cache = JwksCache(JWKS_URL, transport=idp.transport(), clock=clock)
    await cache.key_for("k1")
    for _ in range(5):
        with pytest.raises(AuthenticationError):
            await cache.key_for("unknown")
    assert idp.served == 1  # within the cooldown an unknown kid is refused without a fetch


async def test_jwks_keeps_the_last_good_keys_when_the_provider_fails() -> None:
    idp, clock = IdentityProvider(), FakeClock()
    key, jwk = _rsa_jwk("k1")
    idp.keys = [jwk]
    cache = JwksCache(JWKS_URL, transport=idp.transport(), clock=clock)
    await cache.key_for("k1")
    idp.keys = [{"kty": "nonsense"}]
    clock.advance(400)
    assert (await cache.key_for("k1")).key_id == "k1"


async def test_hs256_token_signed_with_the_public_key_is_refused() -> None:
    """Algorithm confusion: an attacker signs HS256 with the (public) RSA key."""
    idp = IdentityProvider()
    key, jwk = _rsa_jwk("k1")
    idp.keys = [jwk]
    authenticator = Authenticator(production_settings(jwks_url=JWKS_URL, jwt_secret=Settings().jwt_secret))
    authenticator.jwks = JwksCache(JWKS_URL, transport=idp.transport())
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = ".".join(
        part(json.dumps(value).encode())
        for value in ({"alg": "HS256", "typ": "JWT", "kid": "k1"}, claims("developer"))
    )
    signature = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{part(signature)}"
    with pytest.raises(AuthenticationError):
        await authenticator.verify(forged)


async def test_the_app_verifies_rs256_tokens_against_the_configured_jwks(sandbox: Any) -> None:
    idp = IdentityProvider()
    key, jwk = _rsa_jwk("k1")
    idp.keys = [jwk]
    settings = Settings(env=PRODUCTION, jwks_url=JWKS_URL)
    app = create_app(settings, transports={**_sandbox_transports(sandbox), "jwks": idp.transport()})
    async with app.router.lifespan_context(app), _client(app) as client:
        token = _sign(key, "k1", "RS256", role="developer")
        response = await post(client, {"authorization": f"Bearer {token}"})
        assert response.status_code == 200
        assert response.json()["data"]["viewer"]["roles"] == ["developer"]
        dev_secret_token = hs256(claims("developer"), Settings().jwt_secret)
        assert (await post(client, {"authorization": f"Bearer {dev_secret_token}"})).status_code == 401


def _sandbox_transports(sandbox: Any) -> dict[str, httpx.AsyncBaseTransport]:
    return {name: httpx.ASGITransport(app=getattr(sandbox, name)) for name in ("erp", "wms", "servicedesk")}


def _client(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://graph")
