"""Canonical records: what the sources hand to the rest of the app.

Every upstream record is translated into one of these frozen dataclasses in `sources/` and
nowhere else. Canonical statuses sit beside the upstream value they came from
(`source_status`), so a client can always see what the system of record said.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Generic, TypeVar

T = TypeVar("T")


class OrderStatus(Enum):
    """Where an order is in its life, derived from line-level facts."""

    DRAFT = "DRAFT"
    PENDING_APPROVAL = "PENDING_APPROVAL"
    OPEN = "OPEN"
    ON_HOLD = "ON_HOLD"
    PARTIALLY_FULFILLED = "PARTIALLY_FULFILLED"
    FULFILLED = "FULFILLED"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"


class FinancialStatus(Enum):
    """Money state of an order, from its invoices, payments and credit memos."""

    PENDING = "PENDING"
    AUTHORIZED = "AUTHORIZED"
    PARTIALLY_PAID = "PARTIALLY_PAID"
    PAID = "PAID"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"
    VOIDED = "VOIDED"


class FulfillmentStatus(Enum):
    """Shipping state of an order, from shipped quantities and WMS shipments."""

    UNFULFILLED = "UNFULFILLED"
    IN_PROGRESS = "IN_PROGRESS"
    PARTIALLY_FULFILLED = "PARTIALLY_FULFILLED"
    FULFILLED = "FULFILLED"
    ON_HOLD = "ON_HOLD"
    CANCELLED = "CANCELLED"


class InvoiceStatus(Enum):
    """Canonical invoice state (Business Central's status plus remaining amount)."""

    DRAFT = "DRAFT"
    OPEN = "OPEN"
    PARTIALLY_PAID = "PARTIALLY_PAID"
    PAID = "PAID"
    CANCELLED = "CANCELLED"
    CORRECTIVE = "CORRECTIVE"


class CreditMemoStatus(Enum):
    """Canonical credit memo state."""

    DRAFT = "DRAFT"
    POSTED = "POSTED"
    PAID = "PAID"
    CANCELLED = "CANCELLED"


class ShipmentStatus(Enum):
    """Canonical shipment state from the WMS."""

    PENDING = "PENDING"
    IN_PROGRESS = "IN_PROGRESS"
    ON_HOLD = "ON_HOLD"
    SHIPPED = "SHIPPED"
    IN_TRANSIT = "IN_TRANSIT"
    DELIVERED = "DELIVERED"
    EXCEPTION = "EXCEPTION"
    RETURNED = "RETURNED"
    CANCELLED = "CANCELLED"


class ReturnStatus(Enum):
    """Where a return (RMA) is."""

    REQUESTED = "REQUESTED"
    AUTHORIZED = "AUTHORIZED"
    RECEIVED = "RECEIVED"
    COMPLETED = "COMPLETED"
    DECLINED = "DECLINED"
    CANCELLED = "CANCELLED"


class ReturnResolution(Enum):
    """What the customer gets back for a return."""

    REFUND = "REFUND"
    REPLACEMENT = "REPLACEMENT"
    STORE_CREDIT = "STORE_CREDIT"


class ReturnReason(Enum):
    """Why a line comes back."""

    DAMAGED = "DAMAGED"
    DEFECTIVE = "DEFECTIVE"
    WRONG_ITEM = "WRONG_ITEM"
    NOT_AS_DESCRIBED = "NOT_AS_DESCRIBED"
    SIZE_OR_FIT = "SIZE_OR_FIT"
    NO_LONGER_NEEDED = "NO_LONGER_NEEDED"
    OTHER = "OTHER"


class RefundStatus(Enum):
    """Where a refund is."""

    PENDING_APPROVAL = "PENDING_APPROVAL"
    APPROVED = "APPROVED"
    POSTED = "POSTED"
    REJECTED = "REJECTED"
    FAILED = "FAILED"


class CaseStatus(Enum):
    """Canonical case (ticket) state."""

    NEW = "NEW"
    OPEN = "OPEN"
    PENDING = "PENDING"
    ON_HOLD = "ON_HOLD"
    SOLVED = "SOLVED"
    CLOSED = "CLOSED"


class CasePriority(Enum):
    """Case urgency."""

    URGENT = "URGENT"
    HIGH = "HIGH"
    NORMAL = "NORMAL"
    LOW = "LOW"


class LocationKind(Enum):
    """What sort of place holds stock."""

    WAREHOUSE = "WAREHOUSE"
    STORE = "STORE"


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in a currency; amounts are exact decimals."""

    amount: Decimal
    currency_code: str


@dataclass(frozen=True, slots=True)
class Customer:
    """A customer as the ERP knows them."""

    number: str
    erp_id: str
    name: str
    email: str | None
    phone: str | None
    currency_code: str
    credit_limit: Money
    balance: Money
    blocked: bool


@dataclass(frozen=True, slots=True)
class CustomerProfile:
    """The service platform's view of a customer (its end-user), incl. loyalty."""

    user_id: int
    customer_number: str
    name: str
    email: str | None
    phone: str | None
    loyalty_tier: str | None
    loyalty_points: int | None


@dataclass(frozen=True, slots=True)
class OrderLine:
    """One line of an order; `line_number` is the ERP's line sequence."""

    order_number: str
    line_number: int
    sku: str
    description: str
    quantity: int
    unit_price: Money
    amount: Money
    quantity_shipped: int
    quantity_invoiced: int


@dataclass(frozen=True, slots=True)
class Order:
    """A sales order; `archived` orders exist only as their invoices upstream."""

    number: str
    erp_id: str
    customer_number: str
    channel: str | None
    region: str | None
    placed_at: date
    currency_code: str
    subtotal: Money
    tax: Money
    total: Money
    status: OrderStatus
    source_status: str
    lines: tuple[OrderLine, ...]
    archived: bool = False
    etag: str | None = None
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    """One posted invoice line."""

    invoice_number: str
    line_number: int
    sku: str
    description: str
    quantity: int
    unit_price: Money
    amount: Money


@dataclass(frozen=True, slots=True)
class Invoice:
    """A sales invoice; `balance` is what is still owed."""

    number: str
    erp_id: str
    order_number: str | None
    customer_number: str
    status: InvoiceStatus
    source_status: str
    posted_at: date | None
    due_date: date | None
    subtotal: Money
    tax: Money
    total: Money
    balance: Money
    lines: tuple[InvoiceLine, ...] = ()


@dataclass(frozen=True, slots=True)
class CreditMemo:
    """A credit memo; `return_number` is the RMA it settles, if any."""

    number: str
    erp_id: str
    invoice_number: str | None
    customer_number: str
    return_number: str | None
    status: CreditMemoStatus
    source_status: str
    posted_at: date | None
    total: Money
    etag: str | None = None
    reference: str | None = None  # the ERP's externalDocumentNumber, whatever it names


@dataclass(frozen=True, slots=True)
class ShipmentLine:
    """Quantity of one order line in a shipment."""

    sku: str
    quantity: int
    order_line_number: int | None


@dataclass(frozen=True, slots=True)
class Shipment:
    """A WMS shipment of (part of) an order."""

    id: str
    order_number: str
    carrier: str | None
    tracking_number: str | None
    status: ShipmentStatus
    source_status: str
    location_id: str | None
    shipped_at: datetime | None
    delivered_at: datetime | None
    lines: tuple[ShipmentLine, ...]


@dataclass(frozen=True, slots=True)
class ReturnLine:
    """One returned line, pointing at the order line it returns."""

    line_number: int
    order_line_number: int | None
    sku: str
    description: str
    quantity: int
    unit_price: Money
    reason: ReturnReason


@dataclass(frozen=True, slots=True)
class Return:
    """A return (ERP sales return order)."""

    rma_number: str
    erp_id: str
    order_number: str
    customer_number: str
    invoice_number: str | None
    reference: str | None
    status: ReturnStatus
    source_status: str
    resolution: ReturnResolution
    created_at: date
    total: Money
    lines: tuple[ReturnLine, ...]
    etag: str | None = None


@dataclass(frozen=True, slots=True)
class Product:
    """An item from the ERP catalogue."""

    sku: str
    erp_id: str
    name: str
    item_type: str
    category: str | None
    unit_price: Money
    erp_inventory: int | None
    blocked: bool = False


@dataclass(frozen=True, slots=True)
class Location:
    """A WMS location: a warehouse or a store."""

    id: str
    code: str
    name: str
    kind: LocationKind
    region: str | None


@dataclass(frozen=True, slots=True)
class InventoryLevel:
    """Stock of one SKU at one location (WMS truth)."""

    sku: str
    location_id: str
    on_hand: int
    reserved: int
    available: int
    incoming: int
    damaged: int
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class Case:
    """A service case (Zendesk ticket)."""

    id: int
    subject: str
    description: str | None
    status: CaseStatus
    source_status: str
    priority: CasePriority | None
    requester_id: int | None
    order_number: str | None
    channel: str | None
    tags: tuple[str, ...]
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class CaseComment:
    """One entry in a case's timeline."""

    id: int
    case_id: int
    author_id: int | None
    body: str
    public: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """A page of an upstream listing with the upstream's own continuation cursor."""

    items: tuple[T, ...]
    next_cursor: str | None = None
    has_more: bool = False
    extra: dict[str, str] = field(default_factory=dict)
