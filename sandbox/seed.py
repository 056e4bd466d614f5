"""Deterministic seed of the three upstreams: generate() and the FIXTURES it guarantees."""

from __future__ import annotations

import gc
import random
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sandbox.model import Journal, Row, SandboxData, empty_erp, guid, stamp
from sandbox.seed_catalog import build_customers, build_items, build_locations, build_stock
from sandbox.seed_ledger import Ledger
from sandbox.seed_orders import (
    HISTORY_DAYS,
    OrderPlan,
    OrderPlanner,
    ReturnPlan,
    ShipmentPlan,
    orders_on_day,
    tickets_on_day,
)
from sandbox.seed_service import (
    ID_STRIDE,
    USER_BASE,
    TicketPlan,
    add_ticket,
    build_users,
    random_ticket,
)

# Ada Lovelace's orders: (days before now, channel, role). Each is the first order of its day,
# and the number of orders per day does not depend on the seed, so her order numbers are the
# same for every seed (see FIXTURES).
ADA_ORDERS: tuple[tuple[int, str, str], ...] = (
    (520, "WEB", "history"), (430, "STORE", "history"), (365, "MARKETPLACE", "history"),
    (300, "PHONE", "cancelled_order"), (240, "WEB", "split_shipment_order"),
    (180, "STORE", "history"), (120, "WEB", "refunded_order"),
    (75, "PHONE", "partially_paid_order"), (60, "WEB", "expired_order"),
    (45, "MARKETPLACE", "partially_refunded_order"), (20, "STORE", "history"),
    (8, "WEB", "delivered_order"), (4, "WEB", "partially_shipped_order"),
    (1, "PHONE", "open_order"),
)
# Her tickets: (days before now, order role, situation, status, priority, fixture key).
ADA_TICKETS: tuple[tuple[int, str, str, str, str, str], ...] = (
    (41, "partially_refunded_order", "damaged", "solved", "normal", "solved_ticket_id"),
    (2, "delivered_order", "damaged", "open", "high", "open_ticket_id"),
)
FIRST_ORDER, FIRST_TICKET = 100_000, 1_000


def _fixtures() -> dict[str, str]:
    """Fixture record numbers, computed from the seed-independent daily volumes."""
    fixtures = {"customer": "C-10001", "customer_email": "ada.lovelace@example.com",
                "customer_user_id": str(USER_BASE + ID_STRIDE)}
    ada_orders = {offset: role for offset, _, role in ADA_ORDERS}
    ada_tickets = {offset: key for offset, *_, key in ADA_TICKETS}
    order, ticket = FIRST_ORDER, FIRST_TICKET
    for offset in range(HISTORY_DAYS - 1, -1, -1):
        if offset in ada_orders:
            order += 1
            if ada_orders[offset] != "history":
                fixtures[ada_orders[offset]] = f"SO-{order}"
        order += orders_on_day(offset)
        if offset in ada_tickets:
            ticket += 1
            fixtures[ada_tickets[offset]] = str(ticket)
        ticket += tickets_on_day(offset)
    fixtures["ticket_order"] = fixtures["delivered_order"]
    return fixtures


FIXTURES: dict[str, str] = _fixtures()


def _day(horizon: datetime, offset: int) -> datetime:
    return datetime.combine(horizon.date() - timedelta(days=offset), time())


def _ada_order(planner: OrderPlanner, ada: Row, number: str, offset: int, channel: str,
               role: str, horizon: datetime) -> OrderPlan:
    """One of the fixed customer's orders, with a scripted rather than random lifecycle."""
    quantities = {"delivered_order": (1, 2, 1), "partially_shipped_order": (1, 2, 1),
                  "partially_refunded_order": (1, 1, 2), "split_shipment_order": (1, 1, 1),
                  "open_order": (1, 2), "refunded_order": (1,)}.get(role, (1, 2))
    placed = _day(horizon, offset) + timedelta(hours=6, minutes=15)
    plan = planner.new_order(number, ada, channel, placed, len(quantities), quantities)
    every = {line.sequence: line.quantity for line in plan.lines}
    location, carrier = plan.location_id, planner.carrier(plan.location_id)

    def shipped(lines: dict[int, int], ship_day: int, delivery_day: int | None) -> ShipmentPlan:
        delivered = _day(horizon, delivery_day) + timedelta(hours=11) \
            if delivery_day is not None else None
        return ShipmentPlan(lines, location, carrier, "delivered" if delivered else "in_transit",
                            _day(horizon, ship_day) + timedelta(hours=15), delivered)

    if role == "cancelled_order":
        plan.cancelled, plan.cancelled_invoice = True, True
        plan.shipments.append(ShipmentPlan(every, location, carrier, "cancelled", invoiced=False))
    elif role == "open_order":
        plan.shipments.append(ShipmentPlan(every, location, carrier, "picking", invoiced=False))
    elif role == "partially_shipped_order":
        plan.shipments.append(shipped({10000: 1, 20000: 1}, offset - 2, None))
        plan.shipments.append(ShipmentPlan({20000: 1, 30000: 1}, location, carrier, "pending",
                                           invoiced=False))
    elif role == "split_shipment_order":
        plan.shipments.append(shipped({10000: 1}, offset - 1, offset - 3))
        plan.shipments.append(shipped({20000: 1, 30000: 1}, offset - 4, offset - 6))
    elif role == "delivered_order":
        plan.shipments.append(shipped(every, offset - 1, offset - 3))
    elif role == "expired_order":
        plan.shipments.append(shipped(every, offset - 1, offset - 4))
    else:
        plan.shipments.append(shipped(every, offset - 1, offset - 3))
    if role == "partially_paid_order":
        plan.shipments[0].payment = "partial"
    if role in ("refunded_order", "partially_refunded_order"):
        returned = every if role == "refunded_order" else {10000: 1}
        plan.returns.append(ReturnPlan(_day(horizon, offset - 6) + timedelta(hours=10), 0,
                                       returned, "DAMAGED", "Refund", "Closed", "Paid"))
    return plan


_PRISTINE: dict[tuple[int, date], SandboxData] = {}


def generate(seed: int = 42, now: date | None = None) -> SandboxData:
    """Build the whole sandbox world for a seed, with dates relative to `now` (UTC today)."""
    # The first call per (seed, now) builds it; later calls return a fresh copy of that
    # pristine world, so test suites that build a sandbox per test stay fast.
    now = now or datetime.now(UTC).date()
    collecting = gc.isenabled()
    gc.disable()  # tens of thousands of small dicts: collector pauses would double the time
    try:
        pristine = _PRISTINE.get((seed, now))
        if pristine is None:
            if len(_PRISTINE) >= 4:
                _PRISTINE.clear()
            pristine = _PRISTINE[(seed, now)] = _generate(seed, now)
        return pristine.clone()
    finally:
        if collecting:
            gc.enable()


def _generate(seed: int, now: date) -> SandboxData:
    """The actual generation (deterministic for seed and now)."""
    rng = random.Random(seed)
    # Everything seeded happened before 06:00 UTC on `now`, so nothing lies in the future.
    horizon = datetime.combine(now, time(6, 0))
    journal = Journal()
    company = {"id": guid("company", "CRONUS UK Ltd."), "systemVersion": "24.0.16410.0",
               "name": "CRONUS UK Ltd.", "displayName": "CRONUS UK Ltd.", "businessProfileId": ""}
    data = SandboxData(seed=seed, now=now, journal=journal, company=company,
                       erp=empty_erp(journal))
    data.counters = {"version": 7_000_000, "order": FIRST_ORDER, "invoice": 100_000,
                     "creditMemo": 100_000, "return": 100_000, "payment": 100_000,
                     "shipment": 0, "reservation": 0, "inbound": 0, "ticket": FIRST_TICKET,
                     "comment": 0, "audit": 0}
    data.erp["customerPaymentJournals"].put({
        "@odata.etag": data.next_etag(), "id": guid("customerPaymentJournal", "CASHRCPT"),
        "code": "CASHRCPT", "displayName": "Cash receipts",
        "lastModifiedDateTime": stamp(horizon - timedelta(days=HISTORY_DAYS))})
    build_locations(data)
    build_items(data, rng, horizon)
    customers = build_customers(data, rng, horizon)
    build_stock(data, rng, horizon)
    stocked = [i for i in data.erp["items"].scan() if i["type"] == "Inventory" and not i["blocked"]]
    planner = OrderPlanner(rng, horizon, customers, stocked)
    ledger = Ledger(data, rng, horizon)
    ada, ada_orders = customers[0], {offset: (ch, role) for offset, ch, role in ADA_ORDERS}
    by_offset: dict[int, list[OrderPlan]] = {}
    by_role: dict[str, OrderPlan] = {}
    number = FIRST_ORDER
    for offset in range(HISTORY_DAYS - 1, -1, -1):
        day = _day(horizon, offset)
        plans = by_offset.setdefault(offset, [])
        if offset in ada_orders:
            number += 1
            channel, role = ada_orders[offset]
            plan = _ada_order(planner, ada, f"SO-{number}", offset, channel, role, horizon)
            by_role[role] = plan
            ledger.add(plan)
            plans.append(plan)
        for minute in _minutes(rng, offset, orders_on_day(offset)):
            number += 1
            plan = planner.random_order(f"SO-{number}", day + timedelta(minutes=minute))
            ledger.add(plan)
            plans.append(plan)
    data.counters["order"] = number
    ledger.finish()
    spend: dict[str, Decimal] = {}
    for invoice in data.erp["salesInvoices"].scan():
        if invoice["status"] != "Canceled":
            key = invoice["customerNumber"]
            spend[key] = spend.get(key, Decimal(0)) + invoice["totalAmountIncludingTax"]
    build_users(data, customers, spend, horizon)
    ada_tickets = {t[0]: t for t in ADA_TICKETS}
    for offset in range(HISTORY_DAYS - 1, -1, -1):
        day = _day(horizon, offset)
        if offset in ada_tickets:
            _, role, situation, status, priority, _key = ada_tickets[offset]
            add_ticket(data, rng, horizon, TicketPlan(
                ada, day + timedelta(hours=6, minutes=30), by_role[role], situation, status,
                priority))
        for minute in _minutes(rng, offset, tickets_on_day(offset)):
            add_ticket(data, rng, horizon, random_ticket(
                rng, customers, by_offset, offset, day + timedelta(minutes=minute)))
    data.fixtures = {**FIXTURES, **_invoice_fixtures(data)}
    return data


def _invoice_fixtures(data: SandboxData) -> dict[str, str]:
    """Invoice numbers of the fixture orders: they depend on the seed, so they live here only."""
    found = {}
    for role in ("delivered_order", "expired_order", "partially_refunded_order",
                 "partially_paid_order", "partially_shipped_order", "refunded_order"):
        invoices = [i for i in data.erp["salesInvoices"].lookup("orderNumber", FIXTURES[role])
                    if i["status"] != "Canceled"]
        found[role.removesuffix("_order") + "_invoice"] = invoices[0]["number"]
    return found


def _minutes(rng: random.Random, offset: int, count: int) -> list[int]:
    """Sorted minutes of the day for random events: before 06:00 today, after 07:00 before."""
    low, high = (0, 359) if offset == 0 else (420, 1379)
    return sorted(rng.randint(low, high) for _ in range(count))
