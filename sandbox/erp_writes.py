"""ERP writes: routing, return orders within returnable quantities, sales orders."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sandbox.common import BadRequest, Result
from sandbox.erp_credits import CreditMemoWrites
from sandbox.erp_support import (
    CHANNELS,
    FINAL_RETURN_STATUSES,
    REASON_CODES,
    RESOLUTIONS,
    RETURN_STATUSES,
    ZERO,
    Write,
    _amount,
    _lines,
    _object,
    _quantity,
    _text,
)
from sandbox.model import VAT_PERCENT, Row, guid, money, stamp, tax_of


class ErpWrites(CreditMemoWrites):
    """The write operations the ERP sandbox supports, each returning a Result."""

    def route(self, method: str, entity_set: str | None, key: str | None,
              nav: str | None) -> Write | None:
        """The handler for a write, or None when the operation is not allowed."""
        return {
            ("POST", "salesReturnOrders", False, None): self.create_return_order,
            ("PATCH", "salesReturnOrders", True, None): self.update_return_order,
            ("POST", "salesCreditMemos", False, None): self.create_credit_memo,
            ("PATCH", "salesCreditMemos", True, None): self.update_credit_memo,
            ("POST", "salesCreditMemos", True, "Microsoft.NAV.post"): self.post_credit_memo,
            ("POST", "salesOrders", False, None): self.create_sales_order,
            ("DELETE", "salesOrders", True, None): self.delete_sales_order,
        }.get((method, entity_set or "", key is not None, nav))

    # -- sales return orders ---------------------------------------------------------------

    def order_lines(self, order_number: str) -> tuple[str, dict[int, Row]] | None:
        """(customer number, facts per line sequence) of an order, open or already invoiced."""
        order = self.erp["salesOrders"].first("number", order_number)
        facts: dict[int, Row] = {}
        if order is not None:
            for line in self.erp["salesOrderLines"].lookup("documentId", order["id"]):
                facts[line["sequence"]] = {**line, "shipped": line["shippedQuantity"]}
            return order["customerNumber"], facts
        invoices = [i for i in self.erp["salesInvoices"].lookup("orderNumber", order_number)
                    if i["status"] != "Canceled"]
        if not invoices:
            return None
        for invoice in invoices:  # a completed order lives on as its invoices' lines
            for line in self.erp["salesInvoiceLines"].lookup("documentId", invoice["id"]):
                known = facts.get(line["sequence"])
                shipped = line["quantity"] + (known["shipped"] if known else 0)
                facts[line["sequence"]] = {**line, "shipped": shipped,
                                           "invoiceNumber": invoice["number"]}
        return invoices[0]["customerNumber"], facts

    def returned(self, order_number: str) -> dict[int, int]:
        """Quantities on return orders that are not Canceled or Rejected, by order line."""
        totals: dict[int, int] = {}
        for header in self.erp["salesReturnOrders"].lookup("orderNumber", order_number):
            if header["status"] in ("Canceled", "Rejected"):
                continue
            for line in self.erp["salesReturnOrderLines"].lookup("documentId", header["id"]):
                seq = line["orderLineSequence"]
                totals[seq] = totals.get(seq, 0) + line["quantity"]
        return totals

    def create_return_order(self, document: Any, key: str | None, headers: Mapping[str, str],
                            base: str) -> Result:
        """POST salesReturnOrders: a Draft return within shipped − already returned."""
        body = _object(document)
        customer = self.erp["customers"].first("number", _text(body, "customerNumber"))
        if customer is None:
            raise BadRequest(f"Customer '{body['customerNumber']}' does not exist.")
        order_number = _text(body, "orderNumber")
        found = self.order_lines(order_number)
        if found is None:
            raise BadRequest(f"Sales order '{order_number}' does not exist.")
        order_customer, facts = found
        if order_customer != customer["number"]:
            raise BadRequest(f"Order '{order_number}' belongs to another customer.")
        resolution = _text(body, "returnResolution")
        if resolution not in RESOLUTIONS:
            raise BadRequest(f"returnResolution must be one of {', '.join(RESOLUTIONS)}.")
        wanted = dict(self.returned(order_number))
        requested = []
        for line in _lines(body, "salesReturnOrderLines"):
            seq, quantity = line.get("orderLineSequence"), _quantity(line.get("quantity"))
            if not isinstance(seq, int) or seq not in facts:
                raise BadRequest(f"Order '{order_number}' has no line {seq}.")
            fact = facts[seq]
            if line.get("lineObjectNumber") != fact["lineObjectNumber"]:
                raise BadRequest(f"Line {seq} of '{order_number}' is not "
                                 f"'{line.get('lineObjectNumber')}'.")
            reason = line.get("returnReasonCode")
            if reason not in REASON_CODES:
                raise BadRequest(f"returnReasonCode must be one of {', '.join(REASON_CODES)}.")
            wanted[seq] = wanted.get(seq, 0) + quantity
            if wanted[seq] > fact["shipped"]:
                raise BadRequest(f"Quantity {quantity} on line {seq} is more than the "
                                 f"{fact['shipped'] - wanted[seq] + quantity} that can be "
                                 "returned.")
            requested.append((seq, quantity, reason, fact))
        invoice_number = body.get("invoiceNumber") or next(
            (f.get("invoiceNumber") for _, _, _, f in requested if f.get("invoiceNumber")), None)
        if invoice_number is None:
            invoice = next((i for i in self.erp["salesInvoices"].lookup("orderNumber", order_number)
                            if i["status"] != "Canceled"), None)
            invoice_number = invoice["number"] if invoice else None
        number = f"RMA-{self.data.next_number('return')}"
        return_id = guid("salesReturnOrder", number)
        lines = []
        for index, (seq, quantity, reason, fact) in enumerate(requested):
            net = money(fact["unitPrice"] * quantity)
            line_row = {"@odata.etag": self.data.next_etag(),
                        "id": guid("salesReturnOrderLine", f"{number}-{(index + 1) * 10000}"),
                        "documentId": return_id, "sequence": (index + 1) * 10000,
                        "lineObjectNumber": fact["lineObjectNumber"],
                        "description": fact["description"], "quantity": quantity,
                        "unitPrice": fact["unitPrice"], "amountIncludingTax": net + tax_of(net),
                        "returnReasonCode": reason, "orderLineSequence": seq}
            self.erp["salesReturnOrderLines"].put(line_row)
            lines.append(line_row)
        header = {
            "@odata.etag": self.data.next_etag(), "id": return_id, "number": number,
            "externalDocumentNumber": _text(body, "externalDocumentNumber", required=False),
            "documentDate": self.today(), "customerId": customer["id"],
            "customerNumber": customer["number"], "orderNumber": order_number,
            "invoiceNumber": invoice_number, "returnResolution": resolution, "status": "Draft",
            "currencyCode": "GBP",
            "totalAmountIncludingTax": sum((line["amountIncludingTax"] for line in lines), ZERO),
            "lastModifiedDateTime": stamp(self.ctx.clock()),
        }
        self.erp["salesReturnOrders"].put(header)
        return self.created("salesReturnOrders", header, lines, base)

    def update_return_order(self, document: Any, key: str | None, headers: Mapping[str, str],
                            base: str) -> Result:
        """PATCH salesReturnOrders({id}): status or reference; final statuses are final."""
        row, refusal = self.guarded("salesReturnOrders", key, headers)
        if row is None:
            return refusal  # type: ignore[return-value]
        body = _object(document)
        unknown = set(body) - {"status", "externalDocumentNumber"}
        if unknown:
            raise BadRequest(f"Cannot modify {', '.join(sorted(unknown))}.")
        status = body.get("status", row["status"])
        if status not in RETURN_STATUSES:
            raise BadRequest(f"status must be one of {', '.join(RETURN_STATUSES)}.")
        if row["status"] in FINAL_RETURN_STATUSES and status != row["status"]:
            raise BadRequest(f"Return order {row['number']} is {row['status']}.")
        updated = {**row, "status": status, "@odata.etag": self.data.next_etag(),
                   "externalDocumentNumber": body.get("externalDocumentNumber",
                                                      row["externalDocumentNumber"]),
                   "lastModifiedDateTime": stamp(self.ctx.clock())}
        self.erp["salesReturnOrders"].put(updated)
        return Result(200, updated, {"ETag": updated["@odata.etag"]})

    # -- sales orders ----------------------------------------------------------------------

    def create_sales_order(self, document: Any, key: str | None, headers: Mapping[str, str],
                           base: str) -> Result:
        """POST salesOrders: an Open order (replacements may be priced at zero)."""
        body = _object(document)
        customer = self.erp["customers"].first("number", _text(body, "customerNumber"))
        if customer is None:
            raise BadRequest(f"Customer '{body['customerNumber']}' does not exist.")
        channel = body.get("shortcutDimension1Code", "PHONE")
        if channel not in CHANNELS:
            raise BadRequest(f"shortcutDimension1Code must be one of {', '.join(CHANNELS)}.")
        wanted = []
        for line in _lines(body, "salesOrderLines"):
            item = self.erp["items"].first("number", _text(line, "lineObjectNumber"))
            if item is None or item["blocked"]:
                raise BadRequest(f"Item '{line['lineObjectNumber']}' does not exist or is blocked.")
            price = _amount(line["unitPrice"], "unitPrice") if "unitPrice" in line \
                else item["unitPrice"]
            wanted.append((item, _quantity(line.get("quantity")), price))
        number = f"SO-{self.data.next_number('order')}"
        order_id = guid("salesOrder", number)
        lines = []
        for index, (item, quantity, price) in enumerate(wanted):
            net = money(price * quantity)
            sequence = (index + 1) * 10000
            lines.append({"@odata.etag": self.data.next_etag(),
                          "id": guid("salesOrderLine", f"{number}-{sequence}"),
                          "documentId": order_id, "sequence": sequence, "itemId": item["id"],
                          "lineType": "Item", "lineObjectNumber": item["number"],
                          "description": item["displayName"], "quantity": quantity,
                          "unitPrice": price, "taxPercent": VAT_PERCENT,
                          "amountExcludingTax": net, "totalTaxAmount": tax_of(net),
                          "amountIncludingTax": net + tax_of(net), "shippedQuantity": 0,
                          "invoicedQuantity": 0})
        for line in lines:
            self.erp["salesOrderLines"].put(line)
        net = sum((line["amountExcludingTax"] for line in lines), ZERO)
        tax = sum((line["totalTaxAmount"] for line in lines), ZERO)
        header = {
            "@odata.etag": self.data.next_etag(), "id": order_id, "number": number,
            "externalDocumentNumber": _text(body, "externalDocumentNumber", required=False),
            "orderDate": self.today(), "customerId": customer["id"],
            "customerNumber": customer["number"], "customerName": customer["displayName"],
            "currencyCode": "GBP", "shortcutDimension1Code": channel,
            "shortcutDimension2Code": "CENTRAL", "status": "Open", "fullyShipped": False,
            "totalAmountExcludingTax": net, "totalTaxAmount": tax,
            "totalAmountIncludingTax": net + tax, "lastModifiedDateTime": stamp(self.ctx.clock()),
        }
        self.erp["salesOrders"].put(header)
        return self.created("salesOrders", header, lines, base)

    def delete_sales_order(self, document: Any, key: str | None, headers: Mapping[str, str],
                           base: str) -> Result:
        """DELETE salesOrders({id}) with If-Match; refused once anything has shipped."""
        row, refusal = self.guarded("salesOrders", key, headers)
        if row is None:
            return refusal  # type: ignore[return-value]
        lines = self.erp["salesOrderLines"].lookup("documentId", row["id"])
        if any(line["shippedQuantity"] for line in lines):
            raise BadRequest(f"Sales order {row['number']} has shipped lines and cannot be "
                             "deleted.")
        for line in lines:
            self.erp["salesOrderLines"].remove(line["id"])
        self.erp["salesOrders"].remove(row["id"])
        return Result(204)
