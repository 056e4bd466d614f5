"""Upstream change notifications (webhook bodies) translated into cache invalidations.

Each upstream speaks its own product's shape; this module is the only place that knows them:

- WMS: `{"id"?, "type": "inventory_level.updated", "created_at"?, "data": {sku, location_id, …}}`
- service platform, Zendesk event webhooks: `{"id", "type": "zen:event-type:ticket.…",
  "subject": "zen:ticket:35", "time", "detail": {"id": "35", "external_id", …}, "event"}`
- ERP, Business Central notifications: `{"value": [{"subscriptionId", "clientState",
  "expirationDateTime", "resource": "api/v2.0/companies(…)/salesOrders(…)", "changeType",
  "lastModifiedDateTime"}]}`. They name an entity by GUID only, so `erp_changes` reads the
  changed rows (one `$batch`) to learn the numbers the caches are keyed by; a deleted row, a
  `collection` change or a failed read drops the entity set's cache kinds whole.

`parse` checks the shape and yields `Notice`s (with the event id and time replay protection
uses); `changes` turns them into `Change`s: invalidations per client, and the subject
(`("inventory", sku)`, `("case", id)`) whose subscribers should hear about it.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from .erp import ErpClient
from .errors import SourceError

ZENDESK_TICKET_EVENT = "zen:event-type:ticket."
_RESOURCE = re.compile(r"companies\(([^)]+)\)/(\w+)(?:\(([^)]+)\))?/?$")
_GUID = re.compile(r"^[0-9A-Fa-f-]{36}$")

# BC entity set → the ErpClient cache kinds whose entries it feeds, and how a row keys them.
ERP_KINDS: Mapping[str, tuple[tuple[str, str], ...]] = {
    "customers": (("customer", "number"), ("customer_by_email", "email")),
    "items": (("product", "number"),),
    "salesOrders": (("order", "number"), ("orders_by_customer", "customerNumber")),
    "salesInvoices": (
        ("invoice", "number"), ("invoices_by_order", "orderNumber"),
        ("invoices_by_customer", "customerNumber"),
        # archived orders are rebuilt from their invoices
        ("order", "orderNumber"), ("orders_by_customer", "customerNumber"),
    ),
    "salesCreditMemos": (
        ("credit_memo", "number"), ("credit_memos_by_invoice", "invoiceNumber"),
        ("credit_memos_by_return", "externalDocumentNumber"), ("return", "externalDocumentNumber"),
    ),
    "salesReturnOrders": (
        ("return", "number"), ("returns_by_order", "orderNumber"),
        ("returns_by_customer", "customerNumber"),
    ),
}


class MalformedNotification(ValueError):
    """A webhook body that is not the upstream's documented shape."""


@dataclass(frozen=True, slots=True)
class Notice:
    """One upstream notification as received: which entity, what happened, its id and time."""

    source: str
    entity: str  # "inventory_level", "ticket", or a Business Central entity set
    key: str  # SKU, ticket id, or BC GUID ("" for a collection change)
    change: str  # the event type or BC changeType
    event_id: str | None = None
    occurred_at: datetime | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Invalidation:
    """Cache entries to drop: `keys` of `kind` at `source`, or the whole kind when None."""

    source: str
    kind: str
    keys: tuple[Hashable, ...] | None


@dataclass(frozen=True, slots=True)
class Change:
    """What one notice means here: entries to drop and whose subscribers to tell."""

    notice: Notice
    invalidations: tuple[Invalidation, ...]
    subject: tuple[str, str] | None = None


def timestamp(value: Any) -> datetime:
    """An ISO 8601 timestamp (`Z` accepted) as an aware UTC datetime."""
    if not isinstance(value, str) or not value:
        raise MalformedNotification(f"not a timestamp: {value!r}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise MalformedNotification(f"not a timestamp: {value!r}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse(source: str, body: bytes) -> list[Notice]:
    """The notices in one webhook body; MalformedNotification when off-shape."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedNotification("the body is not JSON") from exc
    if not isinstance(document, dict):
        raise MalformedNotification("the body is not a JSON object")
    parser = {"wms": _wms, "servicedesk": _zendesk, "erp": _business_central}.get(source)
    if parser is None:
        raise MalformedNotification(f"unknown source {source!r}")
    return parser(document)


def _text(document: Mapping[str, Any], name: str) -> str:
    value = document.get(name)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value:
        raise MalformedNotification(f"{name!r} is required")
    return value


def _wms(document: Mapping[str, Any]) -> list[Notice]:
    kind = _text(document, "type")
    data = document.get("data")
    if not isinstance(data, dict):
        raise MalformedNotification("'data' must be an object")
    if kind != "inventory_level.updated":
        return []  # another event type: nothing cached depends on it
    event_id = document.get("id")
    created = document.get("created_at")
    return [Notice(
        source="wms", entity="inventory_level", key=_text(data, "sku"), change=kind,
        event_id=str(event_id) if event_id else None,
        occurred_at=timestamp(created) if created is not None else None,
        details={"location_id": data.get("location_id")},
    )]


def _zendesk(document: Mapping[str, Any]) -> list[Notice]:
    kind = _text(document, "type")
    event_id = _text(document, "id")
    occurred = timestamp(document.get("time"))
    detail = document.get("detail")
    if not isinstance(detail, dict):
        raise MalformedNotification("'detail' must be an object")
    if not kind.startswith(ZENDESK_TICKET_EVENT):
        return []
    ticket = _text(detail, "id")
    if not ticket.isdigit():
        raise MalformedNotification("'detail.id' must be a ticket id")
    external = detail.get("external_id")
    return [Notice(
        source="servicedesk", entity="ticket", key=ticket, change=kind[len(ZENDESK_TICKET_EVENT):],
        event_id=event_id, occurred_at=occurred,
        details={"external_id": external if isinstance(external, str) and external else None},
    )]


def _business_central(document: Mapping[str, Any]) -> list[Notice]:
    items = document.get("value")
    if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
        raise MalformedNotification("'value' must be a non-empty list of notifications")
    notices = []
    for item in items:
        match = _RESOURCE.search(_text(item, "resource"))
        if match is None:
            raise MalformedNotification(f"unrecognised resource {item.get('resource')!r}")
        entity_set, entity_id = match.group(2), (match.group(3) or "").strip("'")
        change = _text(item, "changeType")
        if change != "collection" and not _GUID.match(entity_id):
            raise MalformedNotification(f"resource {item['resource']!r} names no entity id")
        notices.append(Notice(
            source="erp", entity=entity_set, key=entity_id, change=change,
            occurred_at=timestamp(item.get("lastModifiedDateTime")),
            details={"subscriptionId": item.get("subscriptionId")},
        ))
    return notices


# -- what the notices mean -------------------------------------------------------------------

def wms_change(notice: Notice) -> Change:
    """A stock level moved: the SKU's levels (every location) are one cache entry."""
    return Change(notice, (Invalidation("wms", "inventory", (notice.key,)),),
                  subject=("inventory", notice.key))


def servicedesk_change(notice: Notice) -> Change:
    """A ticket changed: the case, the order's case list, and customers' case lists.

    Customers' lists are keyed by customer number, which a ticket event does not carry
    (only the requester's user id), so they are dropped whole, as our own writes do.
    """
    ticket = int(notice.key)
    drops = [Invalidation("servicedesk", "case", (ticket,)),
             Invalidation("servicedesk", "cases_by_customer", None)]
    external = notice.details.get("external_id")
    if external:
        drops.append(Invalidation("servicedesk", "cases_by_order", (external,)))
    return Change(notice, tuple(drops), subject=("case", str(ticket)))


async def erp_changes(erp: ErpClient, notices: Sequence[Notice]) -> list[Change]:
    """Read the named rows (one logical read) and drop the cache entries they key."""
    wanted: dict[str, list[str]] = {}
    for notice in notices:
        if notice.entity in ERP_KINDS and notice.change not in ("deleted", "collection"):
            wanted.setdefault(notice.entity, [])
            if notice.key not in wanted[notice.entity]:
                wanted[notice.entity].append(notice.key)
    rows: dict[tuple[str, str], Mapping[str, Any]] = {}
    if wanted:
        sets = list(wanted)
        try:
            # Package-internal: the client's keyed OData read, by GUID, bypassing the caches.
            found = await erp._rows_by_many([(s, "id", wanted[s]) for s in sets])
        except SourceError:
            found = [[] for _ in sets]  # cannot tell which numbers: drop the kinds whole
        for entity_set, set_rows in zip(sets, found):
            for row in set_rows:
                if isinstance(row, dict) and row.get("id"):
                    rows[(entity_set, str(row["id"]).lower())] = row
    return [_erp_change(n, rows.get((n.entity, n.key.lower()))) for n in notices]


def _erp_change(notice: Notice, row: Mapping[str, Any] | None) -> Change:
    kinds = ERP_KINDS.get(notice.entity, ())
    drops: list[Invalidation] = []
    for kind, field_name in kinds:
        if row is None:
            drops.append(Invalidation("erp", kind, None))
            continue
        value = row.get(field_name)
        if isinstance(value, str) and value.strip():
            key = value.strip().lower() if kind == "customer_by_email" else value
            drops.append(Invalidation("erp", kind, (key,)))
    return Change(notice, tuple(_merged(drops)))


def _merged(drops: Sequence[Invalidation]) -> list[Invalidation]:
    """One invalidation per kind; a whole-kind drop absorbs keyed ones."""
    by_kind: dict[tuple[str, str], tuple[Hashable, ...] | None] = {}
    for drop in drops:
        slot = (drop.source, drop.kind)
        if slot in by_kind and by_kind[slot] is None:
            continue
        if drop.keys is None:
            by_kind[slot] = None
        else:
            by_kind[slot] = tuple(dict.fromkeys((*(by_kind.get(slot) or ()), *drop.keys)))
    return [Invalidation(source, kind, keys) for (source, kind), keys in by_kind.items()]
