"""An order's lines wait once for the reads in flight that their fields need, then answer.

While the second upstream level is in flight, the orders of a page are completed; an order's
lines wait for their shipments, returns, products and stock together, so each line's
quantities, product and stock answer at once (no await per field). The answers and errors
are those of the same query over sources that answer at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from fake_sources import FakeSources, build_dataset, codes, execute

from resolvers import orders as order_resolvers

QUERY = """{ customer(number: "C-1") { orders(first: 5) { nodes {
  number fulfillmentStatus shipments { status }
  lines { sku quantity quantityShipped quantityReturned returnableQuantity
          product { sku name totalAvailable } }
} } } }"""


def _gate(fake: FakeSources, names: list[str], release: asyncio.Event) -> None:
    """Hold these fake reads (`source.method`) until `release` is set."""
    for dotted in names:
        source_name, method = dotted.split(".")
        source = getattr(fake, source_name)
        read: Callable[..., Awaitable[Any]] = getattr(source, method)

        async def held(*args: Any, read: Callable[..., Awaitable[Any]] = read) -> Any:
            await release.wait()
            return await read(*args)

        setattr(source, method, held)


async def _run(fake: FakeSources, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, list[bool]]:
    """The query's result, and for each line quantity computed whether it was answered at once."""
    at_once: list[bool] = []
    compute = order_resolvers.resolve_line_quantities

    def recorded(*args: Any) -> Any:
        found = compute(*args)
        at_once.append(isinstance(found, order_resolvers.LineQuantities))
        return found

    monkeypatch.setattr(order_resolvers, "resolve_line_quantities", recorded)
    result = await execute(fake, QUERY)
    monkeypatch.setattr(order_resolvers, "resolve_line_quantities", compute)
    return result, at_once


@pytest.mark.parametrize("failing", [None, "wms.inventory_levels"])
async def test_lines_wait_once_for_their_reads_and_answer_as_if_they_were_there(
    monkeypatch: pytest.MonkeyPatch, failing: str | None
) -> None:
    data = build_dataset(orders_per_customer=4)
    direct = FakeSources(data)
    held = FakeSources(data)
    if failing:
        direct.fail(failing)
        held.fail(failing)
    release = asyncio.Event()
    _gate(held, ["wms.shipments_by_order_numbers", "erp.products_by_skus"], release)
    asyncio.get_running_loop().call_later(0.05, release.set)

    expected, _ = await _run(direct, monkeypatch)
    found, at_once = await _run(held, monkeypatch)

    assert found.data == expected.data
    assert codes(found) == codes(expected)
    assert (codes(found) != []) == bool(failing)  # a failed stock read is the lines' error
    assert at_once and all(at_once)  # every line's quantities answered after the one wait
    # one read of each kind: the lines' wait joined the loads in flight
    assert held.calls["wms.shipments_by_order_numbers"] == 1
    assert held.calls["erp.products_by_skus"] == 1
