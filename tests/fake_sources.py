"""An in-memory stand-in for `sources.Sources` that counts every bulk call.

It answers exactly like the interface in `sources/INTERFACE.md` (dicts keyed by the asked
keys, missing keys absent) from lists of canonical records, so loader and schema tests can
prove batching by counting calls. `fail` makes one method raise a SourceError.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from graph.auth import Principal
from sources.errors import SourceUnavailable
from sources.records import (
    Case,
    CaseComment,
    CasePriority,
    CaseStatus,
    CreditMemo,
    CreditMemoStatus,
    Customer,
    CustomerProfile,
    InventoryLevel,
    Invoice,
    InvoiceStatus,
    Location,
    LocationKind,
    Money,
    Order,
    OrderLine,
    OrderStatus,
    Page,
    Product,
    Return,
    ReturnLine,
    ReturnReason,
    ReturnResolution,
    ReturnStatus,
    Shipment,
    ShipmentLine,
    ShipmentStatus,
)

TODAY = date(2026, 11, 20)
DEVELOPER = Principal(sub="dev-1", roles=("developer",), client_id="tests")


def gbp(value: str | int) -> Money:
    """An amount in pounds."""
    return Money(Decimal(str(value)), "GBP")


@dataclass
class Dataset:
    """Everything the fake upstreams hold."""

    customers: list[Customer] = field(default_factory=list)
    profiles: list[CustomerProfile] = field(default_factory=list)
    orders: list[Order] = field(default_factory=list)
    invoices: list[Invoice] = field(default_factory=list)
    credit_memos: list[CreditMemo] = field(default_factory=list)
    returns: list[Return] = field(default_factory=list)
    products: list[Product] = field(default_factory=list)
    locations: list[Location] = field(default_factory=list)
    levels: list[InventoryLevel] = field(default_factory=list)
    shipments: list[Shipment] = field(default_factory=list)
    cases: list[Case] = field(default_factory=list)
    comments: list[CaseComment] = field(default_factory=list)


class _Fake:
    """Shared call counting for the three fake clients."""

    def __init__(
        self, name: str, data: Dataset, calls: Counter[str], log: list[tuple[str, tuple[Any, ...]]]
    ) -> None:
        self.source = name
        self.data = data
        self.calls = calls
        self.log = log
        self.failing: set[str] = set()

    def _called(self, method: str, *args: Any) -> None:
        self.calls[f"{self.source}.{method}"] += 1
        self.log.append((f"{self.source}.{method}", args))
        if method in self.failing:
            raise SourceUnavailable(self.source, f"{method} is down")


def _by(items: Sequence[Any], key: Callable[[Any], Any], keys: Sequence[Any]) -> dict[Any, Any]:
    wanted = set(keys)
    return {key(item): item for item in items if key(item) in wanted}


def _grouped(
    items: Sequence[Any], key: Callable[[Any], Any], keys: Sequence[Any]
) -> dict[Any, list[Any]]:
    result: dict[Any, list[Any]] = {}
    for item in items:
        if key(item) in keys:
            result.setdefault(key(item), []).append(item)
    return result


class FakeErp(_Fake):
    """ERP methods of the interface."""

    async def customers_by_numbers(self, numbers: Sequence[str]) -> dict[str, Customer]:
        self._called("customers_by_numbers", tuple(numbers))
        return _by(self.data.customers, lambda c: c.number, numbers)

    async def customers_by_emails(self, emails: Sequence[str]) -> dict[str, Customer]:
        self._called("customers_by_emails", tuple(emails))
        return _by(self.data.customers, lambda c: (c.email or "").lower(), emails)

    async def search_customers(self, text: str, limit: int, offset: int) -> list[Customer]:
        self._called("search_customers", text, limit, offset)
        needle = text.lower()
        found = [
            c for c in self.data.customers if needle in f"{c.name} {c.email} {c.number}".lower()
        ]
        return found[offset : offset + limit]

    async def orders_by_numbers(self, numbers: Sequence[str]) -> dict[str, Order]:
        self._called("orders_by_numbers", tuple(numbers))
        return _by(self.data.orders, lambda o: o.number, numbers)

    async def orders_by_customer_numbers(self, numbers: Sequence[str]) -> dict[str, list[Order]]:
        self._called("orders_by_customer_numbers", tuple(numbers))
        newest = sorted(self.data.orders, key=lambda o: (o.placed_at, o.number), reverse=True)
        return _grouped(newest, lambda o: o.customer_number, numbers)

    async def recent_orders(self, limit: int, offset: int) -> list[Order]:
        self._called("recent_orders", limit, offset)
        live = [o for o in self.data.orders if not o.archived]
        newest = sorted(live, key=lambda o: (o.placed_at, o.number), reverse=True)
        return newest[offset : offset + limit]

    async def invoices_by_numbers(self, numbers: Sequence[str]) -> dict[str, Invoice]:
        self._called("invoices_by_numbers", tuple(numbers))
        return _by(self.data.invoices, lambda i: i.number, numbers)

    async def invoices_by_order_numbers(self, numbers: Sequence[str]) -> dict[str, list[Invoice]]:
        self._called("invoices_by_order_numbers", tuple(numbers))
        return _grouped(self.data.invoices, lambda i: i.order_number, numbers)

    async def invoices_by_customer_numbers(
        self, numbers: Sequence[str]
    ) -> dict[str, list[Invoice]]:
        self._called("invoices_by_customer_numbers", tuple(numbers))
        return _grouped(self.data.invoices, lambda i: i.customer_number, numbers)

    async def credit_memos_by_numbers(self, numbers: Sequence[str]) -> dict[str, CreditMemo]:
        self._called("credit_memos_by_numbers", tuple(numbers))
        return _by(self.data.credit_memos, lambda m: m.number, numbers)

    async def credit_memos_by_invoice_numbers(
        self, numbers: Sequence[str]
    ) -> dict[str, list[CreditMemo]]:
        self._called("credit_memos_by_invoice_numbers", tuple(numbers))
        return _grouped(self.data.credit_memos, lambda m: m.invoice_number, numbers)

    async def credit_memos_by_return_numbers(
        self, numbers: Sequence[str]
    ) -> dict[str, list[CreditMemo]]:
        self._called("credit_memos_by_return_numbers", tuple(numbers))
        return _grouped(self.data.credit_memos, lambda m: m.return_number, numbers)

    async def returns_by_numbers(self, numbers: Sequence[str]) -> dict[str, Return]:
        self._called("returns_by_numbers", tuple(numbers))
        return _by(self.data.returns, lambda r: r.rma_number, numbers)

    async def returns_by_order_numbers(self, numbers: Sequence[str]) -> dict[str, list[Return]]:
        self._called("returns_by_order_numbers", tuple(numbers))
        return _grouped(self.data.returns, lambda r: r.order_number, numbers)

    async def returns_by_customer_numbers(self, numbers: Sequence[str]) -> dict[str, list[Return]]:
        self._called("returns_by_customer_numbers", tuple(numbers))
        return _grouped(self.data.returns, lambda r: r.customer_number, numbers)

    async def products_by_skus(self, skus: Sequence[str]) -> dict[str, Product]:
        self._called("products_by_skus", tuple(skus))
        return _by(self.data.products, lambda p: p.sku, skus)


class FakeWms(_Fake):
    """WMS methods of the interface."""

    async def locations(self) -> list[Location]:
        self._called("locations")
        return list(self.data.locations)

    async def inventory_levels(
        self, skus: Sequence[str], location_ids: Sequence[str] | None = None
    ) -> dict[str, list[InventoryLevel]]:
        self._called("inventory_levels", tuple(skus), location_ids)
        levels = [
            lv for lv in self.data.levels if location_ids is None or lv.location_id in location_ids
        ]
        return _grouped(levels, lambda lv: lv.sku, skus)

    async def shipments_by_order_numbers(self, numbers: Sequence[str]) -> dict[str, list[Shipment]]:
        self._called("shipments_by_order_numbers", tuple(numbers))
        return _grouped(self.data.shipments, lambda s: s.order_number, numbers)


class FakeServiceDesk(_Fake):
    """Service platform methods of the interface."""

    async def profiles_by_customer_numbers(
        self, numbers: Sequence[str]
    ) -> dict[str, CustomerProfile]:
        self._called("profiles_by_customer_numbers", tuple(numbers))
        return _by(self.data.profiles, lambda p: p.customer_number, numbers)

    async def cases_by_ids(self, ids: Sequence[int]) -> dict[int, Case]:
        self._called("cases_by_ids", tuple(ids))
        return _by(self.data.cases, lambda c: c.id, ids)

    async def cases_by_customer_numbers(self, numbers: Sequence[str]) -> dict[str, list[Case]]:
        self._called("cases_by_customer_numbers", tuple(numbers))
        users = {p.user_id: p.customer_number for p in self.data.profiles}
        newest = sorted(self.data.cases, key=lambda c: c.created_at, reverse=True)
        return _grouped(newest, lambda c: users.get(c.requester_id or -1), numbers)

    async def cases_by_order_numbers(self, numbers: Sequence[str]) -> dict[str, list[Case]]:
        self._called("cases_by_order_numbers", tuple(numbers))
        return _grouped(self.data.cases, lambda c: c.order_number, numbers)

    async def case_comments(self, case_id: int, first: int, after: str | None) -> Page[CaseComment]:
        self._called("case_comments", case_id, first, after)
        mine = [c for c in self.data.comments if c.case_id == case_id]
        start = int(after.removeprefix("zd-")) if after else 0
        items = tuple(mine[start : start + first])
        more = start + first < len(mine)
        return Page(items=items, next_cursor=f"zd-{start + first}" if more else None, has_more=more)


class FakeSources:
    """The three fake clients sharing one dataset and one call counter."""

    def __init__(self, data: Dataset) -> None:
        self.data = data
        self.calls: Counter[str] = Counter()
        self.log: list[tuple[str, tuple[Any, ...]]] = []
        self.erp = FakeErp("erp", data, self.calls, self.log)
        self.wms = FakeWms("wms", data, self.calls, self.log)
        self.servicedesk = FakeServiceDesk("servicedesk", data, self.calls, self.log)

    def fail(self, dotted: str) -> None:
        """Make `source.method` raise SourceUnavailable from now on."""
        name, method = dotted.split(".")
        getattr(self, name).failing.add(method)

    def reset(self) -> None:
        """Forget the calls counted so far."""
        self.calls.clear()
        self.log.clear()


def _line(order_number: str, number: int, sku: str, quantity: int, shipped: int) -> OrderLine:
    return OrderLine(
        order_number=order_number,
        line_number=number,
        sku=sku,
        description=f"Item {sku}",
        quantity=quantity,
        unit_price=gbp("12.5"),
        amount=gbp(Decimal("12.5") * quantity),
        quantity_shipped=shipped,
        quantity_invoiced=shipped,
    )


def build_dataset(orders_per_customer: int = 3, customers: int = 1) -> Dataset:
    """Customers C-1…, each with orders (two lines, shipped and delivered 5 days ago), an
    invoice per order, a completed return with its credit memo on the first order and a case
    about it; three locations holding stock of every SKU."""
    data = Dataset()
    data.locations = [
        Location(
            f"LOC-0{i}",
            f"SITE-{i}",
            f"Site {i}",
            LocationKind.WAREHOUSE if i == 1 else LocationKind.STORE,
            "NORTH",
        )
        for i in (1, 2, 3)
    ]
    now = datetime(2026, 11, 20, 12, tzinfo=UTC)
    for c in range(1, customers + 1):
        number = f"C-{c}"
        data.customers.append(
            Customer(
                number,
                f"guid-{number}",
                f"Customer {c}",
                f"c{c}@example.com",
                None,
                "GBP",
                gbp(1000),
                gbp("25.00"),
                False,
            )
        )
        data.profiles.append(
            CustomerProfile(
                1000 + c, number, f"Customer {c}", f"c{c}@example.com", None, "gold", 1200
            )
        )
        for o in range(1, orders_per_customer + 1):
            order_number = f"SO-{c}{o:04d}"
            skus = (f"SKU-{o:03d}", f"SKU-{o + 1:03d}")
            lines = (
                _line(order_number, 10000, skus[0], 2, 2),
                _line(order_number, 20000, skus[1], 1, 1),
            )
            data.orders.append(
                Order(
                    order_number,
                    f"guid-{order_number}",
                    number,
                    "WEB",
                    "NORTH",
                    TODAY - timedelta(days=o),
                    "GBP",
                    gbp("37.50"),
                    gbp("7.50"),
                    gbp("45.00"),
                    OrderStatus.FULFILLED,
                    "Open",
                    lines,
                )
            )
            data.invoices.append(
                Invoice(
                    f"SI-{c}{o:04d}",
                    f"guid-si-{order_number}",
                    order_number,
                    number,
                    InvoiceStatus.PAID,
                    "Paid",
                    TODAY - timedelta(days=o),
                    TODAY + timedelta(days=30),
                    gbp("37.50"),
                    gbp("7.50"),
                    gbp("45.00"),
                    gbp(0),
                )
            )
            data.shipments.append(
                Shipment(
                    f"SHP-{c}{o:04d}",
                    order_number,
                    "DPD",
                    f"TRK{c}{o}",
                    ShipmentStatus.DELIVERED,
                    "delivered",
                    "LOC-01",
                    now - timedelta(days=6),
                    now - timedelta(days=5),
                    tuple(ShipmentLine(ln.sku, ln.quantity, ln.line_number) for ln in lines),
                )
            )
            for sku in skus:
                if not any(p.sku == sku for p in data.products):
                    data.products.append(
                        Product(
                            sku,
                            f"guid-{sku}",
                            f"Product {sku}",
                            "Inventory",
                            "TOYS",
                            gbp("12.5"),
                            10,
                        )
                    )
                    data.levels += [
                        InventoryLevel(sku, loc.id, 10, 2, 8, 0, 0, now) for loc in data.locations
                    ]
        first_order = f"SO-{c}0001"
        rma = f"RMA-{c}0001"
        data.returns.append(
            Return(
                rma,
                f"guid-{rma}",
                first_order,
                number,
                f"SI-{c}0001",
                None,
                ReturnStatus.COMPLETED,
                "Closed",
                ReturnResolution.REFUND,
                TODAY - timedelta(days=2),
                gbp("12.50"),
                (
                    ReturnLine(
                        10000,
                        10000,
                        "SKU-001",
                        "Item SKU-001",
                        1,
                        gbp("12.5"),
                        ReturnReason.DAMAGED,
                    ),
                ),
            )
        )
        data.credit_memos.append(
            CreditMemo(
                f"CM-{c}0001",
                f"guid-cm-{c}",
                f"SI-{c}0001",
                number,
                rma,
                CreditMemoStatus.POSTED,
                "Open",
                TODAY - timedelta(days=1),
                gbp("12.50"),
            )
        )
        data.cases.append(
            Case(
                500 + c,
                "Broken toy",
                "It arrived broken",
                CaseStatus.OPEN,
                "open",
                CasePriority.HIGH,
                1000 + c,
                first_order,
                "email",
                ("damaged",),
                now - timedelta(days=3),
                now - timedelta(days=1),
            )
        )
        data.comments += [
            CaseComment(
                9000 + c * 10 + i,
                500 + c,
                1000 + c,
                f"comment {i}",
                True,
                now - timedelta(hours=10 - i),
            )
            for i in range(5)
        ]
    return data


def with_orders(data: Dataset, **changes: Any) -> Dataset:
    """A copy of the dataset with every order changed (e.g. status=OrderStatus.OPEN)."""
    return replace(data, orders=[replace(o, **changes) for o in data.orders])


async def execute(
    sources: Any,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    today: date = TODAY,
    principal: Any = DEVELOPER,
) -> Any:
    """Run a document against the real schema with fresh loaders over `sources`."""
    from graph.context import build_context
    from graph.schema import schema

    context = build_context(sources, today=today, principal=principal)
    return await schema.execute(query, variable_values=variables, context_value=context)


def codes(result: Any) -> list[tuple[str, str | None]]:
    """(path, extensions.code) of every error in a result."""
    return [
        (".".join(str(p) for p in (e.path or [])), (e.extensions or {}).get("code"))
        for e in result.errors or []
    ]
