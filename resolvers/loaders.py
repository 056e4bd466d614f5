"""DataLoaders: the only place the graph calls sources.

Each `<Thing>By<Key>Loader` coalesces the keys asked for in one tick into one bulk source call
(split at the upstream's batch limit) and answers in key order: the record, `None` (or `[]`
for list loaders) when the upstream has nothing, or the `SourceError` when that batch failed,
so only the fields that needed it error. Loaders that return lists prime the by-key loaders,
so an order seen in a customer's list is not fetched again. A `Loaders` container is built per
request (aiodataloader binds the running loop at construction); with `batching=False` every
load is its own upstream call, which only the benchmark's baseline wants.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from aiodataloader import DataLoader

from sources.records import (
    Case,
    CaseComment,
    CreditMemo,
    Customer,
    CustomerProfile,
    InventoryLevel,
    Invoice,
    Location,
    Order,
    Page,
    Product,
    Return,
    Shipment,
)

from .loader_base import (
    CallLoader,
    ListLoader,
    RecordLoader,
    SourceLoader,
    _prime,
    batch_span,
)

if TYPE_CHECKING:
    from sources import Sources

__all__ = ["CallLoader", "ListLoader", "Loaders", "RecordLoader", "SourceLoader", "batch_span"]

WMS_SKU_BATCH = 250
WMS_ORDER_BATCH = 100
SERVICEDESK_BATCH = 100


class CustomerByNumberLoader(RecordLoader[str, Customer]):
    """ERP customers by customer number."""

    entity_cache = ("erp", "customer")

    async def fetch(self, keys: list[str]) -> Mapping[str, Customer]:
        return await self.sources.erp.customers_by_numbers(keys)


class CustomerByEmailLoader(RecordLoader[str, Customer]):
    """ERP customers by lowercased email."""

    async def fetch(self, keys: list[str]) -> Mapping[str, Customer]:
        return await self.sources.erp.customers_by_emails(keys)

    def prime_related(self, values: Mapping[str, Customer]) -> None:
        _prime(self.loaders.customer_by_number, [(c.number, c) for c in values.values()])


class OrderByNumberLoader(RecordLoader[str, Order]):
    """ERP orders (live or archived) by order number."""

    entity_cache = ("erp", "order")

    async def fetch(self, keys: list[str]) -> Mapping[str, Order]:
        return await self.sources.erp.orders_by_numbers(keys)


class OrdersByCustomerNumberLoader(ListLoader[str, Order]):
    """Every order of a customer, newest first."""

    entity_cache = ("erp", "orders_by_customer")

    async def fetch(self, keys: list[str]) -> Mapping[str, list[Order]]:
        return await self.sources.erp.orders_by_customer_numbers(keys)

    def prime_related(self, values: Mapping[str, list[Order]]) -> None:
        _prime(self.loaders.order_by_number, [(o.number, o) for os in values.values() for o in os])


class InvoiceByNumberLoader(RecordLoader[str, Invoice]):
    """ERP invoices by invoice number."""

    entity_cache = ("erp", "invoice")

    async def fetch(self, keys: list[str]) -> Mapping[str, Invoice]:
        return await self.sources.erp.invoices_by_numbers(keys)


class InvoicesByOrderNumberLoader(ListLoader[str, Invoice]):
    """Invoices of an order."""

    entity_cache = ("erp", "invoices_by_order")

    async def fetch(self, keys: list[str]) -> Mapping[str, list[Invoice]]:
        return await self.sources.erp.invoices_by_order_numbers(keys)

    def prime_related(self, values: Mapping[str, list[Invoice]]) -> None:
        _prime(self.loaders.invoice_by_number, [(i.number, i) for v in values.values() for i in v])


class InvoicesByCustomerNumberLoader(ListLoader[str, Invoice]):
    """Invoices of a customer, newest first."""

    entity_cache = ("erp", "invoices_by_customer")

    async def fetch(self, keys: list[str]) -> Mapping[str, list[Invoice]]:
        return await self.sources.erp.invoices_by_customer_numbers(keys)

    def prime_related(self, values: Mapping[str, list[Invoice]]) -> None:
        _prime(self.loaders.invoice_by_number, [(i.number, i) for v in values.values() for i in v])


class CreditMemoByNumberLoader(RecordLoader[str, CreditMemo]):
    """ERP credit memos by number."""

    entity_cache = ("erp", "credit_memo")

    async def fetch(self, keys: list[str]) -> Mapping[str, CreditMemo]:
        return await self.sources.erp.credit_memos_by_numbers(keys)


class CreditMemosByInvoiceNumberLoader(ListLoader[str, CreditMemo]):
    """Credit memos raised against an invoice."""

    entity_cache = ("erp", "credit_memos_by_invoice")

    async def fetch(self, keys: list[str]) -> Mapping[str, list[CreditMemo]]:
        return await self.sources.erp.credit_memos_by_invoice_numbers(keys)

    def prime_related(self, values: Mapping[str, list[CreditMemo]]) -> None:
        pairs = [(m.number, m) for v in values.values() for m in v]
        _prime(self.loaders.credit_memo_by_number, pairs)


class CreditMemosByReturnNumberLoader(ListLoader[str, CreditMemo]):
    """Credit memos settling a return (their externalDocumentNumber is the RMA)."""

    entity_cache = ("erp", "credit_memos_by_return")

    async def fetch(self, keys: list[str]) -> Mapping[str, list[CreditMemo]]:
        return await self.sources.erp.credit_memos_by_return_numbers(keys)

    def prime_related(self, values: Mapping[str, list[CreditMemo]]) -> None:
        pairs = [(m.number, m) for v in values.values() for m in v]
        _prime(self.loaders.credit_memo_by_number, pairs)


class ReturnByNumberLoader(RecordLoader[str, Return]):
    """ERP sales return orders by RMA number."""

    entity_cache = ("erp", "return")

    async def fetch(self, keys: list[str]) -> Mapping[str, Return]:
        return await self.sources.erp.returns_by_numbers(keys)


class ReturnsByOrderNumberLoader(ListLoader[str, Return]):
    """Returns raised against an order."""

    entity_cache = ("erp", "returns_by_order")

    async def fetch(self, keys: list[str]) -> Mapping[str, list[Return]]:
        return await self.sources.erp.returns_by_order_numbers(keys)

    def prime_related(self, values: Mapping[str, list[Return]]) -> None:
        pairs = [(r.rma_number, r) for v in values.values() for r in v]
        _prime(self.loaders.return_by_number, pairs)


class ReturnsByCustomerNumberLoader(ListLoader[str, Return]):
    """Returns of a customer."""

    entity_cache = ("erp", "returns_by_customer")

    async def fetch(self, keys: list[str]) -> Mapping[str, list[Return]]:
        return await self.sources.erp.returns_by_customer_numbers(keys)

    def prime_related(self, values: Mapping[str, list[Return]]) -> None:
        pairs = [(r.rma_number, r) for v in values.values() for r in v]
        _prime(self.loaders.return_by_number, pairs)


class ProductBySkuLoader(RecordLoader[str, Product]):
    """ERP items by SKU."""

    entity_cache = ("erp", "product")

    async def fetch(self, keys: list[str]) -> Mapping[str, Product]:
        return await self.sources.erp.products_by_skus(keys)


class InventoryLevelsBySkuLoader(ListLoader[str, InventoryLevel]):
    """WMS stock of a SKU at every location."""

    entity_cache = ("wms", "inventory")

    max_batch_size = WMS_SKU_BATCH

    async def fetch(self, keys: list[str]) -> Mapping[str, list[InventoryLevel]]:
        return await self.sources.wms.inventory_levels(keys)


class LocationByIdLoader(RecordLoader[str, Location]):
    """WMS locations by id (the WMS lists them all at once)."""

    max_batch_size = None

    async def fetch(self, keys: list[str]) -> Mapping[str, Location]:
        return {location.id: location for location in await self.sources.wms.locations()}


class ShipmentsByOrderNumberLoader(ListLoader[str, Shipment]):
    """WMS shipments of an order."""

    entity_cache = ("wms", "shipments")

    max_batch_size = WMS_ORDER_BATCH

    async def fetch(self, keys: list[str]) -> Mapping[str, list[Shipment]]:
        return await self.sources.wms.shipments_by_order_numbers(keys)


class ProfileByCustomerNumberLoader(RecordLoader[str, CustomerProfile]):
    """Service-platform end users (loyalty) by customer number."""

    entity_cache = ("servicedesk", "profile")

    max_batch_size = SERVICEDESK_BATCH

    async def fetch(self, keys: list[str]) -> Mapping[str, CustomerProfile]:
        return await self.sources.servicedesk.profiles_by_customer_numbers(keys)


class ProfileByUserIdLoader(RecordLoader[int, CustomerProfile]):
    """Service-platform end users by user id (a case's requester)."""

    max_batch_size = SERVICEDESK_BATCH

    async def fetch(self, keys: list[int]) -> Mapping[int, CustomerProfile]:
        # Optional on the client until the interface lists it; without it, requesters stay unknown.
        lookup = getattr(self.sources.servicedesk, "profiles_by_user_ids", None)
        return {} if lookup is None else await lookup(keys)


class CaseByIdLoader(RecordLoader[int, Case]):
    """Service-platform tickets by id."""

    entity_cache = ("servicedesk", "case")

    max_batch_size = SERVICEDESK_BATCH

    async def fetch(self, keys: list[int]) -> Mapping[int, Case]:
        return await self.sources.servicedesk.cases_by_ids(keys)


class CasesByCustomerNumberLoader(ListLoader[str, Case]):
    """Every ticket a customer requested, newest first."""

    entity_cache = ("servicedesk", "cases_by_customer")

    max_batch_size = SERVICEDESK_BATCH

    async def fetch(self, keys: list[str]) -> Mapping[str, list[Case]]:
        return await self.sources.servicedesk.cases_by_customer_numbers(keys)

    def prime_related(self, values: Mapping[str, list[Case]]) -> None:
        _prime(self.loaders.case_by_id, [(c.id, c) for v in values.values() for c in v])


class CaseCommentsPageLoader(CallLoader[tuple[int, int, str | None], Page[CaseComment]]):
    """One page of a case's timeline, by (case id, page size, upstream cursor)."""

    def call(self, key: tuple[int, int, str | None]) -> Awaitable[Page[CaseComment]]:
        case_id, first, after = key
        return self.sources.servicedesk.case_comments(case_id, first, after)

    def missing(self) -> Page[CaseComment]:
        """An unknown case has an empty timeline."""
        return Page(items=())


class RecentOrdersLoader(CallLoader[tuple[int, int], list[Order]]):
    """A window of the company-wide open orders, by (limit, offset)."""

    def call(self, key: tuple[int, int]) -> Awaitable[list[Order]]:
        limit, offset = key
        return self.sources.erp.recent_orders(limit, offset)

    def missing(self) -> list[Order]:
        """An empty window."""
        return []


class CustomerSearchLoader(CallLoader[tuple[str, int, int], list[Customer]]):
    """A window of a customer search, by (text, limit, offset)."""

    def call(self, key: tuple[str, int, int]) -> Awaitable[list[Customer]]:
        text, limit, offset = key
        return self.sources.erp.search_customers(text, limit, offset)

    def missing(self) -> list[Customer]:
        """An empty window."""
        return []


L = TypeVar("L", bound=DataLoader[Any, Any])


class _Lazy(Generic[L]):
    """A loader built on first use: a request touches a few of the two dozen, and building
    one (aiodataloader binds the loop, makes its queue and cache) costs CPU per request."""

    def __init__(self, kind: Callable[[Loaders], L]) -> None:
        self.kind = kind
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, loaders: Loaders, owner: type) -> L:
        loader = self.kind(loaders)
        loaders.__dict__[self.name] = loader  # later reads find the instance attribute
        return loader


class Loaders:
    """Every loader of one request, sharing the request's sources (each built on first use)."""

    customer_by_number = _Lazy(CustomerByNumberLoader)
    customer_by_email = _Lazy(CustomerByEmailLoader)
    customer_search = _Lazy(CustomerSearchLoader)
    order_by_number = _Lazy(OrderByNumberLoader)
    orders_by_customer_number = _Lazy(OrdersByCustomerNumberLoader)
    recent_orders = _Lazy(RecentOrdersLoader)
    invoice_by_number = _Lazy(InvoiceByNumberLoader)
    invoices_by_order_number = _Lazy(InvoicesByOrderNumberLoader)
    invoices_by_customer_number = _Lazy(InvoicesByCustomerNumberLoader)
    credit_memo_by_number = _Lazy(CreditMemoByNumberLoader)
    credit_memos_by_invoice_number = _Lazy(CreditMemosByInvoiceNumberLoader)
    credit_memos_by_return_number = _Lazy(CreditMemosByReturnNumberLoader)
    return_by_number = _Lazy(ReturnByNumberLoader)
    returns_by_order_number = _Lazy(ReturnsByOrderNumberLoader)
    returns_by_customer_number = _Lazy(ReturnsByCustomerNumberLoader)
    product_by_sku = _Lazy(ProductBySkuLoader)
    inventory_levels_by_sku = _Lazy(InventoryLevelsBySkuLoader)
    location_by_id = _Lazy(LocationByIdLoader)
    shipments_by_order_number = _Lazy(ShipmentsByOrderNumberLoader)
    profile_by_customer_number = _Lazy(ProfileByCustomerNumberLoader)
    profile_by_user_id = _Lazy(ProfileByUserIdLoader)
    case_by_id = _Lazy(CaseByIdLoader)
    cases_by_customer_number = _Lazy(CasesByCustomerNumberLoader)
    case_comments_page = _Lazy(CaseCommentsPageLoader)

    def __init__(
        self,
        sources: Sources,
        *,
        batching: bool = True,
        prefetch: bool = True,
        cache_hits: bool = True,
    ) -> None:
        self.sources = sources
        self.batching = batching  # off only for the benchmark's no-loader baseline
        self.cache_hits = cache_hits and batching  # fresh entity-cache hits answer at `load`
        self.prefetch = prefetch and batching  # lookahead (resolvers/prefetch.py) needs the cache

    def _made(self) -> dict[str, SourceLoader[Any, Any]]:
        """The loaders this request has made so far (each is made on first use), by name."""
        return {name: value for name, value in vars(self).items() if isinstance(value, SourceLoader)}

    def report_cache_hits(self) -> None:
        """Hand the entity-cache hits these loaders answered to the metrics (the operation
        is over; sources/cache.py `EntityCache.report_hits`)."""
        for loader in self._made().values():
            loader.report_cache_hits()

    def dispatch_now(self) -> None:
        """Start every loader's queued batch now (loader_base.py `SourceLoader.dispatch_now`)."""
        for loader in self._made().values():
            loader.dispatch_now()

    def batch_counts(self) -> dict[str, int]:
        """How many batches each loader dispatched (for tests and tracing)."""
        return {name: loader.batches for name, loader in self._made().items() if loader.batches}
