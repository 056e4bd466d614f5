"""The write side of the three systems of record, built on the read clients' pools."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sources.erp_writes import ErpWrites
from sources.servicedesk_writes import ServiceDeskWrites
from sources.wms_writes import WmsWrites


@dataclass(frozen=True)
class Upstreams:
    """One write client per system of record."""

    erp: ErpWrites
    wms: WmsWrites
    servicedesk: ServiceDeskWrites

    @classmethod
    def over(cls, sources: Any) -> Upstreams:
        """Write clients sharing the pooled HTTP clients (and caches) of `sources`."""
        return cls(
            erp=ErpWrites(sources.erp),
            wms=WmsWrites(sources.wms),
            servicedesk=ServiceDeskWrites(sources.servicedesk),
        )
