"""Customer resolvers: look customers up by number, email or search text, and their loyalty."""

from __future__ import annotations

from sources.errors import SourceError, SourceUnavailable
from sources.records import Customer, CustomerProfile

from .loaders import Loaders


async def resolve_customer(
    loaders: Loaders, *, number: str | None = None, email: str | None = None
) -> Customer | None:
    """A customer by number or (case-insensitive) email; None when unknown."""
    if number is not None:
        return await loaders.customer_by_number.load(number.strip())
    if email is not None:
        return await loaders.customer_by_email.load(email.strip().lower())
    return None


async def resolve_customer_search(
    loaders: Loaders, search: str | None, limit: int, offset: int
) -> list[Customer]:
    """A window of customers whose name, email or number contains `search`."""
    return list(await loaders.customer_search.load(((search or "").strip(), limit, offset)))


async def resolve_profile(loaders: Loaders, customer_number: str) -> CustomerProfile | None:
    """The service platform's view of a customer (loyalty tier and points)."""
    return await loaders.profile_by_customer_number.load(customer_number)


async def resolve_customer_or_profile(
    loaders: Loaders, *, number: str | None = None, email: str | None = None
) -> Customer | tuple[CustomerProfile, SourceUnavailable] | None:
    """A customer; while the ERP is unavailable, their service-platform profile and the error.

    The ERP holds the customer master, but the service platform knows the same person by
    customer number (its `external_id`), so cases and loyalty stay reachable in an ERP
    outage. Only a lookup by number can fall back; by email the ERP is the only index.
    """
    try:
        return await resolve_customer(loaders, number=number, email=email)
    except SourceUnavailable as erp_error:
        if number is None:
            raise
        try:
            profile = await resolve_profile(loaders, number.strip())
        except SourceError:
            raise erp_error from None
        if profile is None:
            raise
        return profile, erp_error
