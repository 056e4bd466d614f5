"""Case and its timeline: service-platform tickets linked to customers and orders."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Self

import strawberry
from strawberry import relay

from graph.context import GraphInfo
from graph.errors import BadUserInput
from graph.types import customers as customer_types
from graph.types import orders as order_types
from graph.types.common import DEFAULT_PAGE_SIZE, After, Connection, Edge, First, check_page_size
from graph.types.enums import CasePriority, CaseStatus
from resolvers import cases as case_resolvers
from resolvers import customers as customer_resolvers
from resolvers import orders as order_resolvers
from sources import records

if TYPE_CHECKING:
    from graph.types.customers import Customer
    from graph.types.orders import Order

__all__ = [
    "Case",
    "CaseComment",
    "CaseConnection",
    "CasePriority",
    "CaseStatus",
    "TimelineConnection",
]

CustomerRef = Annotated["Customer", strawberry.lazy("graph.types.customers")]
OrderRef = Annotated["Order", strawberry.lazy("graph.types.orders")]
_TIMELINE_PREFIX = "timeline"


def encode_timeline_cursor(skip: int, upstream_cursor: str | None) -> str:
    """A cursor meaning: from the upstream's cursor, skip this many comments."""
    return relay.to_base64(_TIMELINE_PREFIX, f"{skip}:{upstream_cursor or ''}")


def decode_timeline_cursor(cursor: str | None) -> tuple[int, str | None]:
    """(comments to skip, upstream cursor) from a timeline cursor."""
    if cursor is None:
        return 0, None
    try:
        prefix, value = relay.from_base64(cursor)
    except ValueError:
        raise BadUserInput(f"{cursor!r} is not a valid cursor.") from None
    skip, sep, upstream = value.partition(":")
    if prefix != _TIMELINE_PREFIX or not sep or not skip.isdigit():
        raise BadUserInput(f"{cursor!r} is not a valid cursor.")
    return int(skip), upstream or None


@strawberry.type(description="One entry of a case's timeline: a public reply or an internal note.")
class CaseComment:
    """One comment on a case."""

    comment_id: str = strawberry.field(description="The service platform's comment id.")
    author_id: str | None = strawberry.field(
        description="The service platform's user id of the author."
    )
    body: str = strawberry.field(description="Plain-text body.")
    public: bool = strawberry.field(
        description="True for replies the customer sees; false for notes."
    )
    created_at: datetime = strawberry.field(description="When it was written.")

    @classmethod
    def from_record(cls, record: records.CaseComment) -> CaseComment:
        """Wrap a canonical comment."""
        return cls(
            comment_id=str(record.id),
            author_id=None if record.author_id is None else str(record.author_id),
            body=record.body,
            public=record.public,
            created_at=record.created_at,
        )


@strawberry.type(description="A page of a case's timeline, oldest first.")
class TimelineConnection(Connection[CaseComment]):
    """A page of a case's timeline."""


@strawberry.type(
    description="A service case (service-platform ticket), linked to a customer and often to an "
    "order. Id key: the ticket number."
)
class Case(relay.Node):
    """A service case."""

    record: strawberry.Private[records.Case]
    customer_number: strawberry.Private[str | None]
    number: str = strawberry.field(description="Ticket number in the service platform.")
    subject: str = strawberry.field(description="Subject line.")
    description: str | None = strawberry.field(description="The first message of the case.")
    status: CaseStatus = strawberry.field(description="Canonical case status.")
    source_status: str = strawberry.field(
        description="The ticket status exactly as the service platform reports it (new, open, "
        "pending, hold, solved, closed)."
    )
    priority: CasePriority | None = strawberry.field(description="Urgency; null when unset.")
    channel: str | None = strawberry.field(description="Where it came in: email, web, voice, chat.")
    tags: list[str] = strawberry.field(description="The ticket's tags.")
    created_at: datetime = strawberry.field(description="When the case was opened.")
    updated_at: datetime = strawberry.field(description="When the case last changed.")

    @classmethod
    def resolve_id(cls, root: Self, *, info: strawberry.Info) -> str:
        """The natural key behind the global id."""
        return root.number

    @classmethod
    def from_record(cls, record: records.Case, *, customer_number: str | None = None) -> Case:
        """Wrap a canonical case; pass the customer number when it is already known."""
        return cls(
            record=record,
            customer_number=customer_number,
            number=str(record.id),
            subject=record.subject,
            description=record.description,
            status=record.status,
            source_status=record.source_status,
            priority=record.priority,
            channel=record.channel,
            tags=list(record.tags),
            created_at=record.created_at,
            updated_at=record.updated_at,
        )

    @strawberry.field(description="The customer who raised the case; null when not a customer.")
    async def customer(self, info: GraphInfo) -> CustomerRef | None:
        loaders = info.context.loaders
        number = self.customer_number
        if number is None:
            number = await case_resolvers.resolve_case_customer_number(loaders, self.record)
        if number is None:
            return None
        found = await customer_resolvers.resolve_customer(loaders, number=number)
        return None if found is None else customer_types.Customer.from_record(found)

    @strawberry.field(description="The order the case is about (ticket external_id); null if none.")
    async def order(self, info: GraphInfo) -> OrderRef | None:
        if self.record.order_number is None:
            return None
        found = await order_resolvers.resolve_order(info.context.loaders, self.record.order_number)
        return None if found is None else order_types.Order.from_record(found)

    @strawberry.field(
        description="Comments and notes, oldest first; pages follow the service platform's own "
        "cursor. totalCount is null (not counted upstream)."
    )
    async def timeline(
        self, info: GraphInfo, first: First = DEFAULT_PAGE_SIZE, after: After = None
    ) -> TimelineConnection | None:
        check_page_size(first)
        skip, upstream_cursor = decode_timeline_cursor(after)
        if first == 0:
            return _timeline([], [], has_next=False, has_previous=after is not None)
        page = await case_resolvers.resolve_timeline_page(
            info.context.loaders, self.record.id, skip + first, upstream_cursor
        )
        items = list(page.items[skip:])
        cursors = [encode_timeline_cursor(skip + i + 1, upstream_cursor) for i in range(len(items))]
        if items and page.next_cursor:
            cursors[-1] = encode_timeline_cursor(0, page.next_cursor)
        return _timeline(
            items,
            cursors,
            has_next=page.has_more or bool(page.next_cursor),
            has_previous=after is not None,
        )


def _timeline(
    items: list[records.CaseComment], cursors: list[str], *, has_next: bool, has_previous: bool
) -> TimelineConnection:
    """Assemble a timeline page."""
    edges = [
        Edge(cursor=cursor, node=CaseComment.from_record(item))
        for item, cursor in zip(items, cursors, strict=True)
    ]
    return TimelineConnection(
        edges=edges,
        nodes=[edge.node for edge in edges],
        page_info=relay.PageInfo(
            has_next_page=has_next,
            has_previous_page=has_previous,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        total_count=None,
    )


@strawberry.type(description="A page of cases.")
class CaseConnection(Connection[Case]):
    """A page of cases."""
