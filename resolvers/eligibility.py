"""Return eligibility: which lines of an order may come back today, and how many of each."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date

from sources import policy
from sources.records import Order, OrderLine

from .loaders import Loaders

ORDER_NOT_FOUND = "ORDER_NOT_FOUND"


@dataclass(frozen=True, slots=True)
class LineEligibility:
    """Whether one order line may be returned, how many units, and if not, why."""

    order: Order
    line: OrderLine
    eligible: bool
    returnable_quantity: int
    reason: str | None


@dataclass(frozen=True, slots=True)
class Eligibility:
    """Eligibility of a whole order: eligible when at least one line is."""

    order_number: str
    order: Order | None
    lines: tuple[LineEligibility, ...]

    @property
    def eligible(self) -> bool:
        """At least one line may be returned now."""
        return any(line.eligible for line in self.lines)

    @property
    def reasons(self) -> list[str]:
        """Distinct reason codes of the lines that may not be returned, in line order."""
        if self.order is None:
            return [ORDER_NOT_FOUND]
        codes = (line.reason for line in self.lines if not line.eligible and line.reason)
        return list(dict.fromkeys(codes))


async def resolve_return_eligibility(
    loaders: Loaders, order_number: str, today: date, return_policy: policy.ReturnPolicy
) -> Eligibility:
    """Check every line of an order against the return policy as of `today`."""
    number = order_number.strip()
    order = await loaders.order_by_number.load(number)
    if order is None:
        return Eligibility(order_number=number, order=None, lines=())
    shipments, returns = await asyncio.gather(
        loaders.shipments_by_order_number.load(number),
        loaders.returns_by_order_number.load(number),
    )
    lines = []
    for line in order.lines:
        eligible, returnable, reason = policy.line_eligibility(
            order, line, shipments, returns, today, return_policy
        )
        lines.append(LineEligibility(order, line, eligible, returnable, reason))
    return Eligibility(order_number=number, order=order, lines=tuple(lines))
