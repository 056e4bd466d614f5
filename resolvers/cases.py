"""Case resolvers: tickets by id, by customer, by order, their requester and timeline."""

from __future__ import annotations

from sources.records import Case, CaseComment, CaseStatus, Order, Page

from .loaders import Loaders

MAX_TIMELINE_PAGE = 100  # Zendesk's page[size] limit


async def resolve_case(loaders: Loaders, case_id: int) -> Case | None:
    """A case by ticket id; None when unknown."""
    return await loaders.case_by_id.load(case_id)


async def resolve_customer_cases(
    loaders: Loaders, customer_number: str, status: CaseStatus | None = None
) -> list[Case]:
    """Every case a customer requested, newest first, optionally of one status."""
    cases = await loaders.cases_by_customer_number.load(customer_number)
    return [c for c in cases if status is None or c.status is status]


async def resolve_order_cases(loaders: Loaders, order: Order) -> list[Case]:
    """Cases about an order: the customer's cases filtered, so their orders share one call."""
    cases = await loaders.cases_by_customer_number.load(order.customer_number)
    return [c for c in cases if c.order_number == order.number]


async def resolve_case_customer_number(loaders: Loaders, case: Case) -> str | None:
    """The customer number of a case's requester (via the service platform's user)."""
    if case.requester_id is None:
        return None
    profile = await loaders.profile_by_user_id.load(case.requester_id)
    if profile is not None:
        return profile.customer_number
    if case.order_number is None:
        return None
    order = await loaders.order_by_number.load(case.order_number)
    return None if order is None else order.customer_number


async def resolve_timeline_page(
    loaders: Loaders, case_id: int, size: int, upstream_cursor: str | None
) -> Page[CaseComment]:
    """One page of a case's comments, oldest first, continuing from the upstream's cursor."""
    return await loaders.case_comments_page.load(
        (case_id, max(1, min(size, MAX_TIMELINE_PAGE)), upstream_cursor)
    )
