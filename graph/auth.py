"""Authentication: `Authorization: Bearer` JWTs → `Principal`.

HS256 tokens are checked with `RETAILGRAPH_JWT_SECRET`; RS256/ES256 tokens against the keys
published at `RETAILGRAPH_JWKS_URL`, cached like PyJWT's `PyJWKClient` (a set lifespan, one
forced refresh on an unknown `kid` after a cooldown, the last good set kept when a fetch
fails) but fetched with httpx so the event loop never blocks. `AuthMiddleware` puts the
principal in `scope["state"]["principal"]`; in production a missing or bad token is HTTP 401.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import httpx
import jwt
from cachetools import TLRUCache
from starlette.types import ASGIApp, Receive, Scope, Send

from graph.request_headers import request_headers
from graph.settings import DEV_JWT_SECRET, Settings

ROLES = ("agent", "supervisor", "store", "developer")
DEVELOPER = "developer"
HMAC_ALGORITHMS = ("HS256",)
JWKS_ALGORITHMS = ("RS256", "ES256")
LEEWAY_S = 30
JWKS_LIFESPAN_S = 300.0
JWKS_COOLDOWN_S = 30.0
# Tokens already verified, by their exact text: a client sends the same token with every
# request until it expires, so its signature is checked once. An entry lasts until the
# token's own expiry (with the leeway) and at most this long, so a key withdrawn from the
# JWKS stops being honoured within it.
VERIFIED_TOKENS = 10_000
VERIFIED_TTL_S = 60.0


@dataclass(frozen=True)
class Principal:
    """Who is calling: subject, roles and the client application it calls through."""

    sub: str
    roles: tuple[str, ...]
    client_id: str
    authenticated: bool = True

    @property
    def is_developer(self) -> bool:
        """Developers may do everything the other roles may."""
        return DEVELOPER in self.roles

    def has_any_role(self, roles: Sequence[str]) -> bool:
        """True when the principal holds one of `roles` (developers always do)."""
        mine = self.roles
        if DEVELOPER in mine:
            return True
        for role in roles:  # a loop, not any(<genexpr>): checked for every gated field
            if role in mine:
                return True
        return False


class Verified(NamedTuple):
    """A verified token as remembered: its principal, when it expires (leeway included), and
    the JWKS key id and key it was verified with (None, None for the shared secret)."""

    principal: Principal
    expires_at: float
    kid: str | None
    key: Any


ANONYMOUS_DEVELOPER = Principal(
    sub="anonymous", roles=(DEVELOPER,), client_id="anonymous", authenticated=False
)


class AuthenticationError(Exception):
    """The credentials are missing or do not verify; the message is safe to show."""


def mint_token(
    settings: Settings,
    *,
    sub: str,
    roles: Sequence[str],
    ttl_s: int = 3600,
    client_id: str | None = None,
) -> str:
    """Sign an HS256 development token with the configured secret."""
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise ValueError(f"unknown role(s) {unknown}; roles are {', '.join(ROLES)}")
    now = int(time.time())
    claims: dict[str, object] = {"sub": sub, "roles": list(roles), "iat": now, "exp": now + ttl_s}
    if client_id:
        claims["client_id"] = client_id
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


class JwksCache:
    """The signing keys published at a JWKS URL, refreshed on expiry and on unknown `kid`s."""

    def __init__(
        self,
        url: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        lifespan_s: float = JWKS_LIFESPAN_S,
        cooldown_s: float = JWKS_COOLDOWN_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._transport = transport
        self._lifespan_s = lifespan_s
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def key_for(self, kid: str) -> jwt.PyJWK:
        """The key with this id, fetching the set when stale or when the id is new."""
        async with self._lock:
            now = self._clock()
            stale = self._fetched_at is None or now - self._fetched_at >= self._lifespan_s
            cooled = self._fetched_at is None or now - self._fetched_at >= self._cooldown_s
            if stale or (kid not in self._keys and cooled):
                await self._refresh()
        key = self._keys.get(kid)
        if key is None:
            raise AuthenticationError("token signed with an unknown key")
        return key

    async def _refresh(self) -> None:
        """Fetch the set; on failure keep the keys we had (a blip must not log everyone out)."""
        try:
            async with httpx.AsyncClient(transport=self._transport, timeout=5.0) as http:
                response = await http.get(self.url)
                response.raise_for_status()
                keys = jwt.PyJWKSet.from_dict(response.json()).keys
        except (httpx.HTTPError, ValueError, jwt.PyJWTError):
            if not self._keys:
                raise AuthenticationError("signing keys are unavailable") from None
            return
        finally:
            self.fetches += 1
        self._keys = {key.key_id: key for key in keys if key.key_id and key.public_key_use != "enc"}
        self._fetched_at = self._clock()


class Authenticator:
    """Verifies bearer tokens and turns their claims into a `Principal`."""

    def __init__(
        self,
        settings: Settings,
        *,
        jwks_transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.jwks = (
            JwksCache(settings.jwks_url, transport=jwks_transport) if settings.jwks_url else None
        )
        self._verified: TLRUCache[str, Verified] = TLRUCache(
            maxsize=VERIFIED_TOKENS, ttu=_verified_until, timer=clock
        )

    async def authenticate(self, authorization: str | None) -> Principal:
        """The caller behind an `Authorization` header value (None: header absent)."""
        if authorization is None or not authorization.strip():
            if self.settings.is_production:
                raise AuthenticationError("missing bearer token")
            return ANONYMOUS_DEVELOPER
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError("expected 'Authorization: Bearer <token>'")
        return await self.verify(token.strip())

    async def verify(self, token: str) -> Principal:
        """Check signature, algorithm, expiry and audience; return the principal. A token
        verified before (and not expired since) is answered from memory."""
        known = self._verified.get(token)
        if known is not None:
            # A JWKS-signed token stands only while the provider still publishes its key
            # (the JWKS cache's own lifespan and refresh rules decide, as for a new token).
            if known.kid is None or self.jwks is None or (
                await self.jwks.key_for(known.kid)
            ).key is known.key:
                return known.principal
        verified = await self._verify(token)
        self._verified[token] = verified
        return verified.principal

    async def _verify(self, token: str) -> Verified:
        """The token checked in full: its principal, when it stops being valid, and the JWKS
        key id and key it was checked with (None for the shared secret)."""
        kid: str | None = None
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthenticationError("malformed token") from None
        algorithm = header.get("alg")
        key: Any
        if algorithm in HMAC_ALGORITHMS and self.settings.jwt_secret and not self._jwks_only:
            key = self.settings.jwt_secret
        elif algorithm in JWKS_ALGORITHMS and self.jwks is not None:
            header_kid = header.get("kid")
            if not isinstance(header_kid, str):
                raise AuthenticationError("token has no key id")
            kid = header_kid
            jwk = await self.jwks.key_for(kid)
            if jwk.algorithm_name != algorithm:
                raise AuthenticationError("token algorithm does not match its key")
            key = jwk.key
        else:
            raise AuthenticationError(f"token algorithm {algorithm!r} is not accepted")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self.settings.jwt_audience,
                issuer=self.settings.jwt_issuer,
                leeway=LEEWAY_S,
                options={"require": ["exp", "sub"], "verify_aud": bool(self.settings.jwt_audience)},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("token expired") from None
        except jwt.PyJWTError as exc:
            raise AuthenticationError(f"invalid token: {exc}") from None
        return Verified(principal_from_claims(claims), float(claims["exp"]) + LEEWAY_S, kid, key)

    @property
    def _jwks_only(self) -> bool:
        """With a JWKS and no explicit secret, the development secret must not be accepted."""
        return self.jwks is not None and self.settings.jwt_secret == DEV_JWT_SECRET


def _verified_until(token: str, entry: Verified, now: float) -> float:
    """How long a verified token is remembered: until it expires, and at most VERIFIED_TTL_S."""
    return min(entry.expires_at, now + VERIFIED_TTL_S)


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    """Build a principal; a token with no known role is not a credential for this API."""
    raw_roles = claims.get("roles", [])
    if isinstance(raw_roles, str):
        raw_roles = raw_roles.split()
    if not isinstance(raw_roles, list):
        raise AuthenticationError("claim 'roles' must be a list")
    roles = tuple(role for role in raw_roles if role in ROLES)
    if not roles:
        raise AuthenticationError(f"token carries none of the roles {', '.join(ROLES)}")
    sub = str(claims["sub"])
    client_id = claims.get("client_id") or claims.get("azp") or sub
    return Principal(sub=sub, roles=roles, client_id=str(client_id))


def principal_of(context: Any) -> Principal:
    """The principal of a GraphQL context (object or dict), set by `AuthMiddleware`."""
    principal = getattr(context, "principal", None)
    if principal is None and isinstance(context, dict):
        principal = context.get("principal")
    if principal is None:
        request = getattr(context, "request", None)
        if request is None and isinstance(context, dict):
            request = context.get("request")
        state = getattr(request, "scope", {}).get("state", {}) if request is not None else {}
        principal = state.get("principal")
    if not isinstance(principal, Principal):
        raise AuthenticationError("no authenticated principal on this request")
    return principal


class AuthMiddleware:
    """ASGI middleware: verify the bearer token of `/graphql` requests before the view runs."""

    def __init__(self, app: ASGIApp, authenticator: Authenticator, path: str = "/graphql") -> None:
        self.app = app
        self.authenticator = authenticator
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Reject bad credentials with 401; websockets may authenticate in `connection_init`."""
        if scope["type"] not in ("http", "websocket") or scope["path"] != self.path:
            await self.app(scope, receive, send)
            return
        headers = request_headers(scope)
        authorization = headers.get("authorization")
        state = scope.setdefault("state", {})
        if scope["type"] == "websocket" and authorization is None:
            await self.app(scope, receive, send)  # the view checks connection_init's payload
            return
        try:
            state["principal"] = await self.authenticator.authenticate(authorization)
        except AuthenticationError as exc:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 4401, "reason": "Unauthorized"})
                return
            from graph.http import error_response

            response = error_response(
                401, str(exc), "UNAUTHENTICATED", headers,
                extra_headers={"WWW-Authenticate": f'Bearer error="invalid_token", '
                               f'error_description="{exc}"'},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
