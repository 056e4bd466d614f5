"""Refunds as the orchestrator records them: amount, status, who asked and who approved.

The ERP holds the money truth (the credit memo); who requested and who approved a refund
exists only here, so the graph's `Refund` reads this record and follows `credit_memo_number`
to the ERP.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from sources.records import RefundStatus

from .db import Database, refunds
from .events import EventBus


@dataclass(frozen=True, slots=True)
class RefundRecord:
    """One refund (of a return, or a goodwill refund against an order)."""

    id: str
    workflow_id: str
    order_number: str
    invoice_number: str | None
    return_number: str | None
    case_id: int | None
    amount: Decimal
    currency_code: str
    reason: str | None
    status: RefundStatus
    credit_memo_number: str | None
    requested_by: str | None
    approved_by: str | None
    decision_note: str | None
    requested_at: datetime
    decided_at: datetime | None
    posted_at: datetime | None


def refund_id_for(workflow_id: str) -> str:
    """A refund's id, derived from its workflow so a replayed step names the same refund."""
    return "RF-" + hashlib.sha256(workflow_id.encode()).hexdigest()[:12].upper()


class RefundStore:
    """Reads and writes of refund records; changes publish `refund:<id>`."""

    def __init__(self, db: Database, bus: EventBus) -> None:
        self._db = db
        self._bus = bus

    async def create(
        self,
        *,
        refund_id: str,
        workflow_id: str,
        order_number: str,
        invoice_number: str | None,
        return_number: str | None,
        case_id: int | None,
        amount: Decimal,
        currency_code: str,
        reason: str | None,
        status: RefundStatus,
        requested_by: str | None,
        credit_memo_number: str | None = None,
    ) -> None:
        """Insert the refund unless it exists (a step re-run after a crash inserts nothing)."""
        row = {
            "id": refund_id, "workflow_id": workflow_id, "order_number": order_number,
            "invoice_number": invoice_number, "return_number": return_number, "case_id": case_id,
            "amount": str(amount), "currency_code": currency_code, "reason": reason,
            "status": status.value, "requested_by": requested_by, "requested_at": datetime.now(UTC),
            "credit_memo_number": credit_memo_number,
        }
        try:
            await self._db.run(lambda c: c.execute(sa.insert(refunds).values(**row)))
        except sa.exc.IntegrityError:
            return
        self._bus.publish(f"refund:{refund_id}", None)

    async def update(self, refund_id: str, **values: Any) -> None:
        """Change fields of a refund (status given as RefundStatus); publishes `refund:<id>`."""
        clean = {k: (v.value if isinstance(v, RefundStatus) else v) for k, v in values.items()}
        await self._db.run(
            lambda c: c.execute(sa.update(refunds).where(refunds.c.id == refund_id).values(**clean))
        )
        self._bus.publish(f"refund:{refund_id}", None)

    async def get(self, refund_id: str) -> RefundRecord | None:
        """One refund, or None."""
        return (await self.get_many([refund_id])).get(refund_id)

    async def get_many(self, refund_ids: Sequence[str]) -> dict[str, RefundRecord]:
        """Refunds by id (missing ids absent)."""
        ids = list(dict.fromkeys(refund_ids))
        if not ids:
            return {}
        rows = await self._select(refunds.c.id.in_(ids))
        return {row.id: row for row in rows}

    async def by_return_numbers(self, numbers: Sequence[str]) -> dict[str, list[RefundRecord]]:
        """Refunds of each return (RMA number), oldest first."""
        rows = await self._select(refunds.c.return_number.in_(list(numbers)))
        grouped: dict[str, list[RefundRecord]] = {}
        for row in rows:
            grouped.setdefault(row.return_number or "", []).append(row)
        return grouped

    async def by_order_numbers(self, numbers: Sequence[str]) -> dict[str, list[RefundRecord]]:
        """Refunds against each order, oldest first."""
        rows = await self._select(refunds.c.order_number.in_(list(numbers)))
        grouped: dict[str, list[RefundRecord]] = {}
        for row in rows:
            grouped.setdefault(row.order_number, []).append(row)
        return grouped

    async def by_credit_memo_numbers(self, numbers: Sequence[str]) -> dict[str, RefundRecord]:
        """Refunds by the number of the credit memo carrying them (the graph's Refund id)."""
        rows = await self._select(refunds.c.credit_memo_number.in_(list(numbers)))
        return {row.credit_memo_number: row for row in rows if row.credit_memo_number}

    async def by_workflow(self, workflow_id: str) -> RefundRecord | None:
        """The refund a workflow created, if any."""
        rows = await self._select(refunds.c.workflow_id == workflow_id)
        return rows[0] if rows else None

    async def _select(self, condition: Any) -> list[RefundRecord]:
        query = sa.select(refunds).where(condition).order_by(refunds.c.requested_at)

        def read(c: Connection) -> list[Mapping[str, Any]]:
            return [dict(row) for row in c.execute(query).mappings().all()]

        return [_record(row) for row in await self._db.run(read)]


def _record(row: Mapping[str, Any]) -> RefundRecord:
    return RefundRecord(
        id=row["id"],
        workflow_id=row["workflow_id"],
        order_number=row["order_number"],
        invoice_number=row["invoice_number"],
        return_number=row["return_number"],
        case_id=row["case_id"],
        amount=Decimal(row["amount"]),
        currency_code=row["currency_code"],
        reason=row["reason"],
        status=RefundStatus(row["status"]),
        credit_memo_number=row["credit_memo_number"],
        requested_by=row["requested_by"],
        approved_by=row["approved_by"],
        decision_note=row["decision_note"],
        requested_at=_aware(row["requested_at"]),
        decided_at=_aware(row["decided_at"]) if row["decided_at"] else None,
        posted_at=_aware(row["posted_at"]) if row["posted_at"] else None,
    )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
