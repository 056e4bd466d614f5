"""Benchmark workloads: a GraphQL document, variables drawn per request, and a response check."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

CUSTOMER_360 = """
query Customer360($number: String!, $first: Int!) {
  customer(number: $number) {
    id number name email phone
    loyalty { tier points }
    creditLimit { amount currencyCode }
    balance { amount currencyCode }
    orders(first: $first) {
      pageInfo { hasNextPage endCursor }
      nodes {
        id number channel placedAt status sourceStatus financialStatus fulfillmentStatus
        total { amount currencyCode }
        lines {
          lineNumber sku description quantity quantityShipped quantityReturned returnableQuantity
          unitPrice { amount }
          product { sku name totalAvailable }
        }
        shipments { carrier trackingNumber status shippedAt deliveredAt }
        invoices { number status total { amount } balance { amount }
                   creditMemos { number status total { amount } } }
        returns { rmaNumber status }
      }
    }
    cases(first: 10) { nodes { id number subject status priority } }
  }
}
"""

ORDER_LOOKUP = """
query OrderLookup($number: String!) {
  order(number: $number) {
    id number status financialStatus fulfillmentStatus total { amount currencyCode }
    customer { number name }
    lines { lineNumber sku quantity quantityShipped returnableQuantity }
    shipments { status trackingNumber }
  }
}
"""

INVENTORY_CHECK = """
query InventoryCheck($skus: [String!]!) {
  inventory(skus: $skus) { sku location { id code kind } onHand reserved available }
}
"""

CUSTOMER_COUNT = 200
SKU_COUNT = 300


@dataclass(frozen=True)
class Workload:
    """One benchmark workload."""

    name: str
    query: str
    variables: Callable[[random.Random], dict[str, Any]]
    check: Callable[[dict[str, Any]], str | None]


def _customer_number(rng: random.Random) -> str:
    return f"C-{10001 + rng.randrange(CUSTOMER_COUNT)}"


def _check_customer(body: dict[str, Any]) -> str | None:
    customer = (body.get("data") or {}).get("customer")
    if customer is None:
        return "customer is null"
    if not isinstance(customer["orders"]["nodes"], list):
        return "orders missing"
    return None


def _check_inventory(body: dict[str, Any]) -> str | None:
    levels = (body.get("data") or {}).get("inventory")
    return None if isinstance(levels, list) and levels else "no inventory levels"


def customer_360(first: int = 10) -> Workload:
    """The agent's customer 360 over customers drawn from the whole seed."""
    return Workload(
        name=f"customer360(first:{first})",
        query=CUSTOMER_360,
        variables=lambda rng: {"number": _customer_number(rng), "first": first},
        check=_check_customer,
    )


def customer_360_hot() -> Workload:
    """One hot customer for the single-flight/dedup burst."""
    return Workload(
        name="customer360-burst(C-10001)",
        query=CUSTOMER_360,
        variables=lambda rng: {"number": "C-10001", "first": 10},
        check=_check_customer,
    )


def inventory_check(count: int = 20) -> Workload:
    """Availability of `count` random SKUs across every location."""
    return Workload(
        name=f"inventory({count} skus)",
        query=INVENTORY_CHECK,
        variables=lambda rng: {
            "skus": [f"SKU-{n:05d}" for n in rng.sample(range(1, SKU_COUNT + 1), count)]
        },
        check=_check_inventory,
    )


WORKLOADS: dict[str, Callable[[], Workload]] = {
    "customer360": customer_360,
    "customer360-burst": customer_360_hot,
    "inventory": inventory_check,
}
