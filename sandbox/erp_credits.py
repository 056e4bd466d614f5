"""ERP credit memos: create within the creditable amount, post (balances follow), cancel."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sandbox.common import BadRequest, Result
from sandbox.erp_support import (
    ZERO,
    WriteSupport,
    _amount,
    _lines,
    _object,
    _quantity,
    _text,
    erp_error,
)
from sandbox.model import (
    VAT_PERCENT,
    Row,
    guid,
    invoice_remaining,
    money,
    posted_credits,
    stamp,
    tax_of,
)


class CreditMemoWrites(WriteSupport):
    """POST/PATCH salesCreditMemos and the Microsoft.NAV.post action."""

    def create_credit_memo(self, document: Any, key: str | None, headers: Mapping[str, str],
                           base: str) -> Result:
        """POST salesCreditMemos: a Draft credit no larger than the invoice's creditable rest."""
        body = _object(document)
        invoice = self.erp["salesInvoices"].first("number", _text(body, "invoiceNumber"))
        customer_number = _text(body, "customerNumber")
        if invoice is None or invoice["customerNumber"] != customer_number:
            raise BadRequest(f"Invoice '{body['invoiceNumber']}' of customer "
                             f"'{customer_number}' does not exist.")
        if invoice["status"] == "Canceled":
            raise BadRequest(f"Invoice {invoice['number']} is Canceled.")
        priced = []
        for line in _lines(body, "salesCreditMemoLines"):
            quantity = _quantity(line.get("quantity"))
            price = _amount(line.get("unitPrice"), "unitPrice")
            percent = _amount(line.get("taxPercent", VAT_PERCENT), "taxPercent")
            net = money(price * quantity)
            priced.append((_text(line, "lineObjectNumber"),
                           _text(line, "description", required=False), quantity, price, percent,
                           net, tax_of(net, percent)))
        net = sum((p[5] for p in priced), ZERO)
        tax = sum((p[6] for p in priced), ZERO)
        self.check_creditable(invoice, net + tax)
        number = f"CM-{self.data.next_number('creditMemo')}"
        memo_id = guid("salesCreditMemo", number)
        lines = []
        for index, (sku, description, quantity, price, percent, line_net, line_tax) in \
                enumerate(priced):
            sequence = (index + 1) * 10000
            line_row = {"@odata.etag": self.data.next_etag(),
                        "id": guid("salesCreditMemoLine", f"{number}-{sequence}"),
                        "documentId": memo_id, "sequence": sequence, "lineObjectNumber": sku,
                        "description": description, "quantity": quantity, "unitPrice": price,
                        "taxPercent": percent, "amountExcludingTax": line_net,
                        "totalTaxAmount": line_tax, "amountIncludingTax": line_net + line_tax}
            self.erp["salesCreditMemoLines"].put(line_row)
            lines.append(line_row)
        reason = body.get("customerReturnReasonId")
        header = {
            "@odata.etag": self.data.next_etag(), "id": memo_id, "number": number,
            "externalDocumentNumber": _text(body, "externalDocumentNumber", required=False),
            "creditMemoDate": self.today(), "postingDate": self.today(), "dueDate": self.today(),
            "customerId": invoice["customerId"], "customerNumber": invoice["customerNumber"],
            "invoiceId": invoice["id"], "invoiceNumber": invoice["number"],
            "customerReturnReasonId": reason if isinstance(reason, str) else None,
            "currencyCode": "GBP", "totalAmountExcludingTax": net, "totalTaxAmount": tax,
            "totalAmountIncludingTax": net + tax, "status": "Draft",
            "lastModifiedDateTime": stamp(self.ctx.clock()),
        }
        self.erp["salesCreditMemos"].put(header)
        return self.created("salesCreditMemos", header, lines, base)

    def check_creditable(self, invoice: Row, amount: Decimal) -> None:
        """Refuse credit beyond the invoice total less credits already posted."""
        credited = posted_credits(self.erp, invoice["number"])
        creditable = invoice["totalAmountIncludingTax"] - credited
        if amount > creditable:
            raise BadRequest(f"The credit of {amount} exceeds the {creditable} still creditable "
                             f"on invoice {invoice['number']}.")

    def post_credit_memo(self, document: Any, key: str | None, headers: Mapping[str, str],
                         base: str) -> Result:
        """POST salesCreditMemos({id})/Microsoft.NAV.post: Draft → Open; balances follow."""
        memo = self.erp["salesCreditMemos"].get(key or "")
        if memo is None:
            return erp_error(404, "not_found", "The salesCreditMemos entity was not found.")
        if memo["status"] != "Draft":
            raise BadRequest(f"Credit memo {memo['number']} is {memo['status']}, not Draft.")
        invoice = self.erp["salesInvoices"].get(memo["invoiceId"])
        if invoice is None:
            raise BadRequest(f"Invoice {memo['invoiceNumber']} no longer exists.")
        self.check_creditable(invoice, memo["totalAmountIncludingTax"])
        moment = stamp(self.ctx.clock())
        self.erp["salesCreditMemos"].put({**memo, "status": "Open", "postingDate": self.today(),
                                          "@odata.etag": self.data.next_etag(),
                                          "lastModifiedDateTime": moment})
        remaining = invoice_remaining(self.erp, invoice)
        self.erp["salesInvoices"].put({
            **invoice, "remainingAmount": remaining,
            "status": "Paid" if remaining == ZERO and invoice["status"] == "Open"
            else invoice["status"],
            "@odata.etag": self.data.next_etag(), "lastModifiedDateTime": moment})
        self.refresh_balance(invoice["customerNumber"], moment)
        return Result(204)

    def refresh_balance(self, customer_number: str, moment: str) -> None:
        """balanceDue = the sum of the customer's invoices' remaining amounts."""
        customer = self.erp["customers"].first("number", customer_number)
        if customer is None:
            return
        due = sum((i["remainingAmount"] for i in self.erp["salesInvoices"].lookup(
            "customerNumber", customer_number)), ZERO)
        self.erp["customers"].put({**customer, "balanceDue": due, "lastModifiedDateTime": moment,
                                   "@odata.etag": self.data.next_etag()})

    def update_credit_memo(self, document: Any, key: str | None, headers: Mapping[str, str],
                           base: str) -> Result:
        """PATCH salesCreditMemos({id}) {status: Canceled}, only while Draft."""
        row, refusal = self.guarded("salesCreditMemos", key, headers)
        if row is None:
            return refusal  # type: ignore[return-value]
        body = _object(document)
        if set(body) != {"status"} or body["status"] != "Canceled":
            raise BadRequest("Only {\"status\": \"Canceled\"} can be patched on a credit memo.")
        if row["status"] != "Draft":
            raise BadRequest(f"Credit memo {row['number']} is {row['status']}, not Draft.")
        updated = {**row, "status": "Canceled", "@odata.etag": self.data.next_etag(),
                   "lastModifiedDateTime": stamp(self.ctx.clock())}
        self.erp["salesCreditMemos"].put(updated)
        return Result(200, updated, {"ETag": updated["@odata.etag"]})
