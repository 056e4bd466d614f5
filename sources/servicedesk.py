"""ServiceDeskClient: Zendesk Support-shaped reads of end-users, tickets and comments.

Bulk reads use `show_many` (≤ 100 ids or external ids per request); a customer's tickets
come from the user's requested tickets with cursor pagination (`page[size]=100`, every page).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from . import statuses
from .http import HttpSource
from .records import Case, CaseComment, CaseStatus, CustomerProfile, Page

T = TypeVar("T")
MAX_IDS = 100
MAX_PAGE = 100
_SOLVED = frozenset({CaseStatus.SOLVED, CaseStatus.CLOSED})


def _timestamp(value: Any) -> datetime:
    return datetime.fromisoformat(str(value))


def profile(raw: Mapping[str, Any]) -> CustomerProfile:
    """A Zendesk end-user linked to a customer by `external_id`."""
    fields = raw.get("user_fields") or {}
    points = fields.get("loyalty_points")
    return CustomerProfile(
        user_id=int(raw["id"]),
        customer_number=raw["external_id"],
        name=raw["name"],
        email=raw.get("email") or None,
        phone=raw.get("phone") or None,
        loyalty_tier=fields.get("loyalty_tier") or None,
        loyalty_points=None if points is None else int(points),
    )


def case(raw: Mapping[str, Any]) -> Case:
    """A Zendesk ticket; its `external_id` is the order number it is about."""
    via = raw.get("via") or {}
    return Case(
        id=int(raw["id"]),
        subject=raw.get("subject") or "",
        description=raw.get("description"),
        status=statuses.case_status(raw["status"]),
        source_status=raw["status"],
        priority=statuses.case_priority(raw.get("priority")),
        requester_id=None if raw.get("requester_id") is None else int(raw["requester_id"]),
        order_number=raw.get("external_id") or None,
        channel=via.get("channel") if isinstance(via, Mapping) else None,
        tags=tuple(raw.get("tags") or ()),
        created_at=_timestamp(raw["created_at"]),
        updated_at=_timestamp(raw["updated_at"]),
    )


def comment(raw: Mapping[str, Any], case_id: int) -> CaseComment:
    """One ticket comment."""
    return CaseComment(
        id=int(raw["id"]),
        case_id=case_id,
        author_id=None if raw.get("author_id") is None else int(raw["author_id"]),
        body=raw.get("body") or "",
        public=bool(raw.get("public", True)),
        created_at=_timestamp(raw["created_at"]),
    )


def _newest(cases: Sequence[Case]) -> tuple[Case, ...]:
    return tuple(sorted(cases, key=lambda c: (c.created_at, c.id), reverse=True))


class ServiceDeskClient(HttpSource):
    """Typed async reads of customer profiles, cases and case timelines."""

    source = "servicedesk"
    CACHE_FAMILIES = {
        "profile": "profiles",
        "case": "cases",
        "cases_by_customer": "cases",
        "cases_by_order": "cases",
    }

    async def profiles_by_customer_numbers(
        self, numbers: Sequence[str]
    ) -> dict[str, CustomerProfile]:
        """End-users by customer number (`external_id`; missing numbers absent)."""
        async def fetch(keys: list[str]) -> dict[str, CustomerProfile]:
            bodies = await self._show_many("/api/v2/users/show_many.json", "external_ids", keys)
            raws = [raw for body in bodies for raw in self._list(body, "users")]
            found = [self._one(profile, raw, "user") for raw in raws]
            return {p.customer_number: p for p in found}

        return await self._load("profile", numbers, fetch)

    async def cases_by_ids(self, ids: Sequence[int]) -> dict[int, Case]:
        """Tickets by id (missing ids absent)."""
        async def fetch(keys: list[int]) -> dict[int, Case]:
            bodies = await self._show_many(
                "/api/v2/tickets/show_many.json", "ids", [str(k) for k in keys]
            )
            raws = [raw for body in bodies for raw in self._list(body, "tickets")]
            found = [self._one(case, raw, "ticket") for raw in raws]
            return {c.id: c for c in found}

        return await self._load("case", [int(i) for i in ids], fetch)

    async def cases_by_customer_numbers(self, numbers: Sequence[str]) -> dict[str, list[Case]]:
        """Tickets each customer requested, every page, newest first (every key present)."""
        async def fetch(keys: list[str]) -> dict[str, tuple[Case, ...]]:
            profiles = await self.profiles_by_customer_numbers(keys)
            numbers_with_user = [k for k in keys if k in profiles]
            lists = await asyncio.gather(
                *(self._requested(profiles[k].user_id) for k in numbers_with_user)
            )
            for tickets in lists:
                self._prime("case", {c.id: c for c in tickets})
            return {k: _newest(tickets) for k, tickets in zip(numbers_with_user, lists)}

        found = await self._load("cases_by_customer", numbers, fetch, many=True)
        return {k: list(v) for k, v in found.items()}

    async def cases_by_order_numbers(self, numbers: Sequence[str]) -> dict[str, list[Case]]:
        """Tickets about each order (`external_id`), one request per order, concurrently."""
        async def fetch(keys: list[str]) -> dict[str, tuple[Case, ...]]:
            bodies = await asyncio.gather(
                *(
                    self._request_json(
                        "GET",
                        "/api/v2/tickets.json",
                        params={"external_id": k},
                        route="GET tickets by external_id",
                    )
                    for k in keys
                )
            )
            result: dict[str, tuple[Case, ...]] = {}
            for key, body in zip(keys, bodies):
                tickets = [self._one(case, raw, "ticket") for raw in self._list(body, "tickets")]
                self._prime("case", {c.id: c for c in tickets})
                result[key] = _newest(tickets)
            return result

        found = await self._load("cases_by_order", numbers, fetch, many=True)
        return {k: list(v) for k, v in found.items()}

    async def case_comments(
        self, case_id: int, first: int, after: str | None
    ) -> Page[CaseComment]:
        """One page of a ticket's timeline, oldest first, with Zendesk's own cursor."""
        size = max(1, min(int(first), MAX_PAGE))

        async def run() -> Page[CaseComment]:
            params = {"page[size]": str(size)}
            if after:
                params["page[after]"] = after
            body = await self._request_json(
                "GET",
                f"/api/v2/tickets/{int(case_id)}/comments.json",
                params=params,
                route="GET ticket comments",
            )
            items = tuple(
                self._one(lambda raw: comment(raw, int(case_id)), raw, "comment")
                for raw in self._list(body, "comments")
            )
            meta = body.get("meta") or {}
            has_more = bool(meta.get("has_more"))
            cursor = meta.get("after_cursor") if has_more else None
            return Page(items=items, next_cursor=cursor, has_more=has_more)

        return await self._shared(("comments", int(case_id), size, after), run)

    async def unsolved_cases(self, max_pages: int = 50) -> Page[Case]:
        """Every ticket not solved or closed, for the ops view; `has_more` when cut at `max_pages`.

        Walks `GET /api/v2/tickets.json` (cursor-paged, 100 a page). Real Zendesk's search API
        (`type:ticket status<solved`) would read less; the sandbox does not offer it.
        """
        async def run() -> Page[Case]:
            found: list[Case] = []
            after: str | None = None
            for _ in range(max_pages):
                params = {"page[size]": str(MAX_PAGE)}
                if after:
                    params["page[after]"] = after
                body = await self._request_json(
                    "GET", "/api/v2/tickets.json", params=params, route="GET tickets"
                )
                tickets = (self._one(case, raw, "ticket") for raw in self._list(body, "tickets"))
                found.extend(c for c in tickets if c.status not in _SOLVED)
                meta = body.get("meta") or {}
                after = meta.get("after_cursor")
                if not meta.get("has_more") or not after:
                    return Page(items=tuple(found))
            return Page(items=tuple(found), next_cursor=after, has_more=True)

        return await self._shared(("unsolved", max_pages), run)

    async def _requested(self, user_id: int) -> list[Case]:
        """Every ticket a user requested, following the cursor to the last page."""
        tickets: list[Case] = []
        after: str | None = None
        while True:
            params = {"page[size]": str(MAX_PAGE)}
            if after:
                params["page[after]"] = after
            body = await self._request_json(
                "GET",
                f"/api/v2/users/{user_id}/tickets/requested.json",
                params=params,
                route="GET requested tickets",
            )
            tickets.extend(self._one(case, raw, "ticket") for raw in self._list(body, "tickets"))
            meta = body.get("meta") or {}
            after = meta.get("after_cursor")
            if not meta.get("has_more") or not after:
                return tickets

    async def _show_many(self, path: str, param: str, values: Sequence[str]) -> list[Any]:
        """`show_many` in chunks of 100, concurrently."""
        chunks = [values[i:i + MAX_IDS] for i in range(0, len(values), MAX_IDS)]
        return list(
            await asyncio.gather(
                *(
                    self._request_json(
                        "GET", path, params={param: ",".join(chunk)}, route=f"GET {path}"
                    )
                    for chunk in chunks
                )
            )
        )

    def _list(self, body: Any, field: str) -> list[Any]:
        """The list under `field` of a response body."""
        value = body.get(field) if isinstance(body, dict) else None
        if not isinstance(value, list):
            raise self._malformed(f"{field} response", TypeError(f"no {field!r} list"))
        return value

    def _one(self, translate: Callable[[Any], T], raw: Any, what: str) -> T:
        """Translate one raw record; anything off-shape is a malformed upstream."""
        try:
            return translate(raw)
        except (KeyError, TypeError, ValueError) as exc:
            raise self._malformed(what, exc) from exc
