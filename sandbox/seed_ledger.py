"""Turn order plans into ERP documents and WMS records that agree with each other."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal

from sandbox.model import (
    VAT_PERCENT,
    Row,
    SandboxData,
    guid,
    invoice_remaining,
    money,
    stamp,
    tax_of,
)
from sandbox.seed_orders import OrderPlan, ReturnPlan, ShipmentPlan

ZERO = money(0)


def priced_line(doc_id: str, doc_number: str, kind: str, sequence: int, sku: str,
                description: str, quantity: int, unit_price: Decimal) -> Row:
    """A document line with net, VAT and gross amounts (VAT rounded per line)."""
    net = money(unit_price * quantity)
    tax = tax_of(net)
    return {"id": guid(kind, f"{doc_number}-{sequence}"), "documentId": doc_id,
            "sequence": sequence, "lineObjectNumber": sku, "description": description,
            "quantity": quantity, "unitPrice": unit_price, "taxPercent": VAT_PERCENT,
            "amountExcludingTax": net, "totalTaxAmount": tax, "amountIncludingTax": net + tax}


def totals(lines: list[Row]) -> dict[str, Decimal]:
    """Header totals as the sums of the lines."""
    net = sum((line["amountExcludingTax"] for line in lines), ZERO)
    tax = sum((line["totalTaxAmount"] for line in lines), ZERO)
    return {"totalAmountExcludingTax": net, "totalTaxAmount": tax,
            "totalAmountIncludingTax": net + tax}


def _tracking(rng: random.Random, carrier: str) -> str:
    digits = "".join(rng.choices("0123456789", k=14))
    if carrier == "Royal Mail":
        return f"{''.join(rng.choices('ABCDEFGHJKLMNPQRSTUVWXYZ', k=2))}{digits[:9]}GB"
    if carrier == "UPS":
        return f"1Z{''.join(rng.choices('0123456789ABCDEFGHJKLMNPRSTUVWXYZ', k=6))}{digits[:10]}"
    return digits[:10] if carrier == "DHL" else digits


class Ledger:
    """Writes plans into the data set; balances and stock are settled by finish()."""

    def __init__(self, data: SandboxData, rng: random.Random, horizon: datetime) -> None:
        self.data, self.rng, self.horizon = data, rng, horizon
        self.journal = data.erp["customerPaymentJournals"].first("code", "CASHRCPT")
        self.payment_line = 0

    def add(self, plan: OrderPlan) -> None:
        """Materialize one order: lines, shipments, invoices, payments, returns, credits."""
        order_id = guid("salesOrder", plan.number)
        shipped: dict[int, int] = {}
        invoiced: dict[int, int] = {}
        invoices: list[Row] = []
        for shipment in plan.shipments:
            self.add_shipment(plan, shipment)
            if shipment.shipped_at is None:
                continue
            for seq, qty in shipment.lines.items():
                shipped[seq] = shipped.get(seq, 0) + qty
                if shipment.invoiced:
                    invoiced[seq] = invoiced.get(seq, 0) + qty
            if shipment.invoiced:
                invoices.append(self.add_invoice(plan, order_id, shipment.lines,
                                                 shipment.shipped_at, shipment.payment))
        if plan.cancelled and plan.cancelled_invoice:
            every = {line.sequence: line.quantity for line in plan.lines}
            self.add_invoice(plan, order_id, every, plan.placed_at + timedelta(hours=1), "void")
        for ret in plan.returns:
            self.add_return(plan, ret, invoices[ret.invoice_index])
        if plan.goodwill_percent and invoices:
            self.add_goodwill(plan, invoices[-1])
        complete = all(shipped.get(line.sequence, 0) == line.quantity
                       and invoiced.get(line.sequence, 0) == line.quantity for line in plan.lines)
        if not plan.cancelled and not complete:
            self.add_open_order(plan, order_id, shipped, invoiced)

    def add_open_order(self, plan: OrderPlan, order_id: str, shipped: dict[int, int],
                       invoiced: dict[int, int]) -> None:
        """An order still in salesOrders, with line-level shipped and invoiced quantities."""
        data = self.data
        lines = []
        for line in plan.lines:
            row = priced_line(order_id, plan.number, "salesOrderLine", line.sequence, line.sku,
                              line.description, line.quantity, line.unit_price)
            row.update({"@odata.etag": data.next_etag(), "itemId": guid("item", line.sku),
                        "lineType": "Item", "shippedQuantity": shipped.get(line.sequence, 0),
                        "invoicedQuantity": invoiced.get(line.sequence, 0)})
            lines.append(row)
            data.erp["salesOrderLines"].put(row)
        last_event = max([plan.placed_at] + [s.shipped_at for s in plan.shipments if s.shipped_at])
        customer = plan.customer
        data.erp["salesOrders"].put({
            "@odata.etag": data.next_etag(), "id": order_id, "number": plan.number,
            "externalDocumentNumber": self.external_number(plan),
            "orderDate": plan.placed_at.date().isoformat(), "customerId": customer["id"],
            "customerNumber": customer["number"], "customerName": customer["displayName"],
            "currencyCode": "GBP", "shortcutDimension1Code": plan.channel,
            "shortcutDimension2Code": self.region(plan), "status": plan.status,
            "fullyShipped": all(shipped.get(line.sequence, 0) >= line.quantity
                                for line in plan.lines),
            **totals(lines), "lastModifiedDateTime": stamp(last_event),
        })

    @staticmethod
    def external_number(plan: OrderPlan) -> str:
        """The channel's own reference for the order (web basket, till receipt, marketplace id)."""
        digits = plan.number[3:]
        prefix = {"WEB": "WEB-", "STORE": "POS-", "MARKETPLACE": "MKT-"}.get(plan.channel)
        return f"{prefix}{int(digits) * 7 + 3_100_000}" if prefix else ""

    def region(self, plan: OrderPlan) -> str:
        """Sales region dimension from the fulfilling location."""
        return str(next(loc["region"] for loc in self.data.locations
                        if loc["id"] == plan.location_id))

    def add_shipment(self, plan: OrderPlan, shipment: ShipmentPlan) -> None:
        """The WMS shipment record."""
        data = self.data
        number = data.next_number("shipment")
        shipment_id = f"SHP-{number:07d}"
        data.shipments[shipment_id] = {
            "id": shipment_id, "order_number": plan.number, "carrier": shipment.carrier,
            "tracking_number": _tracking(self.rng, shipment.carrier)
            if shipment.shipped_at else None,
            "status": shipment.status, "location_id": plan.location_id,
            "shipped_at": stamp(shipment.shipped_at) if shipment.shipped_at else None,
            "delivered_at": stamp(shipment.delivered_at) if shipment.delivered_at else None,
            "lines": [{"sku": next(line.sku for line in plan.lines if line.sequence == seq),
                       "quantity": qty, "order_line_sequence": seq}
                      for seq, qty in sorted(shipment.lines.items())],
        }
        data.shipments_by_order.setdefault(plan.number, []).append(shipment_id)

    def add_invoice(self, plan: OrderPlan, order_id: str, quantities: dict[int, int],
                    posted_at: datetime, payment: str) -> Row:
        """A posted invoice for shipped quantities, plus its payments."""
        data = self.data
        number = f"SI-{data.next_number('invoice')}"
        invoice_id = guid("salesInvoice", number)
        by_seq = {line.sequence: line for line in plan.lines}
        lines = []
        for seq, qty in sorted(quantities.items()):
            line = by_seq[seq]
            row = priced_line(invoice_id, number, "salesInvoiceLine", seq, line.sku,
                              line.description, qty, line.unit_price)
            row["@odata.etag"] = data.next_etag()
            lines.append(row)
            data.erp["salesInvoiceLines"].put(row)
        customer = plan.customer
        terms = 30 if customer["type"] == "Company" else 0
        posting = posted_at.date()
        header = {
            "@odata.etag": data.next_etag(), "id": invoice_id, "number": number,
            "externalDocumentNumber": self.external_number(plan),
            "invoiceDate": posting.isoformat(), "postingDate": posting.isoformat(),
            "dueDate": (posting + timedelta(days=terms)).isoformat(),
            "customerId": customer["id"], "customerNumber": customer["number"],
            "customerName": customer["displayName"], "orderId": order_id,
            "orderNumber": plan.number, "shortcutDimension1Code": plan.channel,
            "shortcutDimension2Code": self.region(plan), "currencyCode": "GBP", **totals(lines),
            "remainingAmount": ZERO, "status": "Canceled" if payment == "void" else "Open",
            "lastModifiedDateTime": stamp(posted_at),
        }
        data.erp["salesInvoices"].put(header)
        total = header["totalAmountIncludingTax"]
        if payment == "paid":
            self.add_payment(header, total, posted_at)
        elif payment == "late":
            paid_at = posted_at + timedelta(days=self.rng.randint(5, 40))
            if paid_at <= self.horizon:
                self.add_payment(header, total, paid_at)
        elif payment == "partial":
            share = Decimal(self.rng.randint(30, 70)) / 100
            self.add_payment(header, money(total * share), posted_at + timedelta(days=3))
        self.settle(header["id"])
        return data.erp["salesInvoices"].rows[invoice_id]

    def add_payment(self, invoice: Row, amount: Decimal, paid_at: datetime) -> None:
        """A customer payment applied to an invoice (payments may lie beyond the horizon)."""
        paid_at = min(paid_at, self.horizon)
        data = self.data
        self.payment_line += 10000
        document = f"PMT-{data.next_number('payment')}"
        data.erp["customerPayments"].put({
            "@odata.etag": data.next_etag(), "id": guid("customerPayment", document),
            "journalId": self.journal["id"] if self.journal else None,
            "lineNumber": self.payment_line, "customerId": invoice["customerId"],
            "customerNumber": invoice["customerNumber"],
            "postingDate": paid_at.date().isoformat(), "documentNumber": document,
            "amount": amount, "appliesToInvoiceId": invoice["id"],
            "appliesToInvoiceNumber": invoice["number"],
            "description": f"Payment {invoice['number']}", "lastModifiedDateTime": stamp(paid_at),
        })

    def settle(self, invoice_id: str) -> None:
        """Recompute remainingAmount and the Open/Paid status from payments and credits."""
        invoice = self.data.erp["salesInvoices"].rows[invoice_id]
        if invoice["status"] == "Canceled":
            return
        remaining = invoice_remaining(self.data.erp, invoice)
        status = "Paid" if remaining == ZERO else "Open"
        self.data.erp["salesInvoices"].put({**invoice, "remainingAmount": remaining,
                                            "status": status})

    def add_return(self, plan: OrderPlan, ret: ReturnPlan, invoice: Row) -> None:
        """A return order, its WMS inbound return and, when settled, its credit memo."""
        data = self.data
        number = f"RMA-{data.next_number('return')}"
        return_id = guid("salesReturnOrder", number)
        by_seq = {line.sequence: line for line in plan.lines}
        lines: list[Row] = []
        for index, (seq, qty) in enumerate(sorted(ret.lines.items())):
            line = by_seq[seq]
            net = money(line.unit_price * qty)
            row = {"@odata.etag": data.next_etag(),
                   "id": guid("salesReturnOrderLine", f"{number}-{(index + 1) * 10000}"),
                   "documentId": return_id, "sequence": (index + 1) * 10000,
                   "lineObjectNumber": line.sku, "description": line.description,
                   "quantity": qty, "unitPrice": line.unit_price,
                   "amountIncludingTax": net + tax_of(net), "returnReasonCode": ret.reason,
                   "orderLineSequence": seq}
            lines.append(row)
            data.erp["salesReturnOrderLines"].put(row)
        customer = plan.customer
        data.erp["salesReturnOrders"].put({
            "@odata.etag": data.next_etag(), "id": return_id, "number": number,
            "externalDocumentNumber": f"RET-{plan.number[3:]}",
            "documentDate": ret.created_at.date().isoformat(), "customerId": customer["id"],
            "customerNumber": customer["number"], "orderNumber": plan.number,
            "invoiceNumber": invoice["number"], "returnResolution": ret.resolution,
            "status": ret.status, "currencyCode": "GBP",
            "totalAmountIncludingTax": sum((line["amountIncludingTax"] for line in lines), ZERO),
            "lastModifiedDateTime": stamp(min(self.horizon, ret.created_at + timedelta(days=2))),
        })
        self.add_inbound_return(plan, ret, number)
        if ret.credit:
            credit_lines = [(by_seq[seq].sku, by_seq[seq].description, qty, by_seq[seq].unit_price)
                            for seq, qty in sorted(ret.lines.items())]
            posted = min(self.horizon, ret.created_at + timedelta(days=self.rng.randint(1, 3)))
            self.add_credit_memo(invoice, number, credit_lines, posted, ret.credit, ret.reason)

    def add_inbound_return(self, plan: OrderPlan, ret: ReturnPlan, rma: str) -> None:
        """The WMS side of a return: expected, received or cancelled."""
        status = {"Released": "expected", "Received": "received", "Closed": "received",
                  "Rejected": "received", "Canceled": "cancelled"}.get(ret.status)
        if status is None:
            return
        inbound_id = f"IBR-{self.data.next_number('inbound'):06d}"
        received = min(self.horizon, ret.created_at + timedelta(days=2))
        skus = {line.sequence: line.sku for line in plan.lines}
        self.data.inbound_returns[inbound_id] = {
            "id": inbound_id, "rma_number": rma, "order_number": plan.number,
            "location_id": plan.location_id, "status": status,
            "lines": [{"sku": skus[seq], "quantity": qty}
                      for seq, qty in sorted(ret.lines.items())],
            "created_at": stamp(ret.created_at),
            "received_at": stamp(received) if status == "received" else None,
        }

    def add_goodwill(self, plan: OrderPlan, invoice: Row) -> None:
        """A service refund without a return: a share of the invoice, credited and paid out."""
        net = money(invoice["totalAmountExcludingTax"] * plan.goodwill_percent / 100)
        posted = datetime.fromisoformat(invoice["postingDate"]) + timedelta(days=6)
        self.add_credit_memo(invoice, "GOODWILL", [("GOODWILL", "Goodwill gesture", 1, net)],
                             min(posted, self.horizon), "Paid", None)

    def add_credit_memo(self, invoice: Row, reference: str,
                        lines: list[tuple[str, str, int, Decimal]], posted_at: datetime,
                        status: str, reason: str | None) -> None:
        """A credit memo against an invoice; posted ones reduce its remaining amount."""
        data = self.data
        number = f"CM-{data.next_number('creditMemo')}"
        memo_id = guid("salesCreditMemo", number)
        rows = []
        for index, (sku, description, qty, price) in enumerate(lines):
            row = priced_line(memo_id, number, "salesCreditMemoLine", (index + 1) * 10000, sku,
                              description, qty, price)
            row["@odata.etag"] = data.next_etag()
            rows.append(row)
            data.erp["salesCreditMemoLines"].put(row)
        day = posted_at.date().isoformat()
        data.erp["salesCreditMemos"].put({
            "@odata.etag": data.next_etag(), "id": memo_id, "number": number,
            "externalDocumentNumber": reference, "creditMemoDate": day, "postingDate": day,
            "dueDate": day, "customerId": invoice["customerId"],
            "customerNumber": invoice["customerNumber"], "invoiceId": invoice["id"],
            "invoiceNumber": invoice["number"],
            "customerReturnReasonId": guid("customerReturnReason", reason) if reason else None,
            "currencyCode": "GBP", **totals(rows), "status": status,
            "lastModifiedDateTime": stamp(posted_at),
        })
        self.settle(invoice["id"])

    def finish(self) -> None:
        """Settle customer balances, reservations for open orders, and the ERP's stock view."""
        data = self.data
        customers = data.erp["customers"]
        for customer in list(customers.scan()):
            due = sum((i["remainingAmount"] for i in data.erp["salesInvoices"].lookup(
                "customerNumber", customer["number"])), ZERO)
            customers.put({**customer, "balanceDue": due})
        self.reserve_open_orders()
        items = data.erp["items"]
        for item in list(items.scan()):
            levels = data.inventory.get(item["number"])
            if levels:
                on_hand = sum(level["on_hand"] for level in levels.values())
                drift = self.rng.randint(-4, 4)  # the ERP's figure lags the WMS
                items.put({**item, "inventory": max(0, on_hand + drift)})

    def reserve_open_orders(self) -> None:
        """Active WMS reservations for every unshipped unit of an Open order."""
        data = self.data
        for order in data.erp["salesOrders"].scan():
            if order["status"] != "Open":
                continue
            shipment_ids = data.shipments_by_order.get(order["number"], [])
            location = data.shipments[shipment_ids[0]]["location_id"] if shipment_ids else "LOC-01"
            for line in data.erp["salesOrderLines"].lookup("documentId", order["id"]):
                open_qty = line["quantity"] - line["shippedQuantity"]
                if open_qty <= 0:
                    continue
                sku = line["lineObjectNumber"]
                reservation_id = f"RSV-{data.next_number('reservation'):06d}"
                data.reservations[reservation_id] = {
                    "id": reservation_id, "sku": sku, "location_id": location,
                    "quantity": open_qty, "reference": order["number"], "status": "active",
                    "created_at": order["lastModifiedDateTime"], "released_at": None}
                levels = data.inventory.setdefault(sku, {})
                level = levels.get(location)
                if level is None:
                    level = levels[location] = {
                        "sku": sku, "location_id": location, "on_hand": 0, "reserved": 0,
                        "available": 0, "incoming": 0, "damaged": 0,
                        "updated_at": order["lastModifiedDateTime"]}
                level["reserved"] += open_qty
                # Stock was there when it was reserved; keep on_hand ≥ reserved.
                level["on_hand"] = max(level["on_hand"], level["reserved"] + self.rng.randint(0, 6))
                level["available"] = level["on_hand"] - level["reserved"]
        for levels in data.inventory.values():
            for level in levels.values():
                level["available"] = level["on_hand"] - level["reserved"]
