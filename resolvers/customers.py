"""Customer resolvers: look customers up by number, email or search text, and their loyalty."""

from __future__ import annotations

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
