"""Benchmark workloads: a GraphQL document, variables drawn per request, and a response check.

Each request carries its own variables drawn over the whole seed (not one hot record) and is
checked in full: HTTP 200, no `errors`, the expected shape. `marker` is what the wrk Lua
script checks for in every response body (bench/wrk.py), beside the status and `"errors"`.
The return workflow is a `Flow` of dependent requests (bench/flows.py).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from strawberry import relay

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

# The governed floor: one field through everything every request pays for (HTTP, auth,
# persisted-query and limit checks, cost, context and loaders, tracing, logs, metrics) and
# nothing else. What any query can reach at most on this graph: its throughput bounds the
# 360's from above, whatever the 360's fields cost.
FLOOR = """
query Floor($number: String!) {
  customer(number: $number) { number }
}
"""

NODES = """
query Nodes($ids: [ID!]!) {
  nodes(ids: $ids) {
    __typename id
    ... on Customer { number name }
    ... on Order { number status total { amount } }
    ... on Product { sku name unitPrice { amount } }
    ... on Location { code name }
  }
}
"""

# The fewest upstream HTTP requests a cold customer-360 (the document above) can cost, and
# why (docs/benchmark.md): two dependency levels, and per level what each API can combine.
#   level 1, keyed by the customer number from the query:
#     ERP  1  one $batch: customers, salesOrders+lines, salesInvoices+lines,
#             salesReturnOrders+lines, salesCreditMemos, all `customerNumber eq …`
#     desk 1  users/show_many?external_ids= (loyalty, and the user id tickets need)
#   level 2, keyed by what level 1 returned (order numbers, SKUs, user id):
#     ERP  1  items by SKU (a plain GET: level 1's returns and credit memos are the
#             customer's, so they already answer each order's returns and invoice's memos)
#     WMS  2  /v1/shipments?order_numbers= and /v1/inventory-levels?skus= (two endpoints, no
#             batch endpoint to combine them)
#     desk 1  users/{id}/tickets/requested (one page: page[size]=100)
# Nothing at level 2 can move to level 1: no API filters items, shipments, stock or tickets
# by customer. The ERP's company id is read once per process, not per request.
MIN_360_LEVELS = 2
MIN_360_REQUESTS = {"erp": 2, "wms": 2, "servicedesk": 2}

CUSTOMER_COUNT = 200
SKU_COUNT = 300
LOCATION_COUNT = 12
NODE_TYPES = ("Customer", "Order", "Product", "Location")


@dataclass(frozen=True)
class Seed:
    """What the workloads draw from: the seed's keys (order numbers are read from the ERP)."""

    customers: Sequence[str] = tuple(f"C-{10001 + n}" for n in range(CUSTOMER_COUNT))
    skus: Sequence[str] = tuple(f"SKU-{n:05d}" for n in range(1, SKU_COUNT + 1))
    locations: Sequence[str] = tuple(f"LOC-{n:02d}" for n in range(1, LOCATION_COUNT + 1))
    orders: Sequence[str] = field(default_factory=tuple)


@dataclass(frozen=True)
class Workload:
    """One benchmark workload."""

    name: str
    query: str
    variables: Callable[[random.Random], dict[str, Any]]
    check: Callable[[dict[str, Any]], str | None]
    marker: str


def _data(body: dict[str, Any], root: str) -> Any:
    return (body.get("data") or {}).get(root)


def _check_customer(body: dict[str, Any]) -> str | None:
    customer = _data(body, "customer")
    if not isinstance(customer, dict) or not customer.get("number"):
        return "customer is null"
    orders = (customer.get("orders") or {}).get("nodes")
    if not isinstance(orders, list) or any(not o.get("lines") for o in orders):
        return "orders or their lines missing"
    if not isinstance((customer.get("cases") or {}).get("nodes"), list) or not customer.get("loyalty"):
        return "cases or loyalty missing"
    return None


def _check_order(body: dict[str, Any]) -> str | None:
    order = _data(body, "order")
    if not isinstance(order, dict) or not order.get("lines") or not (order.get("customer") or {}).get("name"):
        return "order, its lines or its customer missing"
    return None


def _check_inventory(body: dict[str, Any]) -> str | None:
    levels = _data(body, "inventory")
    if not isinstance(levels, list) or not levels:
        return "no inventory levels"
    if any(not (level.get("location") or {}).get("code") for level in levels):
        return "a level without its location"
    return None


def _check_nodes(body: dict[str, Any]) -> str | None:
    nodes = _data(body, "nodes")
    if not isinstance(nodes, list) or len(nodes) != 50 or any(node is None for node in nodes):
        return "not 50 nodes"
    return None


def customer_360(seed: Seed, first: int = 10) -> Workload:
    """The agent's customer 360 over customers drawn from the whole seed."""
    return Workload(
        name=f"customer360(first:{first})",
        query=CUSTOMER_360,
        variables=lambda rng: {"number": rng.choice(seed.customers), "first": first},
        check=_check_customer,
        marker='"orders":{"pageInfo"',
    )


def _check_floor(body: dict[str, Any]) -> str | None:
    customer = _data(body, "customer")
    return None if isinstance(customer, dict) and customer.get("number") else "customer is null"


def floor(seed: Seed) -> Workload:
    """One field of a customer drawn from the seed: the per-request cost of governance."""
    return Workload(
        name="floor(one field)",
        query=FLOOR,
        variables=lambda rng: {"number": rng.choice(seed.customers)},
        check=_check_floor,
        marker='"customer":{"number"',
    )


def customer_360_burst(seed: Seed, customer: str) -> Workload:
    """The 360 of one customer, for a burst of identical 360s (single-flight and the coalescer)."""
    return replace(customer_360(seed), name="customer360-burst",
                   variables=lambda rng: {"number": customer, "first": 10})


def order_lookup(seed: Seed) -> Workload:
    """An order by number, live or archived, drawn from every order of the seed."""
    return Workload(
        name="order-lookup",
        query=ORDER_LOOKUP,
        variables=lambda rng: {"number": rng.choice(seed.orders)},
        check=_check_order,
        marker='"order":{"id"',
    )


def inventory_check(seed: Seed, count: int = 20) -> Workload:
    """Availability of `count` random SKUs across every location."""
    return Workload(
        name=f"inventory({count} skus)",
        query=INVENTORY_CHECK,
        variables=lambda rng: {"skus": rng.sample(list(seed.skus), count)},
        check=_check_inventory,
        marker='"inventory":[{',
    )


def nodes(seed: Seed, count: int = 50) -> Workload:
    """`nodes` with `count` global ids of customers, orders, products and locations."""
    keys = {"Customer": seed.customers, "Order": seed.orders, "Product": seed.skus,
            "Location": seed.locations}

    def variables(rng: random.Random) -> dict[str, Any]:
        ids = []
        for n in range(count):
            type_name = NODE_TYPES[n % len(NODE_TYPES)]
            ids.append(relay.to_base64(type_name, rng.choice(keys[type_name])))
        return {"ids": ids}

    return Workload(name=f"nodes({count} ids)", query=NODES, variables=variables,
                    check=_check_nodes, marker='"nodes":[{')


def workloads(seed: Seed) -> dict[str, Callable[[], Workload]]:
    """The request workloads by their command-line name."""
    return {
        "customer360": lambda: customer_360(seed),
        "customer360-first5": lambda: customer_360(seed, 5),
        "customer360-first50": lambda: customer_360(seed, 50),
        "order": lambda: order_lookup(seed),
        "inventory": lambda: inventory_check(seed),
        "nodes": lambda: nodes(seed),
        "floor": lambda: floor(seed),
    }


# bench/faults.py drives the 360 over the seed's customers without reading order numbers.
WORKLOADS: dict[str, Callable[[], Workload]] = {"customer360": lambda: customer_360(Seed())}
