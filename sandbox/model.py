"""Sandbox data model: indexed tables, the seeded data set, money, ids and etags."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

Row = dict[str, Any]
CENT = Decimal("0.01")
VAT_PERCENT = Decimal("20")
# A fixed namespace keeps GUIDs stable across seeds: the id of "SO-100001" never changes.
NAMESPACE = uuid.UUID("6f1d7c2e-5b1a-4c3e-9a57-0c9e2f7b4a10")


def money(value: Decimal | int | str) -> Decimal:
    """Round to cents, half up, as an ERP posts amounts."""
    return Decimal(value).quantize(CENT, ROUND_HALF_UP)


def tax_of(amount: Decimal, percent: Decimal = VAT_PERCENT) -> Decimal:
    """VAT on a net amount, rounded per line as Business Central does."""
    return money(amount * percent / 100)


def guid(kind: str, key: str) -> str:
    """Deterministic GUID of a natural key (uuid5)."""
    return str(uuid.uuid5(NAMESPACE, f"{kind}:{key}"))


def etag(version: int) -> str:
    """Weak etag in Business Central's shape: base64 of a quoted row-version string."""
    token = base64.b64encode(f"'44;{version}1;'".encode()).decode()
    return f'W/"{token}"'


def stamp(moment: datetime) -> str:
    """ISO 8601 UTC timestamp with a Z suffix (naive datetimes are UTC)."""
    return moment.replace(microsecond=0, tzinfo=None).isoformat() + "Z"


class Journal:
    """Undo log for all-or-nothing ERP batches; inactive unless a batch opens it."""

    def __init__(self) -> None:
        self.undo: list[Callable[[], None]] | None = None

    def record(self, action: Callable[[], None]) -> None:
        """Remember how to revert one change while a transaction is open."""
        if self.undo is not None:
            self.undo.append(action)

    def begin(self) -> None:
        """Open a transaction."""
        self.undo = []

    def commit(self) -> None:
        """Forget the undo log."""
        self.undo = None

    def rollback(self) -> None:
        """Revert every change since begin(), newest first."""
        actions, self.undo = self.undo or [], None
        for action in reversed(actions):
            action()


class Table:
    """Rows of one entity set keyed by id, in primary-key order, with secondary indexes."""

    # Rows are replaced, never mutated in place, so a response, an undo entry or a cloned
    # table can share a row safely.
    # Told of every put and remove as (table name, old row, new row); webhooks use it.
    observer: Callable[[str, Row | None, Row | None], None] | None = None

    def __init__(self, name: str, fields: Iterable[str], index_fields: Iterable[str],
                 journal: Journal) -> None:
        self.name = name
        self.fields = frozenset(fields)
        self.rows: dict[str, Row] = {}
        self.positions: dict[str, int] = {}
        self.indexes: dict[str, dict[Any, dict[str, None]]] = {f: {} for f in index_fields}
        self._journal = journal
        self._next_position = 0

    def __len__(self) -> int:
        return len(self.rows)

    def get(self, row_id: str) -> Row | None:
        """The row with this id, or None."""
        return self.rows.get(row_id)

    def put(self, row: Row) -> None:
        """Insert or replace a row (keeps its position when replacing)."""
        row_id = row["id"]
        old = self.rows.get(row_id)
        self._place(row_id, row)
        self._journal.record(lambda: self._place(row_id, old))
        if self.observer is not None:
            self.observer(self.name, old, row)

    def remove(self, row_id: str) -> None:
        """Delete a row."""
        old = self.rows.get(row_id)
        self._place(row_id, None)
        self._journal.record(lambda: self._place(row_id, old))
        if self.observer is not None:
            self.observer(self.name, old, None)

    def indexed(self, field_name: str) -> bool:
        """Whether equality on this field can be answered from an index."""
        return field_name == "id" or field_name in self.indexes

    def lookup(self, field_name: str, value: Any) -> list[Row]:
        """Rows whose indexed field equals value, in primary-key order."""
        if field_name == "id":
            row = self.rows.get(value) if isinstance(value, str) else None
            return [row] if row is not None else []
        ids = self.indexes[field_name].get(value, {})
        return [self.rows[i] for i in ids]

    def first(self, field_name: str, value: Any) -> Row | None:
        """The first row whose indexed field equals value."""
        rows = self.lookup(field_name, value)
        return rows[0] if rows else None

    def ordered(self, ids: Iterable[str]) -> list[Row]:
        """Rows for these ids in primary-key order (unknown ids skipped)."""
        known = [i for i in set(ids) if i in self.rows]
        known.sort(key=self.positions.__getitem__)
        return [self.rows[i] for i in known]

    def scan(self) -> Iterator[Row]:
        """All rows in primary-key order."""
        return iter(self.rows.values())

    def clone(self, journal: Journal) -> Table:
        """An independent copy sharing the (never mutated) row dicts."""
        copy = Table(self.name, self.fields, (), journal)
        copy.rows, copy.positions = dict(self.rows), dict(self.positions)
        copy.indexes = {name: {value: dict(ids) for value, ids in index.items()}
                        for name, index in self.indexes.items()}
        copy._next_position = self._next_position
        return copy

    def _place(self, row_id: str, row: Row | None) -> None:
        old = self.rows.get(row_id)
        if old is not None:
            for name, index in self.indexes.items():
                bucket = index.get(old.get(name))
                if bucket is not None:
                    bucket.pop(row_id, None)
        if row is None:
            self.rows.pop(row_id, None)
            return
        if row_id not in self.positions:
            self.positions[row_id] = self._next_position
            self._next_position += 1
        reinserted = old is None and self._next_position - 1 != self.positions[row_id]
        self.rows[row_id] = row
        if reinserted:
            # An undone delete must come back at its old place for keyset paging.
            self.rows = dict(sorted(self.rows.items(), key=lambda kv: self.positions[kv[0]]))
        for name, index in self.indexes.items():
            index.setdefault(row.get(name), {})[row_id] = None


@dataclass
class SandboxData:
    """The whole seeded world: ERP tables, WMS stock and shipments, service-desk tickets."""

    seed: int
    now: date
    journal: Journal
    company: Row
    erp: dict[str, Table]
    locations: list[Row] = field(default_factory=list)
    inventory: dict[str, dict[str, Row]] = field(default_factory=dict)
    shipments: dict[str, Row] = field(default_factory=dict)
    shipments_by_order: dict[str, list[str]] = field(default_factory=dict)
    reservations: dict[str, Row] = field(default_factory=dict)
    inbound_returns: dict[str, Row] = field(default_factory=dict)
    users: dict[int, Row] = field(default_factory=dict)
    users_by_external_id: dict[str, int] = field(default_factory=dict)
    tickets: dict[int, Row] = field(default_factory=dict)
    tickets_by_external_id: dict[str, list[int]] = field(default_factory=dict)
    tickets_by_requester: dict[int, list[int]] = field(default_factory=dict)
    comments: dict[int, list[Row]] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    fixtures: dict[str, str] = field(default_factory=dict)

    def clone(self) -> SandboxData:
        """An independent copy: writes to it never show in the original."""
        # ERP rows are replaced rather than mutated, so tables share them; WMS and
        # service-desk records are updated in place, so those are copied.
        journal = Journal()
        return SandboxData(
            seed=self.seed, now=self.now, journal=journal, company=dict(self.company),
            erp={name: table.clone(journal) for name, table in self.erp.items()},
            locations=[dict(loc) for loc in self.locations],
            inventory={sku: {loc: dict(level) for loc, level in levels.items()}
                       for sku, levels in self.inventory.items()},
            shipments={k: dict(v) for k, v in self.shipments.items()},
            shipments_by_order={k: list(v) for k, v in self.shipments_by_order.items()},
            reservations={k: dict(v) for k, v in self.reservations.items()},
            inbound_returns={k: dict(v) for k, v in self.inbound_returns.items()},
            users={k: dict(v) for k, v in self.users.items()},
            users_by_external_id=dict(self.users_by_external_id),
            tickets={k: dict(v) for k, v in self.tickets.items()},
            tickets_by_external_id={k: list(v) for k, v in self.tickets_by_external_id.items()},
            tickets_by_requester={k: list(v) for k, v in self.tickets_by_requester.items()},
            comments={k: list(v) for k, v in self.comments.items()},
            counters=dict(self.counters), fixtures=dict(self.fixtures))

    def next_number(self, kind: str) -> int:
        """Next value of a document counter; undone with the batch that drew it."""
        value = self.counters[kind] + 1
        self.counters[kind] = value
        self.journal.record(lambda: self.counters.__setitem__(kind, value - 1))
        return value

    def next_etag(self) -> str:
        """A fresh etag: every write bumps the row version."""
        return etag(self.next_number("version"))

    def index_ticket(self, ticket: Row) -> None:
        """Register a new ticket in the lookup maps."""
        self.tickets[ticket["id"]] = ticket
        if ticket["external_id"]:
            self.tickets_by_external_id.setdefault(ticket["external_id"], []).append(ticket["id"])
        self.tickets_by_requester.setdefault(ticket["requester_id"], []).append(ticket["id"])
        self.comments.setdefault(ticket["id"], [])


# Field lists of every ERP entity set: the $filter/$select vocabulary and the seed's shape.
ERP_FIELDS: dict[str, tuple[str, ...]] = {
    "customers": (
        "id", "number", "displayName", "type", "email", "phoneNumber", "addressLine1", "city",
        "country", "currencyCode", "creditLimit", "balanceDue", "blocked",
        "lastModifiedDateTime"),
    "items": (
        "id", "number", "displayName", "type", "itemCategoryCode", "baseUnitOfMeasureCode",
        "gtin", "unitPrice", "unitCost", "inventory", "blocked", "lastModifiedDateTime"),
    "salesOrders": (
        "id", "number", "externalDocumentNumber", "orderDate", "customerId", "customerNumber",
        "customerName", "currencyCode", "shortcutDimension1Code", "shortcutDimension2Code",
        "status", "fullyShipped", "totalAmountExcludingTax", "totalTaxAmount",
        "totalAmountIncludingTax", "lastModifiedDateTime"),
    "salesOrderLines": (
        "id", "documentId", "sequence", "itemId", "lineType", "lineObjectNumber",
        "description", "quantity", "unitPrice", "taxPercent", "amountExcludingTax",
        "totalTaxAmount", "amountIncludingTax", "shippedQuantity", "invoicedQuantity"),
    "salesInvoices": (
        "id", "number", "externalDocumentNumber", "invoiceDate", "postingDate", "dueDate",
        "customerId", "customerNumber", "customerName", "orderId", "orderNumber",
        "shortcutDimension1Code", "shortcutDimension2Code", "currencyCode",
        "totalAmountExcludingTax", "totalTaxAmount", "totalAmountIncludingTax",
        "remainingAmount", "status", "lastModifiedDateTime"),
    "salesInvoiceLines": (
        "id", "documentId", "sequence", "lineObjectNumber", "description", "quantity",
        "unitPrice", "taxPercent", "amountExcludingTax", "totalTaxAmount",
        "amountIncludingTax"),
    "salesCreditMemos": (
        "id", "number", "externalDocumentNumber", "creditMemoDate", "postingDate", "dueDate",
        "customerId", "customerNumber", "invoiceId", "invoiceNumber", "customerReturnReasonId",
        "currencyCode", "totalAmountExcludingTax", "totalTaxAmount", "totalAmountIncludingTax",
        "status", "lastModifiedDateTime"),
    "salesCreditMemoLines": (
        "id", "documentId", "sequence", "lineObjectNumber", "description", "quantity",
        "unitPrice", "taxPercent", "amountExcludingTax", "totalTaxAmount",
        "amountIncludingTax"),
    "salesReturnOrders": (
        "id", "number", "externalDocumentNumber", "documentDate", "customerId",
        "customerNumber", "orderNumber", "invoiceNumber", "returnResolution", "status",
        "currencyCode", "totalAmountIncludingTax", "lastModifiedDateTime"),
    "salesReturnOrderLines": (
        "id", "documentId", "sequence", "lineObjectNumber", "description", "quantity",
        "unitPrice", "amountIncludingTax", "returnReasonCode", "orderLineSequence"),
    "customerPaymentJournals": ("id", "code", "displayName", "lastModifiedDateTime"),
    "customerPayments": (
        "id", "journalId", "lineNumber", "customerId", "customerNumber", "postingDate",
        "documentNumber", "amount", "appliesToInvoiceId", "appliesToInvoiceNumber",
        "description", "lastModifiedDateTime"),
}

ERP_INDEXES: dict[str, tuple[str, ...]] = {
    "customers": ("number", "email"),
    "items": ("number",),
    "salesOrders": ("number", "customerNumber", "customerId", "externalDocumentNumber"),
    "salesOrderLines": ("documentId",),
    "salesInvoices": ("number", "customerNumber", "customerId", "orderNumber", "orderId"),
    "salesInvoiceLines": ("documentId",),
    "salesCreditMemos": ("number", "customerNumber", "invoiceNumber", "invoiceId",
                         "externalDocumentNumber"),
    "salesCreditMemoLines": ("documentId",),
    "salesReturnOrders": ("number", "customerNumber", "orderNumber", "externalDocumentNumber"),
    "salesReturnOrderLines": ("documentId",),
    "customerPaymentJournals": ("code",),
    "customerPayments": ("journalId", "customerNumber", "appliesToInvoiceNumber"),
}


def empty_erp(journal: Journal) -> dict[str, Table]:
    """One empty indexed table per ERP entity set."""
    return {name: Table(name, fields, ERP_INDEXES[name], journal)
            for name, fields in ERP_FIELDS.items()}


POSTED_CREDIT_STATUSES = ("Open", "Paid")


def invoice_remaining(erp: dict[str, Table], invoice: Row) -> Decimal:
    """remainingAmount = total − payments − posted credit memos, never below zero."""
    if invoice["status"] == "Canceled":
        return money(0)
    paid = sum((p["amount"] for p in erp["customerPayments"].lookup(
        "appliesToInvoiceNumber", invoice["number"])), Decimal(0))
    credited = sum((c["totalAmountIncludingTax"] for c in erp["salesCreditMemos"].lookup(
        "invoiceNumber", invoice["number"]) if c["status"] in POSTED_CREDIT_STATUSES), Decimal(0))
    return money(max(Decimal(0), invoice["totalAmountIncludingTax"] - paid - credited))


def posted_credits(erp: dict[str, Table], invoice_number: str) -> Decimal:
    """Sum of posted (Open or Paid) credit memos against an invoice."""
    return money(sum((c["totalAmountIncludingTax"] for c in erp["salesCreditMemos"].lookup(
        "invoiceNumber", invoice_number) if c["status"] in POSTED_CREDIT_STATUSES), Decimal(0)))
