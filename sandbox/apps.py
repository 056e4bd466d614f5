"""Build the three sandbox apps over one seeded data set."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import httpx
from starlette.applications import Starlette

from sandbox import erp, servicedesk, wms
from sandbox.model import SandboxData
from sandbox.seed import generate


@dataclass
class SandboxApps:
    """The ERP, WMS and service-platform apps and the data they share."""

    data: SandboxData
    erp: Starlette
    wms: Starlette
    servicedesk: Starlette


def build(seed: int = 42, now: date | None = None, token: str = "sandbox-token", *,
          rate_limit: int = 1_000_000, rate_window_seconds: float = 60.0,
          wms_webhook_url: str | None = None,
          webhook_secret: str = "sandbox-webhook-secret",
          webhook_transport: httpx.AsyncBaseTransport | None = None,
          erp_webhook_url: str | None = None,
          servicedesk_webhook_url: str | None = None) -> SandboxApps:
    """Generate the data for a seed and wrap it in the three apps (mount over ASGITransport).

    Each `*_webhook_url` makes that app POST signed change notifications there.
    """
    data = generate(seed=seed, now=now)
    hooks = {"webhook_secret": webhook_secret, "webhook_transport": webhook_transport}
    return SandboxApps(
        data=data,
        erp=erp.create_app(data, token=token, rate_limit=rate_limit,
                           rate_window_seconds=rate_window_seconds,
                           webhook_url=erp_webhook_url, **hooks),
        wms=wms.create_app(data, token=token, rate_limit=rate_limit,
                           rate_window_seconds=rate_window_seconds, webhook_url=wms_webhook_url,
                           webhook_secret=webhook_secret, webhook_transport=webhook_transport),
        servicedesk=servicedesk.create_app(data, token=token, rate_limit=rate_limit,
                                           rate_window_seconds=rate_window_seconds,
                                           webhook_url=servicedesk_webhook_url, **hooks),
    )
