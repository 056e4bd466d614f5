"""ERP write support: error bodies, request validation, If-Match, created responses."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sandbox.common import BadRequest, Result, SandboxState
from sandbox.model import (
    Row,
    SandboxData,
    money,
)
from sandbox.odata import ODataError, to_decimal

ERROR_CODES = {"unauthorized": "Authentication_InvalidCredentials",
               "rate_limited": "TooManyRequests", "unavailable": "ServiceUnavailable",
               "bad_request": "BadRequest", "not_found": "BadRequest_NotFound",
               "idempotency_key_reused": "BadRequest_IdempotencyKeyReused",
               "idempotency_key_in_use": "Request_IdempotencyKeyInUse"}
RESOLUTIONS = ("Refund", "Replacement", "StoreCredit")
RETURN_STATUSES = ("Draft", "Released", "Received", "Closed", "Rejected", "Canceled")
FINAL_RETURN_STATUSES = ("Closed", "Rejected", "Canceled")
REASON_CODES = ("DAMAGED", "DEFECTIVE", "WRONG_ITEM", "NOT_AS_DESCRIBED", "SIZE_OR_FIT",
                "NO_LONGER_NEEDED", "OTHER")
CHANNELS = ("WEB", "STORE", "PHONE", "MARKETPLACE")
ZERO = money(0)
Write = Callable[[Any, "str | None", Mapping[str, str], str], Result]


def erp_error(status: int, kind: str, message: str) -> Result:
    """Business Central's error body; `kind` is a sandbox kind or a literal BC code."""
    return Result(status, {"error": {"code": ERROR_CODES.get(kind, kind), "message": message}})


@dataclass
class ErpContext:
    """What ERP handlers share: the data, the app's control state and the clock."""

    data: SandboxData
    state: SandboxState
    clock: Callable[[], datetime]


def _text(document: Mapping[str, Any], name: str, *, required: bool = True) -> str:
    value = document.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise BadRequest(f"'{name}' is required and must be a string.")
    return value


def _quantity(value: Any, name: str = "quantity") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) \
            or value <= 0:
        raise BadRequest(f"'{name}' must be a positive whole number.")
    return int(value)


def _amount(value: Any, name: str) -> Decimal:
    try:
        amount = money(to_decimal(value))
    except ODataError:
        raise BadRequest(f"'{name}' must be a number.") from None
    if amount < 0:
        raise BadRequest(f"'{name}' must not be negative.")
    return amount


def _object(document: Any) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise BadRequest("The request body must be a JSON object.")
    return document


def _lines(document: Mapping[str, Any], name: str) -> list[dict[str, Any]]:
    lines = document.get(name)
    if not isinstance(lines, list) or not lines or \
            not all(isinstance(line, dict) for line in lines):
        raise BadRequest(f"'{name}' must be a non-empty list of objects.")
    return lines


class WriteSupport:
    """Shared plumbing of the ERP write handlers."""

    def __init__(self, ctx: ErpContext) -> None:
        self.ctx, self.data, self.erp = ctx, ctx.data, ctx.data.erp

    def today(self) -> str:
        """The ERP work date."""
        return self.ctx.clock().date().isoformat()

    def created(self, entity_set: str, row: Row, lines: list[Row], base: str) -> Result:
        """201 with the entity and its lines, Location and ETag."""
        nav = {"salesReturnOrders": "salesReturnOrderLines",
               "salesCreditMemos": "salesCreditMemoLines",
               "salesOrders": "salesOrderLines"}[entity_set]
        company = self.data.company["id"]
        location = f"{base}/api/v2.0/companies({company})/{entity_set}({row['id']})"
        context = f"{base}/api/v2.0/$metadata#companies({company})/{entity_set}/$entity"
        return Result(201, {"@odata.context": context, **row, nav: lines},
                      {"Location": location, "ETag": row["@odata.etag"]})

    def guarded(self, entity_set: str, key: str | None,
                headers: Mapping[str, str]) -> tuple[Row | None, Result | None]:
        """The current row if If-Match allows the write, else the refusal."""
        row = self.erp[entity_set].get(key or "")
        if row is None:
            return None, erp_error(404, "not_found", f"The {entity_set} entity was not found.")
        if_match = headers.get("if-match")
        if not if_match:
            return None, erp_error(400, "BadRequest_InvalidToken",
                                   "Could not validate the client concurrency token required "
                                   "by the service. Please provide a valid token in the "
                                   "client request.")
        if if_match.strip() != "*" and row["@odata.etag"] not in [t.strip() for t in
                                                                   if_match.split(",")]:
            return None, erp_error(409, "Request_EntityChanged",
                                   "Another user has already changed the record.")
        return row, None
