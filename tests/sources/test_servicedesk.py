"""ServiceDeskClient against the Zendesk-shaped sandbox: profiles, tickets, timelines."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sandbox.seed import FIXTURES
from sources import Sources, SourceNotFound
from sources.records import CaseStatus

ADA = FIXTURES["customer"]


async def test_profile_by_customer_number(sources: Sources, raw: Any) -> None:
    found = await sources.servicedesk.profiles_by_customer_numbers([ADA, "C-99999"])
    assert list(found) == [ADA]
    body = (
        await raw("servicedesk").get("/api/v2/users/show_many.json", params={"external_ids": ADA})
    ).json()
    (user,) = body["users"]
    profile = found[ADA]
    assert profile.user_id == user["id"] == int(FIXTURES["customer_user_id"])
    assert profile.loyalty_tier == user["user_fields"]["loyalty_tier"]
    assert profile.loyalty_points == user["user_fields"]["loyalty_points"]
    assert sources.servicedesk.stats.calls == 1


async def test_cases_by_customer_follow_every_page_newest_first(
    sources: Sources, raw: Any, upstream_stats: Any
) -> None:
    cases = await sources.servicedesk.cases_by_customer_numbers([ADA, "C-99999"])
    assert cases["C-99999"] == []
    mine = cases[ADA]
    ids = {c.id for c in mine}
    assert {int(FIXTURES["open_ticket_id"]), int(FIXTURES["solved_ticket_id"])} <= ids
    assert [c.created_at for c in mine] == sorted((c.created_at for c in mine), reverse=True)
    user = FIXTURES["customer_user_id"]
    raw_ids: set[int] = set()
    after = None
    while True:
        params = {"page[size]": "2"} | ({"page[after]": after} if after else {})
        body = (
            await raw("servicedesk").get(
                f"/api/v2/users/{user}/tickets/requested.json", params=params
            )
        ).json()
        raw_ids |= {t["id"] for t in body["tickets"]}
        if not body["meta"]["has_more"]:
            break
        after = body["meta"]["after_cursor"]
    assert ids == raw_ids
    # the tickets were primed by id
    calls = sources.servicedesk.stats.calls
    await sources.servicedesk.cases_by_ids(sorted(ids))
    assert sources.servicedesk.stats.calls == calls


async def test_the_open_ticket_about_an_order(sources: Sources) -> None:
    ticket_id = int(FIXTURES["open_ticket_id"])
    (ticket,) = (await sources.servicedesk.cases_by_ids([ticket_id])).values()
    assert ticket.status is CaseStatus.OPEN
    assert ticket.order_number is not None
    by_order = await sources.servicedesk.cases_by_order_numbers([ticket.order_number, "SO-0"])
    assert ticket_id in {c.id for c in by_order[ticket.order_number]}
    assert by_order["SO-0"] == []
    assert sources.servicedesk.stats.by_route["GET tickets by external_id"] == 2


async def test_cases_by_ids_use_show_many_in_hundreds(sources: Sources, recorders: Any) -> None:
    first = int(FIXTURES["solved_ticket_id"])
    ids = list(range(1000, 1150)) + [first]
    found = await sources.servicedesk.cases_by_ids(ids)
    assert first in found
    assert sources.servicedesk.stats.calls == 2
    assert all(
        len(r.url.params["ids"].split(",")) <= 100 for r in recorders["servicedesk"].requests
    )


async def test_comment_pages_pass_the_cursor_through(sources: Sources, raw: Any) -> None:
    ticket = int(FIXTURES["open_ticket_id"])
    body = (await raw("servicedesk").get(f"/api/v2/tickets/{ticket}/comments.json")).json()
    expected = [c["id"] for c in body["comments"]]
    assert len(expected) >= 2
    seen: list[int] = []
    after = None
    while True:
        page = await sources.servicedesk.case_comments(ticket, first=1, after=after)
        seen += [c.id for c in page.items]
        if not page.has_more:
            assert page.next_cursor is None
            break
        after = page.next_cursor
    assert seen == expected


async def test_concurrent_identical_comment_reads_share_one_call(sources: Sources) -> None:
    ticket = int(FIXTURES["open_ticket_id"])
    pages = await asyncio.gather(
        *(sources.servicedesk.case_comments(ticket, 10, None) for _ in range(20))
    )
    assert all(p == pages[0] for p in pages)
    assert sources.servicedesk.stats.calls == 1


async def test_comments_of_an_unknown_case_are_not_found(sources: Sources) -> None:
    with pytest.raises(SourceNotFound):
        await sources.servicedesk.case_comments(99_999_999, first=10, after=None)
