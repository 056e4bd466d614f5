"""Seed order plans: what happened to each order (shipments, invoices, returns), not records."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sandbox.model import Row
from sandbox.seed_catalog import STORES_FOR_REGION, WAREHOUSE_FOR_REGION, region_of

HISTORY_DAYS = 548  # 18 months before `now`
CHANNELS = ("WEB", "STORE", "PHONE", "MARKETPLACE")
CHANNEL_WEIGHTS = (50, 25, 10, 15)
REASONS = ("DAMAGED", "DEFECTIVE", "WRONG_ITEM", "NOT_AS_DESCRIBED", "SIZE_OR_FIT",
           "NO_LONGER_NEEDED", "OTHER")
REASON_WEIGHTS = (18, 14, 8, 10, 30, 15, 5)
CARRIERS = ("DPD", "Royal Mail", "UPS", "DHL")


def orders_on_day(offset: int) -> int:
    """Random orders placed `offset` days before now."""
    # A function of the offset alone, never of the RNG, so the fixed customer's order
    # numbers are the same for every seed.
    growth = round(1.2 * (HISTORY_DAYS - offset) / HISTORY_DAYS)
    weekend = 1 if offset % 7 in (0, 6) else 0
    return 3 + growth + weekend


def tickets_on_day(offset: int) -> int:
    """Random tickets opened `offset` days before now (seed-independent, like orders)."""
    return 1 + (1 if offset % 4 == 0 else 0)


@dataclass
class LinePlan:
    """One order line as planned."""

    sequence: int
    sku: str
    description: str
    quantity: int
    unit_price: Decimal


@dataclass
class ShipmentPlan:
    """One WMS shipment; shipped_at None means it has not left the building."""

    lines: dict[int, int]
    location_id: str
    carrier: str
    status: str
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    invoiced: bool = True
    payment: str = "paid"  # paid | partial | unpaid | late


@dataclass
class ReturnPlan:
    """A return order against one invoice of the order."""

    created_at: datetime
    invoice_index: int
    lines: dict[int, int]
    reason: str
    resolution: str
    status: str
    credit: str | None  # None, or the credit memo status: Draft | Open | Paid


@dataclass
class OrderPlan:
    """Everything that happened to one sales order."""

    number: str
    customer: Row
    channel: str
    placed_at: datetime
    location_id: str
    lines: list[LinePlan]
    status: str = "Open"
    shipments: list[ShipmentPlan] = field(default_factory=list)
    returns: list[ReturnPlan] = field(default_factory=list)
    cancelled: bool = False
    cancelled_invoice: bool = False
    goodwill_percent: int = 0

    @property
    def invoiced_shipments(self) -> list[ShipmentPlan]:
        """Shipments that were shipped and invoiced, in order."""
        return [s for s in self.shipments if s.shipped_at is not None and s.invoiced]

    @property
    def delivered_at(self) -> datetime | None:
        """When the last unit arrived, if everything did."""
        if not self.shipments or any(s.delivered_at is None for s in self.shipments):
            return None
        return max(s.delivered_at for s in self.shipments if s.delivered_at)


class OrderPlanner:
    """Draws customers, lines and lifecycles for orders from one RNG."""

    def __init__(self, rng: random.Random, horizon: datetime, customers: list[Row],
                 items: list[Row]) -> None:
        self.rng = rng
        self.horizon = horizon
        self.customers = customers[1:]  # the fixed customer's orders are scripted
        self.weights = [min(rng.paretovariate(1.4), 12.0) for _ in self.customers]
        self.items = items

    def new_order(self, number: str, customer: Row, channel: str, placed_at: datetime,
                  line_count: int, quantities: tuple[int, ...] = ()) -> OrderPlan:
        """An order with random lines and the location that fulfils it."""
        rng = self.rng
        region = region_of(customer["city"])
        if channel == "STORE":
            location = rng.choice(STORES_FOR_REGION[region] or STORES_FOR_REGION["SOUTH"])
        else:
            location = WAREHOUSE_FOR_REGION[region]
        lines = []
        for index, item in enumerate(rng.sample(self.items, line_count)):
            quantity = quantities[index] if index < len(quantities) else \
                rng.choices((1, 2, 3, 4), (75, 18, 5, 2))[0]
            lines.append(LinePlan((index + 1) * 10000, item["number"], item["displayName"],
                                  quantity, item["unitPrice"]))
        return OrderPlan(number, customer, channel, placed_at, location, lines)

    def random_order(self, number: str, placed_at: datetime) -> OrderPlan:
        """A random customer's order with a lifecycle fitting its age."""
        rng = self.rng
        customer = rng.choices(self.customers, self.weights)[0]
        channel = rng.choices(CHANNELS, CHANNEL_WEIGHTS)[0]
        if customer["type"] == "Company":
            channel = "PHONE"
        plan = self.new_order(number, customer, channel, placed_at,
                              rng.choices((1, 2, 3, 4, 5), (40, 30, 18, 8, 4))[0])
        self.lifecycle(plan)
        return plan

    def carrier(self, location_id: str) -> str:
        """Stores ship with Royal Mail or DPD; warehouses with anyone."""
        if location_id in WAREHOUSE_FOR_REGION.values():
            return self.rng.choices(CARRIERS, (40, 30, 20, 10))[0]
        return self.rng.choice(("Royal Mail", "DPD"))

    def lifecycle(self, plan: OrderPlan) -> None:
        """Decide shipments, invoicing, payments and returns from the order's age."""
        rng, horizon = self.rng, self.horizon
        age = horizon - plan.placed_at
        all_lines = {line.sequence: line.quantity for line in plan.lines}
        if age > timedelta(days=3) and rng.random() < 0.03:
            plan.cancelled = True
            plan.cancelled_invoice = rng.random() < 0.5
            if rng.random() < 0.5:
                plan.shipments.append(ShipmentPlan(all_lines, plan.location_id,
                                                   self.carrier(plan.location_id), "cancelled"))
            return
        if plan.channel == "PHONE" and age < timedelta(days=2) and rng.random() < 0.25:
            plan.status = rng.choice(("Draft", "In Review"))
            return
        lag = timedelta(hours=rng.randint(2, 8) if plan.channel == "STORE" else rng.randint(3, 40))
        first_ship = plan.placed_at + lag
        if first_ship > horizon:
            self.unshipped(plan, all_lines)
            return
        partial = (age < timedelta(days=6) and rng.random() < 0.12) or rng.random() < 0.02
        shipped_now = self.partial_lines(all_lines) if partial else None
        if shipped_now:
            rest = {seq: qty - shipped_now.get(seq, 0) for seq, qty in all_lines.items()
                    if qty > shipped_now.get(seq, 0)}
            self.ship(plan, shipped_now, first_ship)
            self.unshipped(plan, rest)
        elif len(all_lines) >= 2 and rng.random() < 0.1:
            seqs = sorted(all_lines)
            cut = len(seqs) // 2
            self.ship(plan, {s: all_lines[s] for s in seqs[:cut]}, first_ship)
            second = first_ship + timedelta(hours=rng.randint(24, 72))
            rest = {s: all_lines[s] for s in seqs[cut:]}
            if second > horizon:
                self.unshipped(plan, rest)
            else:
                self.ship(plan, rest, second)
        else:
            self.ship(plan, all_lines, first_ship)
        self.maybe_return(plan)

    def partial_lines(self, lines: dict[int, int]) -> dict[int, int] | None:
        """Quantities of a first, incomplete shipment; None when nothing can be split."""
        shipped = dict(lines)
        short = self.rng.choice(sorted(lines))
        if lines[short] >= 2:
            shipped[short] = self.rng.randint(1, lines[short] - 1)
        elif len(lines) > 1:
            del shipped[short]
        else:
            return None
        return shipped

    def unshipped(self, plan: OrderPlan, lines: dict[int, int]) -> None:
        """A shipment still in the warehouse for what has not left yet."""
        status = self.rng.choices(("pending", "picking", "on_hold"), (55, 38, 7))[0]
        plan.shipments.append(ShipmentPlan(lines, plan.location_id,
                                           self.carrier(plan.location_id), status,
                                           invoiced=False))

    def ship(self, plan: OrderPlan, lines: dict[int, int], shipped_at: datetime) -> None:
        """A shipment that left at shipped_at, with delivery, invoicing and payment."""
        rng, horizon = self.rng, self.horizon
        delivered = shipped_at + timedelta(hours=rng.randint(14, 80))
        if delivered <= horizon:
            status = rng.choices(("delivered", "exception", "returned_to_sender"), (985, 10, 5))[0]
        else:
            status = "shipped" if horizon - shipped_at < timedelta(hours=6) else "in_transit"
        shipment = ShipmentPlan(lines, plan.location_id, self.carrier(plan.location_id), status,
                                shipped_at, delivered if status == "delivered" else None)
        if plan.channel == "PHONE" and horizon - shipped_at < timedelta(days=6) \
                and rng.random() < 0.4:
            shipment.invoiced = False  # invoiced in the next billing run
        if plan.customer["type"] == "Company":
            shipment.payment = rng.choices(("late", "partial", "unpaid"), (90, 5, 5))[0]
        plan.shipments.append(shipment)

    def maybe_return(self, plan: OrderPlan) -> None:
        """Some delivered orders come back, in part, with a refund, credit or replacement."""
        rng, delivered = self.rng, plan.delivered_at
        if delivered is None or not plan.invoiced_shipments:
            return
        if rng.random() < 0.08:
            created = delivered + timedelta(hours=rng.randint(12, 14 * 24))
            if created <= self.horizon:
                plan.returns.append(self.random_return(plan, created))
        elif rng.random() < 0.015:
            plan.goodwill_percent = rng.choice((10, 15, 20))

    def random_return(self, plan: OrderPlan, created: datetime) -> ReturnPlan:
        """A return of some units of one invoice, with a status fitting its age."""
        rng = self.rng
        index = rng.randrange(len(plan.invoiced_shipments))
        invoiced = plan.invoiced_shipments[index].lines
        chosen = rng.sample(sorted(invoiced), rng.randint(1, len(invoiced)))
        lines = {seq: rng.randint(1, invoiced[seq]) for seq in sorted(chosen)}
        resolution = rng.choices(("Refund", "Replacement", "StoreCredit"), (75, 15, 10))[0]
        age = (self.horizon - created).days
        if age >= 10:
            status = rng.choices(("Closed", "Rejected", "Canceled"), (85, 8, 7))[0]
        elif age >= 4:
            status = rng.choices(("Received", "Closed"), (60, 40))[0]
        else:
            status = rng.choices(("Released", "Draft"), (70, 30))[0]
        credit = None
        if status == "Closed" and resolution != "Replacement":
            credit = "Paid" if resolution == "Refund" else "Open"
        elif status == "Received" and resolution == "Refund" and rng.random() < 0.5:
            credit = "Draft"
        reason = rng.choices(REASONS, REASON_WEIGHTS)[0]
        return ReturnPlan(created, index, lines, reason, resolution, status, credit)
