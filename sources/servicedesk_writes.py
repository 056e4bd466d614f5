"""ServiceDeskWrites: case timeline notes and status changes, on the service desk client's pool.

Zendesk adds a comment through `PUT /api/v2/tickets/{id}.json`; the sandbox, like a careful
integration, honours `Idempotency-Key` there, so a retried note is written once. The case's
cached record is dropped afterwards (its `updated_at` and status moved).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .records import Case, CaseStatus
from .servicedesk import ServiceDeskClient, case

_STATUS = {
    CaseStatus.NEW: "new",
    CaseStatus.OPEN: "open",
    CaseStatus.PENDING: "pending",
    CaseStatus.ON_HOLD: "hold",
    CaseStatus.SOLVED: "solved",
    CaseStatus.CLOSED: "closed",
}


@dataclass(frozen=True, slots=True)
class CaseUpdate:
    """A ticket after an update, with the audit id Zendesk gave the change."""

    case: Case
    audit_id: int | None


class ServiceDeskWrites:
    """Typed async writes to tickets."""

    def __init__(self, client: ServiceDeskClient) -> None:
        self._desk = client

    async def add_note(
        self,
        case_id: int,
        body: str,
        *,
        public: bool = False,
        status: CaseStatus | None = None,
        idempotency_key: str,
    ) -> CaseUpdate:
        """Add a comment to a ticket's timeline (internal unless `public`), optionally moving status."""
        ticket: dict[str, Any] = {"comment": {"body": body, "public": public}}
        if status is not None:
            ticket["status"] = _STATUS[status]
        raw = await self._desk._request_json(
            "PUT", f"/api/v2/tickets/{int(case_id)}.json", json={"ticket": ticket},
            headers={"Idempotency-Key": idempotency_key}, route="PUT ticket",
        )
        updated = self._update(raw)
        self._changed(updated.case)
        return updated

    def _update(self, raw: Any) -> CaseUpdate:
        try:
            audit = raw.get("audit") or {}
            audit_id = audit.get("id")
            return CaseUpdate(case(raw["ticket"]), None if audit_id is None else int(audit_id))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise self._desk._malformed("ticket update", exc) from exc

    def _changed(self, ticket: Case) -> None:
        self._desk.invalidate("case", [ticket.id])
        if ticket.order_number:
            self._desk.invalidate("cases_by_order", [ticket.order_number])
        # The requester's list holds this ticket too; its key is a customer number we may not know.
        self._desk.invalidate("cases_by_customer")
