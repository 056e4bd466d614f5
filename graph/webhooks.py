"""`POST /webhooks/{erp|wms|servicedesk}`: signed upstream change notifications.

Each request is checked in this order: the source is known (else 404), its signature is valid
for that source's secret (constant-time compare; else 401), the body has the upstream's
shape (else 400), every notice is recent (else 401: a replay outside the window), and each
event id is new within the window (a repeat is acknowledged but not applied again; with
Redis the window is shared by every replica). Then each notice drops the cache entries it
makes stale (`client.invalidate`, on every replica) and publishes `inventory:<sku>` or
`case:<id>` on the event bus, so `inventoryChanged` and `caseUpdated` fire on upstream changes.

Signatures, as each product signs (the ERP's HMAC is ours: Business Central has only a
`clientState` echo):

    wms, erp     X-Signature: sha256=<hex HMAC-SHA256(secret, body)>
    servicedesk  X-Zendesk-Webhook-Signature: <base64 HMAC-SHA256(secret, timestamp + body)>
                 X-Zendesk-Webhook-Signature-Timestamp: <ISO 8601, signed, window-checked>

Business Central's subscription handshake (`?validationToken=…`) is answered with the token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime

from cachetools import TTLCache
from prometheus_client import Counter
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from graph.settings import Settings
from sources.webhook_events import (
    Change,
    MalformedNotification,
    Notice,
    erp_changes,
    parse,
    servicedesk_change,
    timestamp,
    wms_change,
)

logger = logging.getLogger("retailgraph.webhooks")
SOURCES = ("erp", "wms", "servicedesk")
ZENDESK_SIGNATURE = "x-zendesk-webhook-signature"
ZENDESK_TIMESTAMP = "x-zendesk-webhook-signature-timestamp"
HEX_SIGNATURE = "x-signature"
MAX_VALIDATION_TOKEN = 1024
# Claims a name across replicas for some seconds: True first, False taken, None unknown.
Claim = Callable[[str, float], Awaitable[bool | None]]

WEBHOOKS = Counter(
    "retailgraph_webhooks_total",
    "Webhook requests by source and outcome (accepted, unauthorized, stale, malformed, "
    "unknown_source).",
    ["source", "outcome"],
)
WEBHOOK_NOTICES = Counter(
    "retailgraph_webhook_notices_total",
    "Upstream notices in accepted webhooks by outcome (applied, duplicate).",
    ["source", "outcome"],
)
WEBHOOK_INVALIDATIONS = Counter(
    "retailgraph_webhook_invalidations_total",
    "Cache invalidations webhooks caused, by client and cache kind.",
    ["source", "kind"],
)


class Rejected(Exception):
    """A webhook refused with an HTTP status and a metrics outcome."""

    def __init__(self, status: int, outcome: str, message: str) -> None:
        super().__init__(message)
        self.status, self.outcome, self.message = status, outcome, message


def hex_signature(secret: str, body: bytes) -> str:
    """`sha256=<hex>` of the body, as the WMS (and our ERP notifications) send it."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def zendesk_signature(secret: str, signed_at: str, body: bytes) -> str:
    """Zendesk's base64 HMAC-SHA256 over the timestamp header followed by the body."""
    digest = hmac.new(secret.encode(), signed_at.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify(source: str, secret: str, headers: Mapping[str, str], body: bytes) -> datetime | None:
    """Check a request's signature; the signed timestamp when the scheme has one."""
    if source == "servicedesk":
        given, signed_at = headers.get(ZENDESK_SIGNATURE), headers.get(ZENDESK_TIMESTAMP)
        if not given or not signed_at:
            raise Rejected(401, "unauthorized", "missing signature")
        expected = zendesk_signature(secret, signed_at, body)
        if not hmac.compare_digest(expected.encode(), given.strip().encode()):
            raise Rejected(401, "unauthorized", "bad signature")
        try:
            return timestamp(signed_at)
        except MalformedNotification:
            raise Rejected(401, "unauthorized", "bad signature timestamp") from None
    given = headers.get(HEX_SIGNATURE)
    if not given:
        raise Rejected(401, "unauthorized", "missing signature")
    if not hmac.compare_digest(hex_signature(secret, body).encode(), given.strip().lower().encode()):
        raise Rejected(401, "unauthorized", "bad signature")
    return None


class ReplayGuard:
    """Timestamps within `tolerance_s` of now; each event id accepted once per window."""

    def __init__(self, tolerance_s: float, *, clock: Callable[[], float] = time.time) -> None:
        self.tolerance_s = tolerance_s
        self._clock = clock
        self._seen: TTLCache[str, bool] = TTLCache(100_000, max(1.0, 2 * tolerance_s), timer=clock)

    def check_time(self, moment: datetime | None) -> None:
        """Refuse a signed time outside the window (a replay, or a badly skewed clock)."""
        if moment is not None and abs(self._clock() - moment.timestamp()) > self.tolerance_s:
            raise Rejected(401, "stale", "timestamp outside the replay window")

    async def first_time(self, source: str, event_id: str, claim: Claim | None) -> bool:
        """True the first time an event id is seen (by any replica when Redis is shared)."""
        key = f"{source}:{event_id}"
        if key in self._seen:
            return False
        self._seen[key] = True
        shared = await claim(f"webhook:{key}", 2 * self.tolerance_s) if claim else None
        return shared is not False


class WebhookReceiver:
    """The endpoint: verify, parse, de-duplicate, then invalidate and publish."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        self.secrets = {
            name: getattr(settings, f"{name}_webhook_secret", None) or settings.webhook_secret
            for name in SOURCES
        }
        self.guard = ReplayGuard(settings.webhook_tolerance_s, clock=clock)

    async def endpoint(self, request: Request) -> Response:
        """`POST /webhooks/{source}`."""
        source = request.path_params["source"]
        if source not in SOURCES:
            WEBHOOKS.labels("unknown", "unknown_source").inc()
            return JSONResponse({"error": "unknown webhook source"}, 404)
        token = request.query_params.get("validationToken")
        if source == "erp" and token is not None:
            # Business Central proves the URL before subscribing; it cannot sign this call.
            return PlainTextResponse(token[:MAX_VALIDATION_TOKEN],
                                     headers={"X-Content-Type-Options": "nosniff"})
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            signed_at = verify(source, self.secrets[source], headers, body)
            self.guard.check_time(signed_at)
            try:
                notices = parse(source, body)
            except MalformedNotification as exc:
                raise Rejected(400, "malformed", str(exc)) from None
            for notice in notices:
                self.guard.check_time(notice.occurred_at)
        except Rejected as exc:
            WEBHOOKS.labels(source, exc.outcome).inc()
            logger.warning("webhook %s refused: %s", source, exc.message)
            return JSONResponse({"error": exc.message}, exc.status)
        WEBHOOKS.labels(source, "accepted").inc()
        fresh = await self._fresh(request, source, notices)
        applied = await self._apply(request, source, fresh)
        return JSONResponse({"received": len(notices), "applied": applied,
                             "duplicates": len(notices) - len(fresh)})

    async def _fresh(self, request: Request, source: str, notices: Sequence[Notice]) -> list[Notice]:
        """The notices whose event ids were not seen before (those without ids all pass)."""
        scale_out = getattr(request.app.state, "scale_out", None)
        claim = scale_out.claim_once if scale_out is not None else None
        fresh = []
        for notice in notices:
            if notice.event_id is None or await self.guard.first_time(source, notice.event_id, claim):
                fresh.append(notice)
            else:
                WEBHOOK_NOTICES.labels(source, "duplicate").inc()
        return fresh

    async def _apply(self, request: Request, source: str, notices: Sequence[Notice]) -> int:
        """Drop what each notice makes stale, then tell the subscribers; how many applied."""
        if not notices:
            return 0
        sources = request.app.state.sources
        changes: list[Change]
        if source == "erp":
            changes = await erp_changes(sources.erp, notices)
        elif source == "wms":
            changes = [wms_change(n) for n in notices]
        else:
            changes = [servicedesk_change(n) for n in notices]
        orchestrator = getattr(request.app.state, "orchestrator", None)
        for change in changes:
            for drop in change.invalidations:
                client = sources.by_name(drop.source)
                if drop.kind not in client.caches.kinds():
                    continue
                client.invalidate(drop.kind, drop.keys)
                WEBHOOK_INVALIDATIONS.labels(drop.source, drop.kind).inc()
            if change.subject is not None and orchestrator is not None:
                orchestrator.bus.publish(":".join(change.subject), None)
            WEBHOOK_NOTICES.labels(source, "applied").inc()
        return len(changes)
