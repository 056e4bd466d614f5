"""Upstream clients for the ERP, the WMS and the service platform, and what they share.

`build_sources(settings)` gives the three clients; tests pass in-process transports
(`httpx.ASGITransport(app=sandbox_app)`) per source name.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from .cache import Clock
from .config import SourceConfig
from .erp import ErpClient
from .errors import (
    SourceConflict,
    SourceError,
    SourceNotFound,
    SourceRejected,
    SourceThrottled,
    SourceTimeout,
    SourceUnavailable,
)
from .http import HttpSource
from .retry import Sleep
from .servicedesk import ServiceDeskClient
from .wms import WmsClient

__all__ = [
    "ErpClient",
    "HttpSource",
    "ServiceDeskClient",
    "SourceConfig",
    "SourceConflict",
    "SourceError",
    "SourceNotFound",
    "SourceRejected",
    "SourceThrottled",
    "SourceTimeout",
    "SourceUnavailable",
    "Sources",
    "WmsClient",
    "build_sources",
]


@dataclass(frozen=True, slots=True)
class Sources:
    """The three upstream clients of one process."""

    erp: ErpClient
    wms: WmsClient
    servicedesk: ServiceDeskClient

    def __iter__(self) -> Iterator[HttpSource]:
        return iter((self.erp, self.wms, self.servicedesk))

    def by_name(self, name: str) -> HttpSource:
        """A client by its source name: "erp", "wms" or "servicedesk"."""
        for client in self:
            if client.source == name:
                return client
        raise KeyError(name)

    async def aclose(self) -> None:
        """Close every client's connection pool."""
        for client in self:
            await client.aclose()


def build_sources(
    settings_like: Any = None,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    *,
    clock: Clock = time.monotonic,
    sleep: Sleep = asyncio.sleep,
    rng: random.Random | None = None,
) -> Sources:
    """The three clients, configured from settings (see `SourceConfig.for_source`).

    `clock`, `sleep` and `rng` drive caches, breakers, budgets and backoff; tests pass fakes.
    """
    transports = transports or {}
    company_id = _setting(settings_like, "erp_company_id")
    shared: dict[str, Any] = {"clock": clock, "sleep": sleep, "rng": rng}
    return Sources(
        erp=ErpClient(
            SourceConfig.for_source("erp", settings_like),
            transports.get("erp"),
            company_id=str(company_id) if company_id else None,
            **shared,
        ),
        wms=WmsClient(SourceConfig.for_source("wms", settings_like), transports.get("wms"), **shared),
        servicedesk=ServiceDeskClient(
            SourceConfig.for_source("servicedesk", settings_like),
            transports.get("servicedesk"),
            **shared,
        ),
    )


def _setting(settings_like: Any, name: str) -> Any:
    if isinstance(settings_like, Mapping):
        return settings_like.get(name)
    return getattr(settings_like, name, None)
