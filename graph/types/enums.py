"""The canonical enums, exposed once for every domain that filters or reports by them.

They wrap the enums of `sources/records.py` in place (the same Python classes, so resolvers
hand the records' values straight through); each value is described for GraphiQL. The domain modules
re-export the ones they own. Workflow enums are defined here: the orchestrator reports names.
"""

from __future__ import annotations

from enum import Enum

from sources.records import (
    CasePriority,
    CaseStatus,
    CreditMemoStatus,
    FinancialStatus,
    FulfillmentStatus,
    InvoiceStatus,
    LocationKind,
    OrderStatus,
    RefundStatus,
    ReturnReason,
    ReturnResolution,
    ReturnStatus,
    ShipmentStatus,
)

from .common import describe_enum

__all__ = [
    "CasePriority",
    "CaseStatus",
    "CreditMemoStatus",
    "FinancialStatus",
    "FulfillmentStatus",
    "InvoiceStatus",
    "LocationKind",
    "OrderStatus",
    "RefundStatus",
    "ReturnReason",
    "ReturnResolution",
    "ReturnStatus",
    "ShipmentStatus",
    "WorkflowStatus",
    "WorkflowStepStatus",
]

describe_enum(
    OrderStatus,
    "Where an order is in its life, derived from line-level facts (the ERP's header flags lie "
    "about partial states).",
    {
        "DRAFT": "Being prepared in the ERP; not yet placed.",
        "PENDING_APPROVAL": "Placed but waiting for approval in the ERP (In Review).",
        "OPEN": "Placed and released; nothing has shipped yet.",
        "ON_HOLD": "Held; nothing will ship until the hold is lifted.",
        "PARTIALLY_FULFILLED": "Some, but not all, ordered units have shipped.",
        "FULFILLED": "Every ordered unit has shipped; invoicing may still be open.",
        "COMPLETED": "Shipped and invoiced in full; the ERP archived the order.",
        "CANCELLED": "Cancelled; nothing more will ship.",
    },
)

describe_enum(
    FinancialStatus,
    "Money state of an order, from its invoices' remaining amounts and posted credit memos.",
    {
        "PENDING": "Nothing invoiced yet, or invoiced and nothing paid.",
        "AUTHORIZED": "Payment authorised but not captured.",
        "PARTIALLY_PAID": "Part of the invoiced amount has been paid.",
        "PAID": "Every invoice is paid in full.",
        "PARTIALLY_REFUNDED": "Posted credit memos refund part of what was invoiced.",
        "REFUNDED": "Posted credit memos refund everything that was invoiced.",
        "VOIDED": "Every invoice was cancelled.",
    },
)

describe_enum(
    FulfillmentStatus,
    "Shipping state of an order, from ERP shipped quantities and WMS shipments.",
    {
        "UNFULFILLED": "Nothing has shipped and no shipment is being prepared.",
        "IN_PROGRESS": "A shipment is being picked or prepared; nothing has left yet.",
        "PARTIALLY_FULFILLED": "Some ordered units have left the warehouse.",
        "FULFILLED": "Every ordered unit has left the warehouse.",
        "ON_HOLD": "A shipment is on hold in the WMS.",
        "CANCELLED": "The order was cancelled.",
    },
)

describe_enum(
    InvoiceStatus,
    "Canonical invoice state: the ERP status corrected by the remaining amount.",
    {
        "DRAFT": "Not yet posted.",
        "OPEN": "Posted and nothing paid yet.",
        "PARTIALLY_PAID": "Posted and partly paid (the ERP still says Open).",
        "PAID": "Paid in full.",
        "CANCELLED": "Cancelled.",
        "CORRECTIVE": "A corrective invoice.",
    },
)

describe_enum(
    CreditMemoStatus,
    "Canonical credit memo state.",
    {
        "DRAFT": "Created, not yet posted; no money has moved.",
        "POSTED": "Posted: the credit reduces what the customer owes.",
        "PAID": "Posted and paid out.",
        "CANCELLED": "Cancelled before posting.",
    },
)

describe_enum(
    ShipmentStatus,
    "Canonical shipment state from the WMS.",
    {
        "PENDING": "Created, not yet being picked.",
        "IN_PROGRESS": "Being picked and packed.",
        "ON_HOLD": "Held in the warehouse.",
        "SHIPPED": "Handed to the carrier.",
        "IN_TRANSIT": "On its way.",
        "DELIVERED": "Delivered to the customer.",
        "EXCEPTION": "The carrier reported a problem.",
        "RETURNED": "Returned to sender by the carrier.",
        "CANCELLED": "Cancelled before it left.",
    },
)

describe_enum(
    ReturnStatus,
    "Where a return (RMA) is.",
    {
        "REQUESTED": "Requested; waiting to be authorised.",
        "AUTHORIZED": "Authorised; the goods may be sent back.",
        "RECEIVED": "The goods arrived back.",
        "COMPLETED": "Settled: a credit memo was posted or the replacement sent.",
        "DECLINED": "Refused.",
        "CANCELLED": "Cancelled; the goods stay with the customer.",
    },
)

describe_enum(
    ReturnResolution,
    "What the customer gets back for a return.",
    {
        "REFUND": "Money back to the original payment.",
        "REPLACEMENT": "The same item sent again.",
        "STORE_CREDIT": "Credit to spend later.",
    },
)

describe_enum(
    ReturnReason,
    "Why a line comes back.",
    {
        "DAMAGED": "Arrived damaged.",
        "DEFECTIVE": "Does not work.",
        "WRONG_ITEM": "Not what was ordered.",
        "NOT_AS_DESCRIBED": "Differs from its description.",
        "SIZE_OR_FIT": "Wrong size or fit.",
        "NO_LONGER_NEEDED": "The customer changed their mind.",
        "OTHER": "Any other reason.",
    },
)

describe_enum(
    RefundStatus,
    "Where a refund is.",
    {
        "PENDING_APPROVAL": "Over the approval threshold; waiting for a supervisor.",
        "APPROVED": "Approved; the credit memo is not posted yet.",
        "POSTED": "The credit memo is posted; the money is on its way back.",
        "REJECTED": "Refused, or its credit memo was cancelled.",
        "FAILED": "Posting failed; see the workflow.",
    },
)

describe_enum(
    CaseStatus,
    "Canonical case (ticket) state.",
    {
        "NEW": "Not yet looked at.",
        "OPEN": "Being worked on by an agent.",
        "PENDING": "Waiting for the customer.",
        "ON_HOLD": "Waiting for a third party.",
        "SOLVED": "Solved; reopens if the customer replies.",
        "CLOSED": "Closed for good.",
    },
)

describe_enum(
    CasePriority,
    "How urgent a case is.",
    {
        "URGENT": "Needs attention now.",
        "HIGH": "Before normal work.",
        "NORMAL": "In turn.",
        "LOW": "When there is time.",
    },
)

describe_enum(
    LocationKind,
    "What sort of place holds stock.",
    {"WAREHOUSE": "A distribution centre.", "STORE": "A retail store."},
)


class WorkflowStatus(Enum):
    """Where an orchestrator workflow is."""

    RUNNING = "RUNNING"
    AWAITING_APPROVAL = "AWAITING_APPROVAL"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    COMPENSATED = "COMPENSATED"
    CANCELLED = "CANCELLED"


describe_enum(
    WorkflowStatus,
    "Where a workflow is.",
    {
        "RUNNING": "Steps are running.",
        "AWAITING_APPROVAL": "Waiting for a supervisor's approveRefund.",
        "COMPLETED": "Every step completed.",
        "FAILED": "A step failed and could not be compensated completely.",
        "COMPENSATED": "A step failed and the completed steps were undone.",
        "CANCELLED": "Cancelled before it completed.",
    },
)


class WorkflowStepStatus(Enum):
    """Where one step of a workflow is."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    WAITING = "WAITING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    COMPENSATING = "COMPENSATING"
    COMPENSATED = "COMPENSATED"
    COMPENSATION_FAILED = "COMPENSATION_FAILED"
    SKIPPED = "SKIPPED"


describe_enum(
    WorkflowStepStatus,
    "Where one step of a workflow is.",
    {
        "PENDING": "Not started yet.",
        "RUNNING": "Calling its system of record (possibly retrying).",
        "WAITING": "Waiting for a person (a supervisor's approveRefund).",
        "COMPLETED": "Done.",
        "FAILED": "Gave up after its retries.",
        "COMPENSATING": "Being undone because a later step failed.",
        "COMPENSATED": "Done, then undone because a later step failed.",
        "COMPENSATION_FAILED": "Could not be undone; needs a person to look at it.",
        "SKIPPED": "Not needed for this workflow's input.",
    },
)
