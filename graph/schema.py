"""The schema: the Query root (contract fields), node resolution and `build_schema`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Annotated, Any

import strawberry
from graphql import GraphQLError
from strawberry import relay
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from graph.context import GraphInfo
from graph.errors import BadUserInput, ErrorFormatter, log_error
from graph.fast_fields import install_fast_resolvers
from graph.permissions import apply_role_gates, readable_fields
from graph.types.cases import Case
from graph.types.common import (
    DEFAULT_PAGE_SIZE,
    MAX_NODES,
    After,
    First,
    PageRequest,
    Viewer,
    connection_from_indexed,
    connection_nodes,
    decode_global_id,
    selected_names,
    selection_tree,
)
from graph.types.customers import Customer, CustomerConnection
from graph.types.enums import OrderStatus
from graph.types.inventory import InventoryLevel, Location, LocationIds, Product, location_keys
from graph.types.invoices import CreditMemo, Invoice
from graph.types import orders as order_types
from graph.types.orders import Order, OrderConnection, OrderLine
from graph.types.returns import Refund, Return, ReturnEligibility
from graph.types.shipments import Shipment
from graph.types.ops import DEFAULT_DAYS, MAX_DAYS, OperationsSummary, operations_summary
from graph.types.workflows import Workflow, workflow_by_id
from resolvers import cases as case_resolvers
from resolvers import customers as customer_resolvers
from resolvers import eligibility as eligibility_resolvers
from resolvers import inventory as inventory_resolvers
from resolvers import orders as order_resolvers
from graph.mutations import Mutation
from graph.subscriptions import Subscription
from graph.types.returns import overlay_refund
from resolvers.nodes import InvalidNodeKey, check_key, resolve_node_record
from resolvers.prefetch import prefetch_customer, prefetch_stock

MAX_SKUS = 250

# How a record found by `resolve_node_record` becomes its GraphQL type, by type name.
NODE_WRAPPERS: dict[str, Callable[[Any], relay.Node]] = {
    "Customer": Customer.from_record,
    "Order": Order.from_record,
    "OrderLine": lambda pair: OrderLine.from_record(*pair),
    "Invoice": Invoice.from_record,
    "CreditMemo": CreditMemo.from_record,
    "Refund": Refund.from_record,
    "Return": Return.from_record,
    "Shipment": Shipment.from_record,
    "Product": Product.from_record,
    "Location": Location.from_record,
    "Case": Case.from_record,
}
NODE_TYPES = (*NODE_WRAPPERS, "Workflow")


def _parse_node_id(value: str) -> tuple[str, str]:
    """(type, key) of a node id; BAD_USER_INPUT unless it names a Node type and a valid key."""
    type_name, key = decode_global_id(value, NODE_TYPES)
    if type_name != "Workflow":
        try:
            check_key(type_name, key)
        except InvalidNodeKey as exc:
            raise BadUserInput(f"{value!r} is not a valid id: {exc}") from None
    return type_name, key


async def _load_node(info: GraphInfo, type_name: str, key: str) -> relay.Node | None:
    """The node behind a parsed id; null when the system of record does not know it."""
    if type_name == "Workflow":
        return await workflow_by_id(info, key)
    record = await resolve_node_record(info.context.loaders, type_name, key)
    if record is not None and type_name == "Refund":
        record = await overlay_refund(info, record)
    return None if record is None else NODE_WRAPPERS[type_name](record)


def _one_of(**given: object) -> str:
    """The one argument given; BAD_USER_INPUT for none or several."""
    present = [name for name, value in given.items() if value is not None]
    if len(present) != 1:
        raise BadUserInput(f"Give exactly one of {', '.join(given)}.")
    return present[0]


ID = strawberry.ID
IdArg = Annotated[ID | None, strawberry.argument(description="The object's global id.")]
NumberArg = Annotated[str | None, strawberry.argument(description="The object's number.")]


@strawberry.type(description="Read the graph: customers, orders, stock, cases and workflows.")
class Query:
    """The query root."""

    @strawberry.field(description="Any object by its global id; null when it does not exist.")
    async def node(
        self,
        info: GraphInfo,
        id: Annotated[ID, strawberry.argument(description="A global id.")],
    ) -> relay.Node | None:
        return await _load_node(info, *_parse_node_id(id))

    @strawberry.field(
        description=f"Objects by global id (at most {MAX_NODES}), in the order asked; null for "
        "ids that do not exist. Lookups are batched per type."
    )
    async def nodes(
        self,
        info: GraphInfo,
        ids: Annotated[list[ID], strawberry.argument(description="Global ids.")],
    ) -> list[relay.Node | None]:
        if len(ids) > MAX_NODES:
            raise BadUserInput(f"nodes takes at most {MAX_NODES} ids, got {len(ids)}.")
        parsed = [_parse_node_id(value) for value in ids]
        # Awaitables, not values: each item then errors alone and all share one batch per type.
        return [_load_node(info, type_name, key) for type_name, key in parsed]  # type: ignore[misc]

    @strawberry.field(description="Who is asking.")
    def viewer(self, info: GraphInfo) -> Viewer:
        return Viewer.from_principal(info.context.principal)

    @strawberry.field(description="A customer by global id, number or email (give exactly one).")
    async def customer(
        self,
        info: GraphInfo,
        id: IdArg = None,
        number: NumberArg = None,
        email: Annotated[
            str | None, strawberry.argument(description="Email address (case-insensitive).")
        ] = None,
    ) -> Customer | None:
        given = _one_of(id=id, number=number, email=email)
        if given == "id":
            number = decode_global_id(str(id), "Customer")[1]
        if number is not None:  # lookahead: children keyed by the number start now
            wanted = readable_fields("Customer", selected_names(info), info.context)
            prefetch_customer(info.context.loaders, number.strip(), wanted)
            if "orders" in wanted:
                order_types.prefetch_customer_orders(info, number.strip())
        found = await customer_resolvers.resolve_customer_or_profile(
            info.context.loaders, number=number, email=email
        )
        if isinstance(found, tuple):  # the ERP is down: the service platform's view (resilience)
            return Customer.from_profile(*found)
        return None if found is None else Customer.from_record(found)

    @strawberry.field(description="Customers whose name, email or number contains `search`.")
    async def customers(
        self,
        info: GraphInfo,
        search: Annotated[
            str | None,
            strawberry.argument(description="Text to look for; every customer if omitted."),
        ] = None,
        first: First = DEFAULT_PAGE_SIZE,
        after: After = None,
    ) -> CustomerConnection | None:
        page = PageRequest.parse(first, after)
        window = await customer_resolvers.resolve_customer_search(
            info.context.loaders, search, page.first + 1, page.offset
        )
        return page.window(CustomerConnection, window, Customer.from_record)

    @strawberry.field(description="An order by global id or number (give exactly one).")
    async def order(
        self, info: GraphInfo, id: IdArg = None, number: NumberArg = None
    ) -> Order | None:
        if _one_of(id=id, number=number) == "id":
            number = decode_global_id(str(id), "Order")[1]
        found = await order_resolvers.resolve_order(info.context.loaders, str(number))
        if found is None:
            return None
        order = Order.from_record(found)
        await order_types.preload(info, [order], selection_tree(info))
        return order

    @strawberry.field(
        description="Orders, newest first: a customer's orders (every one, archived included) "
        "when customerNumber is given, else the company's open orders (totalCount null)."
    )
    async def orders(
        self,
        info: GraphInfo,
        customer_number: Annotated[
            str | None, strawberry.argument(description="Only this customer's orders.")
        ] = None,
        status: Annotated[
            OrderStatus | None, strawberry.argument(description="Only orders in this status.")
        ] = None,
        first: First = DEFAULT_PAGE_SIZE,
        after: After = None,
    ) -> OrderConnection | None:
        page = PageRequest.parse(first, after)
        loaders = info.context.loaders
        if customer_number is not None:
            found = await order_resolvers.resolve_customer_orders(
                loaders, customer_number.strip(), status
            )
            connection = page.connection(OrderConnection, found, Order.from_record)
        else:
            indexed, has_next = await order_resolvers.resolve_recent_orders(
                loaders, page.offset, page.first, status
            )
            connection = connection_from_indexed(
                OrderConnection,
                indexed,
                Order.from_record,
                has_next_page=has_next,
                has_previous_page=page.offset > 0,
            )
        shown = [edge.node for edge in connection.edges]
        await order_types.preload(info, shown, connection_nodes(selection_tree(info)))
        return connection

    @strawberry.field(description="A catalogue item by SKU; null when the ERP does not know it.")
    async def product(
        self, info: GraphInfo, sku: Annotated[str, strawberry.argument(description="The SKU.")]
    ) -> Product | None:
        prefetch_stock(info.context.loaders, sku, selected_names(info))
        found = await inventory_resolvers.resolve_product(info.context.loaders, sku)
        return None if found is None else Product.from_record(found)

    @strawberry.field(
        description=f"WMS stock of these SKUs (at most {MAX_SKUS}) at every, or the given, "
        "locations; in SKU order, then location id. Unknown SKUs have no levels."
    )
    async def inventory(
        self,
        info: GraphInfo,
        skus: Annotated[list[str], strawberry.argument(description="The SKUs to look up.")],
        location_ids: LocationIds = None,
    ) -> list[InventoryLevel]:
        if len(skus) > MAX_SKUS:
            raise BadUserInput(f"inventory takes at most {MAX_SKUS} skus, got {len(skus)}.")
        wanted = location_keys(location_ids)
        found = await inventory_resolvers.resolve_inventory(info.context.loaders, skus, wanted)
        if "location" in selected_names(info):  # answered at once, not per level (prefetch.py)
            await inventory_resolvers.preload_locations(info.context.loaders, found)
        return [InventoryLevel.from_record(level) for level in found]

    @strawberry.field(description="A case by global id or ticket number (give exactly one).")
    async def case(
        self, info: GraphInfo, id: IdArg = None, number: NumberArg = None
    ) -> Case | None:
        if _one_of(id=id, number=number) == "id":
            number = decode_global_id(str(id), "Case")[1]
        key = str(number).strip()
        if not key.isdigit():
            raise BadUserInput(f"A case number is a ticket number, got {number!r}.")
        found = await case_resolvers.resolve_case(info.context.loaders, int(key))
        return None if found is None else Case.from_record(found)

    @strawberry.field(description="A workflow by global id; null when unknown.")
    async def workflow(
        self,
        info: GraphInfo,
        id: Annotated[ID, strawberry.argument(description="The workflow's global id.")],
    ) -> Workflow | None:
        return await workflow_by_id(info, decode_global_id(id, "Workflow")[1])

    @strawberry.field(description="What of an order may be returned today under the return policy.")
    async def return_eligibility(
        self,
        info: GraphInfo,
        order_number: Annotated[str, strawberry.argument(description="The order number.")],
    ) -> ReturnEligibility:
        context = info.context
        result = await eligibility_resolvers.resolve_return_eligibility(
            context.loaders, order_number, context.today, context.return_policy
        )
        return ReturnEligibility.from_result(result)

    @strawberry.field(
        description="The ops view (supervisors and developers): case aging, return cycle times, "
        "refunds, ERP posting and exception hotspots, next to the graph's and upstreams' health."
    )
    def operations_summary(
        self,
        info: GraphInfo,
        days: Annotated[
            int, strawberry.argument(description=f"Workflow figures cover this many days (1-{MAX_DAYS}).")
        ] = DEFAULT_DAYS,
    ) -> OperationsSummary:
        return operations_summary(info, days)


class GraphSchema(strawberry.Schema):
    """The strawberry schema, logging each error once at a level that fits its code."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log errors (unexpected ones with their traceback) before they are formatted."""
        for error in errors:
            log_error(error)


# Every Node type, so node(id) can return types no field reaches yet.
NODE_CLASSES: Sequence[type] = (
    Customer,
    Order,
    OrderLine,
    Invoice,
    CreditMemo,
    Refund,
    Return,
    Shipment,
    Product,
    Location,
    Case,
    Workflow,
)

# A SchemaExtension class, or a factory giving one fresh instance per operation.
Extension = type[SchemaExtension] | Callable[[], SchemaExtension]


def build_schema(
    extensions: Iterable[Extension] = (),
    *,
    mutation: type | None = None,
    subscription: type | None = None,
    fast_resolvers: bool = True,
) -> GraphSchema:
    """The schema with the error formatter outermost, then the app's extensions (limits, auth,
    tracing). Mutation and Subscription roots are added here by later issues."""
    apply_role_gates(Query, mutation, subscription, *NODE_CLASSES)  # graph/permissions.py
    built = GraphSchema(
        query=Query,
        mutation=mutation,
        subscription=subscription,
        types=list(NODE_CLASSES),
        extensions=[ErrorFormatter, *extensions],
    )
    if fast_resolvers:  # graph/fast_fields.py: skip strawberry's per-field wrappers
        install_fast_resolvers(built)
    return built


schema = build_schema(mutation=Mutation, subscription=Subscription)
