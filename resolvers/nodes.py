"""Node resolution: a (type name, natural key) pair from a global id to its record.

Natural keys: Customer `C-10001`, Order `SO-100001`, OrderLine `SO-100001:10000`, Invoice
`SI-100001`, CreditMemo and Refund `CM-100001`, Return `RMA-100001`, Shipment
`SO-100001:SHP-…`, Product `SKU-00001`, Location `LOC-01`, Case `12345`. A key that cannot
name a record of its type raises `InvalidNodeKey`; a well-formed key nobody knows is `None`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from . import cases, customers, inventory, invoices, orders, returns, shipments
from .loaders import Loaders

Fetch = Callable[[Loaders, str], Awaitable[object | None]]


class InvalidNodeKey(ValueError):
    """A global id's key is not a valid natural key for its type."""


def split_key(type_name: str, key: str) -> tuple[str, str]:
    """Split a composite key `PARENT:CHILD`; both parts must be non-empty."""
    parent, sep, child = key.rpartition(":")
    if not sep or not parent or not child:
        raise InvalidNodeKey(f"{type_name} ids are made of two parts, got {key!r}")
    return parent, child


def int_key(type_name: str, key: str) -> int:
    """A positive integer key (service platform ids, ERP line numbers)."""
    if not key.isdigit() or int(key) <= 0:
        raise InvalidNodeKey(f"{type_name} id must be a positive number, got {key!r}")
    return int(key)


async def _order_line(loaders: Loaders, key: str) -> object | None:
    order_number, line = split_key("OrderLine", key)
    return await orders.resolve_order_line(loaders, order_number, int_key("OrderLine", line))


async def _shipment(loaders: Loaders, key: str) -> object | None:
    order_number, shipment_id = split_key("Shipment", key)
    return await shipments.resolve_shipment(loaders, order_number, shipment_id)


async def _case(loaders: Loaders, key: str) -> object | None:
    return await cases.resolve_case(loaders, int_key("Case", key))


NODE_FETCHERS: dict[str, Fetch] = {
    "Customer": lambda loaders, key: customers.resolve_customer(loaders, number=key),
    "Order": orders.resolve_order,
    "OrderLine": _order_line,
    "Invoice": invoices.resolve_invoice,
    "CreditMemo": invoices.resolve_credit_memo,
    "Refund": returns.resolve_refund,
    "Return": returns.resolve_return,
    "Shipment": _shipment,
    "Product": inventory.resolve_product,
    "Location": inventory.resolve_location,
    "Case": _case,
}


def check_key(type_name: str, key: str) -> None:
    """Raise InvalidNodeKey before any upstream call when a key cannot be valid."""
    if not key.strip():
        raise InvalidNodeKey(f"{type_name} id has an empty key")
    if type_name == "OrderLine":
        int_key(type_name, split_key(type_name, key)[1])
    elif type_name == "Shipment":
        split_key(type_name, key)
    elif type_name == "Case":
        int_key(type_name, key)


async def resolve_node_record(loaders: Loaders, type_name: str, key: str) -> object | None:
    """The record behind one (type, key); None when the upstream does not know it."""
    fetch = NODE_FETCHERS.get(type_name)
    if fetch is None:
        raise InvalidNodeKey(f"{type_name} is not a type that can be fetched by id")
    check_key(type_name, key)
    return await fetch(loaders, key)
