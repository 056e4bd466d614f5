"""The seed: deterministic, internally consistent, and holding the promised fixtures."""

from __future__ import annotations

import time
from collections import Counter
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from sandbox import seed as seed_module
from sandbox.common import dumps
from sandbox.model import ERP_FIELDS, SandboxData, invoice_remaining, money, tax_of
from sandbox.seed import FIXTURES, generate

NOW = date(2026, 3, 2)


@pytest.fixture(scope="module")
def data() -> SandboxData:
    return generate(42, NOW)


def _fingerprint(data: SandboxData) -> bytes:
    erp = {name: list(table.scan()) for name, table in data.erp.items()}
    return dumps([erp, data.inventory, data.shipments, data.reservations,
                  list(data.tickets.values()), list(data.comments.values()),
                  list(data.users.values())])


def test_same_seed_and_date_give_identical_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(seed_module, "_PRISTINE", {})
    first = _fingerprint(generate(7, NOW))
    monkeypatch.setattr(seed_module, "_PRISTINE", {})
    assert _fingerprint(generate(7, NOW)) == first
    assert _fingerprint(generate(8, NOW)) != first


def test_a_world_is_generated_once_and_then_copied(monkeypatch: pytest.MonkeyPatch) -> None:
    # Per-test sandboxes stay cheap because later calls copy the first generated world.
    monkeypatch.setattr(seed_module, "_PRISTINE", {})
    calls: list[int] = []
    real = seed_module._generate
    monkeypatch.setattr(seed_module, "_generate", lambda seed, now: calls.append(seed) or real(seed, now))
    first, second = generate(3, NOW), generate(3, NOW)
    assert calls == [3]
    assert first is not second and _fingerprint(first) == _fingerprint(second)


def test_copies_are_independent(data: SandboxData) -> None:
    other = generate(42, NOW)
    ticket_id = int(FIXTURES["open_ticket_id"])
    other.tickets[ticket_id]["status"] = "solved"
    ada = other.erp["customers"].first("number", "C-10001")
    assert ada is not None
    other.erp["customers"].remove(ada["id"])
    assert data.tickets[ticket_id]["status"] == "open"
    assert data.erp["customers"].first("number", "C-10001") is not None


def test_volumes(data: SandboxData) -> None:
    numbers = [c["number"] for c in data.erp["customers"].scan()]
    assert numbers == [f"C-{n}" for n in range(10001, 10201)]
    assert len(data.erp["items"]) == 300
    kinds = Counter(loc["type"] for loc in data.locations)
    assert kinds == {"warehouse": 3, "store": 9}
    orders = data.counters["order"] - seed_module.FIRST_ORDER
    assert 1800 <= orders <= 2300
    placed = [date.fromisoformat(i["invoiceDate"]) for i in data.erp["salesInvoices"].scan()]
    assert min(placed) >= NOW - timedelta(days=550)
    assert len(data.tickets) > 500 and len(data.erp["salesReturnOrders"]) > 50


def test_records_have_exactly_the_documented_fields(data: SandboxData) -> None:
    for name, fields in ERP_FIELDS.items():
        for row in data.erp[name].scan():
            assert set(row) == {"@odata.etag", *fields}, name


def test_nothing_is_dated_in_the_future(data: SandboxData) -> None:
    horizon = f"{NOW.isoformat()}T06:00:00Z"
    for table in data.erp.values():
        for row in table.scan():
            assert row.get("lastModifiedDateTime", "") <= horizon
    for shipment in data.shipments.values():
        assert (shipment["delivered_at"] or "") <= horizon
    for comments in data.comments.values():
        assert all(c["created_at"] <= horizon for c in comments)


def test_document_totals_are_line_sums_with_vat(data: SandboxData) -> None:
    for header_name, line_name in (("salesInvoices", "salesInvoiceLines"),
                                   ("salesCreditMemos", "salesCreditMemoLines"),
                                   ("salesOrders", "salesOrderLines")):
        lines = data.erp[line_name]
        for header in data.erp[header_name].scan():
            rows = lines.lookup("documentId", header["id"])
            assert rows, header["number"]
            for line in rows:
                net = money(line["unitPrice"] * line["quantity"])
                assert line["amountExcludingTax"] == net
                assert line["totalTaxAmount"] == tax_of(net)
                assert line["amountIncludingTax"] == net + tax_of(net)
            assert header["totalAmountIncludingTax"] == sum(
                (line["amountIncludingTax"] for line in rows), Decimal(0))


def test_remaining_amounts_and_balances_agree_with_payments_and_credits(
        data: SandboxData) -> None:
    due: Counter[str] = Counter()
    for invoice in data.erp["salesInvoices"].scan():
        assert invoice["remainingAmount"] == invoice_remaining(data.erp, invoice)
        if invoice["status"] != "Canceled":
            assert (invoice["status"] == "Paid") == (invoice["remainingAmount"] == 0)
        due[invoice["customerNumber"]] += invoice["remainingAmount"]
    assert any(due.values())
    for customer in data.erp["customers"].scan():
        assert customer["balanceDue"] == due[customer["number"]]
    for memo in data.erp["salesCreditMemos"].scan():
        credited = data.erp["salesInvoices"].first("number", memo["invoiceNumber"])
        assert credited is not None
        assert memo["totalAmountIncludingTax"] <= credited["totalAmountIncludingTax"]


def test_stock_levels_match_active_reservations(data: SandboxData) -> None:
    reserved: Counter[tuple[str, str]] = Counter()
    for reservation in data.reservations.values():
        if reservation["status"] == "active":
            reserved[(reservation["sku"], reservation["location_id"])] += reservation["quantity"]
    assert reserved
    for sku, levels in data.inventory.items():
        for location, level in levels.items():
            assert level["available"] == level["on_hand"] - level["reserved"]
            assert level["reserved"] == reserved[(sku, location)]
            assert level["on_hand"] >= level["reserved"]


def _wms_shipped(data: SandboxData, order_number: str) -> Counter[int]:
    shipped: Counter[int] = Counter()
    for shipment_id in data.shipments_by_order.get(order_number, []):
        shipment = data.shipments[shipment_id]
        if shipment["shipped_at"]:
            for line in shipment["lines"]:
                shipped[line["order_line_sequence"]] += line["quantity"]
    return shipped


def test_erp_shipped_quantities_match_wms_shipments(data: SandboxData) -> None:
    open_numbers = set()
    for order in data.erp["salesOrders"].scan():
        open_numbers.add(order["number"])
        lines = data.erp["salesOrderLines"].lookup("documentId", order["id"])
        shipped = _wms_shipped(data, order["number"])
        erp_shipped = {line["sequence"]: line["shippedQuantity"] for line in lines
                       if line["shippedQuantity"]}
        assert erp_shipped == dict(shipped)
        complete = all(line["shippedQuantity"] == line["quantity"] == line["invoicedQuantity"]
                       for line in lines)
        assert not complete, f"{order['number']} is shipped and invoiced yet still listed"
        assert order["fullyShipped"] == all(line["shippedQuantity"] == line["quantity"]
                                            for line in lines)
    for invoice in data.erp["salesInvoices"].scan():
        if invoice["status"] == "Canceled" or invoice["orderNumber"] in open_numbers:
            continue
        invoiced: Counter[int] = Counter()
        for other in data.erp["salesInvoices"].lookup("orderNumber", invoice["orderNumber"]):
            for line in data.erp["salesInvoiceLines"].lookup("documentId", other["id"]):
                invoiced[line["sequence"]] += line["quantity"]
        assert invoiced == _wms_shipped(data, invoice["orderNumber"])


def test_returns_never_exceed_what_shipped(data: SandboxData) -> None:
    for header in data.erp["salesReturnOrders"].scan():
        shipped = _wms_shipped(data, header["orderNumber"])
        for line in data.erp["salesReturnOrderLines"].lookup("documentId", header["id"]):
            assert 0 < line["quantity"] <= shipped[line["orderLineSequence"]]


def test_service_desk_users_link_to_customers(data: SandboxData) -> None:
    for customer in data.erp["customers"].scan():
        user = data.users[data.users_by_external_id[customer["number"]]]
        assert (user["email"], user["role"]) == (customer["email"], "end-user")
        assert user["user_fields"]["loyalty_tier"] in ("bronze", "silver", "gold", "platinum")
    assert str(data.users_by_external_id["C-10001"]) == FIXTURES["customer_user_id"]


def _order(data: SandboxData, key: str) -> tuple[dict | None, list[dict]]:
    number = FIXTURES[key]
    order = data.erp["salesOrders"].first("number", number)
    invoices = data.erp["salesInvoices"].lookup("orderNumber", number)
    return order, invoices


def _delivered_at(data: SandboxData, number: str) -> datetime:
    shipments = [data.shipments[i] for i in data.shipments_by_order[number]]
    assert shipments and all(s["status"] == "delivered" for s in shipments)
    return max(datetime.fromisoformat(s["delivered_at"].rstrip("Z")) for s in shipments)


@pytest.mark.parametrize("seed", [42, 1, 2026])
def test_fixture_numbers_hold_for_every_seed(seed: int) -> None:
    data = generate(seed, NOW)
    assert data.fixtures.items() >= FIXTURES.items()
    for key in ("delivered", "expired", "partially_refunded", "partially_paid"):
        invoice = data.erp["salesInvoices"].first("number", data.fixtures[f"{key}_invoice"])
        assert invoice is not None and invoice["orderNumber"] == FIXTURES[f"{key}_order"]
    ada = data.erp["customers"].first("number", "C-10001")
    assert ada is not None
    assert (ada["displayName"], ada["email"]) == ("Ada Lovelace", "ada.lovelace@example.com")
    numbers = {o["number"] for o in data.erp["salesOrders"].lookup("customerNumber", "C-10001")}
    numbers |= {i["orderNumber"] for i in data.erp["salesInvoices"].lookup(
        "customerNumber", "C-10001")}
    assert len(numbers) >= 12
    channels = {o["shortcutDimension1Code"] for o in data.erp["salesOrders"].lookup(
        "customerNumber", "C-10001")} | {i["shortcutDimension1Code"] for i in
                                         data.erp["salesInvoices"].lookup("customerNumber",
                                                                          "C-10001")}
    assert channels == {"WEB", "STORE", "PHONE", "MARKETPLACE"}
    for key in ("delivered_order", "open_order", "partially_shipped_order", "expired_order",
                "partially_refunded_order", "ticket_order"):
        assert FIXTURES[key] in numbers, key


def test_only_dates_depend_on_now(data: SandboxData) -> None:
    later = generate(42, NOW + timedelta(days=400))
    assert later.fixtures == data.fixtures
    order = later.erp["salesOrders"].first("number", FIXTURES["open_order"])
    assert order is not None
    assert order["orderDate"] == (NOW + timedelta(days=399)).isoformat()


def test_delivered_order_is_returnable_and_paid(data: SandboxData) -> None:
    order, invoices = _order(data, "delivered_order")
    assert order is None and len(invoices) == 1 and invoices[0]["status"] == "Paid"
    delivered = _delivered_at(data, FIXTURES["delivered_order"])
    assert timedelta(0) < datetime.combine(NOW, datetime.min.time()) - delivered < timedelta(10)
    assert not data.erp["salesReturnOrders"].lookup("orderNumber", FIXTURES["delivered_order"])


def test_open_order_has_nothing_shipped(data: SandboxData) -> None:
    order, invoices = _order(data, "open_order")
    assert order is not None and order["status"] == "Open" and not invoices
    lines = data.erp["salesOrderLines"].lookup("documentId", order["id"])
    assert lines and all(line["shippedQuantity"] == 0 for line in lines)


def test_partially_shipped_order(data: SandboxData) -> None:
    order, _ = _order(data, "partially_shipped_order")
    assert order is not None and order["fullyShipped"] is False
    lines = data.erp["salesOrderLines"].lookup("documentId", order["id"])
    assert any(line["shippedQuantity"] > 0 for line in lines)
    assert any(line["shippedQuantity"] < line["quantity"] for line in lines)


def test_expired_order_was_delivered_over_30_days_ago(data: SandboxData) -> None:
    delivered = _delivered_at(data, FIXTURES["expired_order"])
    assert datetime.combine(NOW, datetime.min.time()) - delivered > timedelta(days=30)


def test_partially_refunded_order(data: SandboxData) -> None:
    _, invoices = _order(data, "partially_refunded_order")
    (invoice,) = invoices
    memos = [m for m in data.erp["salesCreditMemos"].lookup("invoiceNumber", invoice["number"])
             if m["status"] in ("Open", "Paid")]
    credited = sum(m["totalAmountIncludingTax"] for m in memos)
    assert 0 < credited < invoice["totalAmountIncludingTax"]


def test_open_ticket_is_about_one_of_her_orders(data: SandboxData) -> None:
    ticket = data.tickets[int(FIXTURES["open_ticket_id"])]
    assert ticket["status"] == "open"
    assert ticket["external_id"] == FIXTURES["ticket_order"]
    assert ticket["requester_id"] == int(FIXTURES["customer_user_id"])
    assert len(data.comments[ticket["id"]]) >= 2
