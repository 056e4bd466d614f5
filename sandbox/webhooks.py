"""Signed webhooks the ERP and service-desk sandboxes send, in their products' own shapes.

- ERP, like Business Central's API webhooks: one POST per request that changed data, body
  `{"value": [{"subscriptionId", "clientState", "expirationDateTime", "resource",
  "changeType", "lastModifiedDateTime"}]}`, one notification per changed entity (a line
  change notifies its document). BC itself proves authenticity only by echoing
  `clientState`; the sandbox also signs the body, as the WMS does:
  `X-Signature: sha256=<hex HMAC-SHA256(secret, body)>`.
- Service desk, like Zendesk's event webhooks: one POST per event (`zen:event-type:ticket.
  created`, `.status_changed`, `.priority_changed`, `.comment_added`,
  `.agent_assignment_changed`), signed as Zendesk signs: `X-Zendesk-Webhook-Signature` =
  base64 HMAC-SHA256(secret, timestamp + body), `X-Zendesk-Webhook-Signature-Timestamp`.

Delivery is best effort, after the response, as with the WMS.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import httpx

from sandbox.common import dumps
from sandbox.model import Row, stamp

Message = tuple[bytes, dict[str, str]]
LINE_SETS = {
    "salesOrderLines": "salesOrders",
    "salesInvoiceLines": "salesInvoices",
    "salesCreditMemoLines": "salesCreditMemos",
    "salesReturnOrderLines": "salesReturnOrders",
}
ZENDESK_FIELD_EVENTS = {"status": "status_changed", "priority": "priority_changed",
                        "assignee_id": "agent_assignment_changed"}
SUBSCRIPTIONS = uuid.UUID("0b7f5a50-6a0e-4f37-8d6b-1f8a2c9e4d21")


def hex_signature(secret: str, body: bytes) -> str:
    """`sha256=<hex>` of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def zendesk_signature(secret: str, signed_at: str, body: bytes) -> str:
    """Zendesk's signature: base64 HMAC-SHA256 over the timestamp followed by the body."""
    digest = hmac.new(secret.encode(), signed_at.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


async def deliver(url: str, messages: Sequence[Message],
                  transport: httpx.AsyncBaseTransport | None) -> None:
    """POST each message in order; failures are dropped (a consumer catches up by reading)."""
    async with httpx.AsyncClient(transport=transport, timeout=5.0) as client:
        for body, headers in messages:
            try:
                await client.post(url, content=body,
                                  headers={"Content-Type": "application/json", **headers})
            except httpx.HTTPError:
                pass


class ErpChanges:
    """Collects the rows one ERP request changed, then words them as BC notifications."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Row | None, Row | None]] = []

    def observe(self, table: str, old: Row | None, new: Row | None) -> None:
        """A `Table.observer`: remember every put and remove."""
        self.seen.append((table, old, new))

    def committed(self, tables: Mapping[str, Any]) -> list[tuple[str, str, str]]:
        """(entity set, id, changeType) of net changes (a rolled-back batch has none)."""
        first_old: dict[tuple[str, str], Row | None] = {}
        for table, old, new in self.seen:
            row = new or old
            assert row is not None
            first_old.setdefault((table, str(row["id"])), old)
        changes: dict[tuple[str, str], str] = {}
        for (table, row_id), before in first_old.items():
            after = tables[table].get(row_id)
            if after is before:
                continue  # undone by an all-or-nothing batch
            if table in LINE_SETS:
                document = str((after or before or {}).get("documentId"))
                changes.setdefault((LINE_SETS[table], document), "updated")
                continue
            change = "deleted" if after is None else "created" if before is None else "updated"
            changes[(table, row_id)] = change
        return [(entity_set, row_id, change) for (entity_set, row_id), change in changes.items()]


def erp_message(changes: Iterable[tuple[str, str, str]], company_id: str, now: datetime,
                secret: str, client_state: str) -> Message | None:
    """One Business Central notification body for the changes, signed; None when empty."""
    moment = stamp(now)
    value = [{
        "subscriptionId": str(uuid.uuid5(SUBSCRIPTIONS, entity_set)),
        "clientState": client_state,
        "expirationDateTime": stamp(now + timedelta(days=3)),
        "resource": f"api/v2.0/companies({company_id})/{entity_set}({row_id})",
        "changeType": change,
        "lastModifiedDateTime": moment,
    } for entity_set, row_id, change in changes]
    if not value:
        return None
    body = dumps({"value": value})
    return body, {"X-Signature": hex_signature(secret, body)}


def zendesk_messages(result: Mapping[str, Any], created: bool, now: datetime, secret: str,
                     id_factory: Callable[[], str] = lambda: str(uuid.uuid4())) -> list[Message]:
    """Zendesk event webhooks for a ticket write's answer (`{"ticket", "audit"}`)."""
    ticket = result.get("ticket")
    audit = result.get("audit") or {}
    if not isinstance(ticket, dict):
        return []
    events: list[tuple[str, dict[str, Any]]] = []
    if created:
        events.append(("ticket.created", {}))
    for event in audit.get("events", ()):
        if event.get("type") == "Comment" and not created:
            events.append(("ticket.comment_added", {"comment": {
                "id": str(event.get("id")), "body": event.get("body"),
                "is_public": event.get("public"), "author": {"id": str(event.get("author_id"))}}}))
        elif event.get("type") == "Change" and event.get("field_name") in ZENDESK_FIELD_EVENTS:
            events.append((f"ticket.{ZENDESK_FIELD_EVENTS[event['field_name']]}",
                           {"current": _upper(event.get("value")),
                            "previous": _upper(event.get("previous_value"))}))
    signed_at = stamp(now)
    detail = _ticket_detail(ticket)
    messages: list[Message] = []
    for kind, change in events:
        body = dumps({
            "account_id": 1, "detail": detail, "event": change, "id": id_factory(),
            "subject": f"zen:ticket:{ticket['id']}", "time": signed_at,
            "type": f"zen:event-type:{kind}", "zendesk_event_version": "2022-11-06",
        })
        messages.append((body, {
            "X-Zendesk-Webhook-Signature": zendesk_signature(secret, signed_at, body),
            "X-Zendesk-Webhook-Signature-Timestamp": signed_at,
            "X-Zendesk-Webhook-Id": "01SANDBOXWEBHOOK",
            "X-Zendesk-Webhook-Invocation-Id": id_factory(),
        }))
    return messages


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _ticket_detail(ticket: Row) -> dict[str, Any]:
    """The `detail` object of a Zendesk ticket event: ids as strings, statuses upper-case."""
    return {
        "id": str(ticket["id"]), "external_id": ticket.get("external_id"),
        "subject": ticket.get("subject"), "status": _upper(ticket.get("status")),
        "priority": _upper(ticket.get("priority")), "type": _upper(ticket.get("type")),
        "requester_id": str(ticket.get("requester_id")),
        "assignee_id": None if ticket.get("assignee_id") is None else str(ticket["assignee_id"]),
        "tags": ticket.get("tags") or [], "created_at": ticket.get("created_at"),
        "updated_at": ticket.get("updated_at"),
        "via": {"channel": (ticket.get("via") or {}).get("channel")},
    }
