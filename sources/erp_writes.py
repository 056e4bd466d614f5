"""ErpWrites: Business Central document writes the workflows make, on the ERP client's pool.

Every write carries the caller's `Idempotency-Key`, so a step retried after a timeout gets
the first response replayed instead of a second document. Updates send `If-Match` with the
entity's current etag (read just before). After a write, the read caches of what changed
are invalidated so the next query shows the new truth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from . import erp_records as tr
from .erp import ErpClient
from .erp_batch import EXPAND
from .errors import SourceNotFound
from .records import CreditMemo, Order, Return, ReturnReason, ReturnResolution

_RESOLUTION = {
    ReturnResolution.REFUND: "Refund",
    ReturnResolution.REPLACEMENT: "Replacement",
    ReturnResolution.STORE_CREDIT: "StoreCredit",
}


@dataclass(frozen=True, slots=True)
class ReturnLineRequest:
    """One line of a return order to create."""

    sku: str
    quantity: int
    reason: ReturnReason
    order_line_number: int


@dataclass(frozen=True, slots=True)
class CreditLineRequest:
    """One line of a credit memo to create; `unit_price` excludes tax, like invoice lines."""

    sku: str
    description: str
    quantity: int
    unit_price: Decimal
    tax_percent: Decimal | None = None  # None: the ERP's standard rate


@dataclass(frozen=True, slots=True)
class OrderLineRequest:
    """One line of a sales order to create (replacements are priced 0)."""

    sku: str
    quantity: int
    unit_price: Decimal = Decimal(0)


def _number(value: Decimal) -> float:
    """A two-place amount as the JSON number Business Central expects."""
    return float(value.quantize(Decimal("0.01")))


class ErpWrites:
    """Typed async writes of return orders, credit memos and replacement orders."""

    def __init__(self, client: ErpClient) -> None:
        self._erp = client

    async def _path(self, entity_set: str, erp_id: str | None = None, action: str = "") -> str:
        company = await self._erp.company_id()
        path = f"/api/v2.0/companies({company})/{entity_set}"
        if erp_id is not None:
            path += f"({erp_id})"
        return path + (f"/{action}" if action else "")

    async def _write(
        self, method: str, path: str, route: str, key: str, body: Any = None, etag: str | None = None
    ) -> Any:
        headers = {"Idempotency-Key": key}
        if etag is not None:
            headers["If-Match"] = etag
        return await self._erp._request_json(method, path, json=body, headers=headers, route=route)

    async def _get(self, entity_set: str, erp_id: str) -> Any:
        """A fresh read of one entity (never cached: the etag must be current)."""
        path = await self._path(entity_set, erp_id)
        expand = EXPAND.get(entity_set)
        params = {"$expand": expand} if expand else None
        return await self._erp._request_json("GET", path, params=params, route=f"GET {entity_set}(id)")

    # -- return orders ---------------------------------------------------------------------

    async def create_return_order(
        self,
        *,
        customer_number: str,
        order_number: str,
        invoice_number: str | None,
        reference: str,
        resolution: ReturnResolution,
        lines: Sequence[ReturnLineRequest],
        idempotency_key: str,
    ) -> Return:
        """Create a Draft sales return order (canonical status REQUESTED)."""
        body: dict[str, Any] = {
            "customerNumber": customer_number,
            "orderNumber": order_number,
            "externalDocumentNumber": reference,
            "returnResolution": _RESOLUTION[resolution],
            "salesReturnOrderLines": [
                {"lineObjectNumber": line.sku, "quantity": line.quantity,
                 "returnReasonCode": line.reason.value, "orderLineSequence": line.order_line_number}
                for line in lines
            ],
        }
        if invoice_number:
            body["invoiceNumber"] = invoice_number
        raw = await self._write(
            "POST", await self._path("salesReturnOrders"), "POST salesReturnOrders", idempotency_key, body
        )
        created = self._return(raw)
        self._returns_changed(created)
        return created

    async def set_return_status(self, erp_id: str, status: str, *, idempotency_key: str) -> Return:
        """Move a return order to `status` ("Released", "Closed", "Canceled", …) with If-Match."""
        current = await self._get("salesReturnOrders", erp_id)
        if current.get("status") == status:
            return self._return(current)
        await self._write(
            "PATCH", await self._path("salesReturnOrders", erp_id), "PATCH salesReturnOrders",
            idempotency_key, {"status": status}, etag=current.get("@odata.etag") or "*",
        )
        updated = self._return(await self._get("salesReturnOrders", erp_id))
        self._returns_changed(updated)
        return updated

    async def return_order(self, erp_id: str) -> Return:
        """A return order read fresh from the ERP."""
        return self._return(await self._get("salesReturnOrders", erp_id))

    def _return(self, raw: Any) -> Return:
        try:
            return tr.return_order(raw, self._erp.local_currency, ())
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise self._erp._malformed("return order", exc) from exc

    def _returns_changed(self, rma: Return) -> None:
        self._erp.invalidate("return", [rma.rma_number])
        self._erp.invalidate("returns_by_order", [rma.order_number])
        self._erp.invalidate("returns_by_customer", [rma.customer_number])

    # -- credit memos ----------------------------------------------------------------------

    async def create_credit_memo(
        self,
        *,
        customer_number: str,
        invoice_number: str,
        reference: str,
        lines: Sequence[CreditLineRequest],
        idempotency_key: str,
    ) -> CreditMemo:
        """Create a Draft credit memo against an invoice."""
        body = {
            "customerNumber": customer_number,
            "invoiceNumber": invoice_number,
            "externalDocumentNumber": reference,
            "salesCreditMemoLines": [
                {"lineObjectNumber": line.sku, "description": line.description,
                 "quantity": line.quantity, "unitPrice": _number(line.unit_price),
                 **({} if line.tax_percent is None else {"taxPercent": _number(line.tax_percent)})}
                for line in lines
            ],
        }
        raw = await self._write(
            "POST", await self._path("salesCreditMemos"), "POST salesCreditMemos", idempotency_key, body
        )
        memo = self._memo(raw)
        self._memos_changed(memo)
        return memo

    async def post_credit_memo(self, erp_id: str, *, idempotency_key: str) -> CreditMemo:
        """Post a Draft credit memo (bound action `Microsoft.NAV.post`); posting is final."""
        current = self._memo(await self._get("salesCreditMemos", erp_id))
        if current.source_status == "Draft":
            await self._write(
                "POST", await self._path("salesCreditMemos", erp_id, "Microsoft.NAV.post"),
                "POST salesCreditMemos.post", idempotency_key,
            )
        memo = self._memo(await self._get("salesCreditMemos", erp_id))
        self._memos_changed(memo)
        return memo

    async def cancel_credit_memo(self, erp_id: str, *, idempotency_key: str) -> CreditMemo:
        """Cancel a Draft credit memo (a posted one cannot be cancelled)."""
        raw = await self._get("salesCreditMemos", erp_id)
        if raw.get("status") != "Canceled":
            await self._write(
                "PATCH", await self._path("salesCreditMemos", erp_id), "PATCH salesCreditMemos",
                idempotency_key, {"status": "Canceled"}, etag=raw.get("@odata.etag") or "*",
            )
            raw = await self._get("salesCreditMemos", erp_id)
        memo = self._memo(raw)
        self._memos_changed(memo)
        return memo

    async def credit_memos_for(self, reference: str) -> list[CreditMemo]:
        """Credit memos whose external document is `reference` (e.g. an RMA), read fresh."""
        path = await self._path("salesCreditMemos")
        escaped = reference.replace("'", "''")
        body = await self._erp._request_json(
            "GET", path, params={"$filter": f"externalDocumentNumber eq '{escaped}'"},
            route="GET salesCreditMemos",
        )
        return [self._memo(raw) for raw in (body or {}).get("value", [])]

    def _memo(self, raw: Any) -> CreditMemo:
        try:
            return tr.credit_memo(raw, self._erp.local_currency)
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise self._erp._malformed("credit memo", exc) from exc

    def _memos_changed(self, memo: CreditMemo) -> None:
        """A credit memo moves the invoice's balance, the customer's and the order's money state."""
        self._erp.invalidate("credit_memo", [memo.number])
        self._erp.invalidate("customer", [memo.customer_number])
        self._erp.invalidate("invoices_by_customer", [memo.customer_number])
        if memo.invoice_number:
            self._erp.invalidate("credit_memos_by_invoice", [memo.invoice_number])
            self._erp.invalidate("invoice", [memo.invoice_number])
        if memo.reference:
            self._erp.invalidate("credit_memos_by_return", [memo.reference])
            self._erp.invalidate("return", [memo.reference])

    def invoice_changed(self, order_number: str) -> None:
        """Forget an order's cached invoices and returns after its money state changed."""
        self._erp.invalidate("invoices_by_order", [order_number])
        self._erp.invalidate("returns_by_order", [order_number])
        self._erp.invalidate("order", [order_number])

    # -- sales orders (replacements) ----------------------------------------------------------

    async def create_sales_order(
        self,
        *,
        customer_number: str,
        reference: str,
        channel: str | None,
        lines: Sequence[OrderLineRequest],
        idempotency_key: str,
    ) -> Order:
        """Create a sales order (replacement orders are priced 0)."""
        body: dict[str, Any] = {
            "customerNumber": customer_number,
            "externalDocumentNumber": reference,
            "salesOrderLines": [
                {"lineObjectNumber": line.sku, "quantity": line.quantity,
                 "unitPrice": _number(line.unit_price)}
                for line in lines
            ],
        }
        if channel:
            body["shortcutDimension1Code"] = channel
        raw = await self._write(
            "POST", await self._path("salesOrders"), "POST salesOrders", idempotency_key, body
        )
        if not raw.get("salesOrderLines"):
            raw = await self._get("salesOrders", raw["id"])
        order = self._order(raw)
        self._erp.invalidate("order", [order.number])
        self._erp.invalidate("orders_by_customer", [customer_number])
        return order

    async def delete_sales_order(self, erp_id: str, *, idempotency_key: str) -> None:
        """Delete a sales order with If-Match; an order already gone counts as deleted."""
        try:
            raw = await self._get("salesOrders", erp_id)
        except SourceNotFound:
            return
        await self._write(
            "DELETE", await self._path("salesOrders", erp_id), "DELETE salesOrders",
            idempotency_key, etag=raw.get("@odata.etag") or "*",
        )
        self._erp.invalidate("order", [raw.get("number")])
        self._erp.invalidate("orders_by_customer", [raw.get("customerNumber")])

    def _order(self, raw: Any) -> Order:
        try:
            return tr.order(raw, self._erp.local_currency)
        except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
            raise self._erp._malformed("sales order", exc) from exc
