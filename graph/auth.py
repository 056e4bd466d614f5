"""Authentication: JWT bearer tokens → `Principal`."""

from __future__ import annotations

import time
from collections.abc import Sequence

import jwt

from graph.settings import Settings

ROLES = ("agent", "supervisor", "store", "developer")


def mint_token(settings: Settings, *, sub: str, roles: Sequence[str], ttl_s: int = 3600) -> str:
    """Sign an HS256 development token with the configured secret."""
    unknown = sorted(set(roles) - set(ROLES))
    if unknown:
        raise ValueError(f"unknown role(s) {unknown}; roles are {', '.join(ROLES)}")
    now = int(time.time())
    claims: dict[str, object] = {"sub": sub, "roles": list(roles), "iat": now, "exp": now + ttl_s}
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")
