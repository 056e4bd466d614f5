"""The Zendesk-shaped sandbox over HTTP: users, tickets, cursor pages, updates."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from sandbox.apps import SandboxApps
from sandbox.seed import FIXTURES

ADA = int(FIXTURES["customer_user_id"])
OPEN_TICKET = int(FIXTURES["open_ticket_id"])


async def test_rejects_bad_credentials_with_zendesk_body(
        connect: Callable[..., httpx.AsyncClient]) -> None:
    response = await connect("servicedesk", auth=False).get(f"/api/v2/tickets/{OPEN_TICKET}.json")
    assert response.status_code == 401
    assert response.json() == {"error": "Couldn't authenticate you"}


async def test_users_by_external_id(desk: httpx.AsyncClient) -> None:
    response = await desk.get("/api/v2/users/show_many.json",
                              params={"external_ids": "C-10001,C-10002,C-99999"})
    users = response.json()["users"]
    assert [u["external_id"] for u in users] == ["C-10001", "C-10002"]
    ada = users[0]
    assert (ada["id"], ada["name"], ada["email"]) == (ADA, "Ada Lovelace",
                                                      "ada.lovelace@example.com")
    assert ada["user_fields"]["loyalty_tier"] == "gold"
    assert ada["url"].endswith(f"/api/v2/users/{ADA}.json")
    by_id = await desk.get("/api/v2/users/show_many.json", params={"ids": str(ADA)})
    assert by_id.json()["users"] == [ada]


async def test_show_many_caps_at_100_ids(desk: httpx.AsyncClient) -> None:
    ids = ",".join(str(n) for n in range(1001, 1102))
    assert (await desk.get("/api/v2/tickets/show_many.json", params={"ids": ids})).status_code \
        == 400
    ok = await desk.get("/api/v2/tickets/show_many.json",
                        params={"ids": f"{OPEN_TICKET},99999999,1001"})
    assert [t["id"] for t in ok.json()["tickets"]] == [OPEN_TICKET, 1001]


async def test_ticket_links_to_order_by_external_id(desk: httpx.AsyncClient) -> None:
    ticket = (await desk.get(f"/api/v2/tickets/{OPEN_TICKET}.json")).json()["ticket"]
    assert (ticket["status"], ticket["external_id"]) == ("open", FIXTURES["ticket_order"])
    assert ticket["requester_id"] == ADA
    about = await desk.get("/api/v2/tickets.json", params={"external_id": FIXTURES["ticket_order"]})
    assert OPEN_TICKET in [t["id"] for t in about.json()["tickets"]]
    missing = await desk.get("/api/v2/tickets/99999999.json")
    assert missing.status_code == 404
    assert missing.json() == {"error": "RecordNotFound", "description": "Not found"}


async def walk(desk: httpx.AsyncClient, url: str, name: str, size: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    response = await desk.get(url, params={"page[size]": str(size)})
    while True:
        body = response.json()
        assert len(body[name]) <= size
        rows += body[name]
        if not body["meta"]["has_more"]:
            assert body["links"]["next"] is None
            return rows
        response = await desk.get(body["links"]["next"])


async def test_requested_tickets_cursor_pages_newest_first(desk: httpx.AsyncClient,
                                                           world: SandboxApps) -> None:
    busiest = max(world.data.tickets_by_requester.items(), key=lambda kv: len(kv[1]))
    user_id, ticket_ids = busiest
    assert len(ticket_ids) >= 5
    rows = await walk(desk, f"/api/v2/users/{user_id}/tickets/requested.json", "tickets", 2)
    assert sorted(t["id"] for t in rows) == sorted(ticket_ids)
    keys = [(t["created_at"], t["id"]) for t in rows]
    assert keys == sorted(keys, reverse=True)
    first = (await desk.get(f"/api/v2/users/{user_id}/tickets/requested.json",
                            params={"page[size]": "2"})).json()
    second = (await desk.get(first["links"]["next"])).json()
    back = (await desk.get(second["links"]["prev"])).json()
    assert [t["id"] for t in back["tickets"]] == [t["id"] for t in first["tickets"]]


async def test_page_size_limit(desk: httpx.AsyncClient) -> None:
    response = await desk.get(f"/api/v2/users/{ADA}/tickets/requested.json",
                              params={"page[size]": "101"})
    assert response.status_code == 400
    unknown = await desk.get("/api/v2/users/1/tickets/requested.json")
    assert unknown.status_code == 404


async def test_comments_oldest_first_and_paged(desk: httpx.AsyncClient,
                                               world: SandboxApps) -> None:
    ticket_id = max(world.data.comments, key=lambda k: len(world.data.comments[k]))
    rows = await walk(desk, f"/api/v2/tickets/{ticket_id}/comments.json", "comments", 1)
    assert [c["id"] for c in rows] == [c["id"] for c in world.data.comments[ticket_id]]
    assert [c["created_at"] for c in rows] == sorted(c["created_at"] for c in rows)
    assert len(rows) >= 3 and rows[0]["type"] == "Comment"


async def test_update_adds_a_private_note_and_changes_status(desk: httpx.AsyncClient) -> None:
    response = await desk.put(f"/api/v2/tickets/{OPEN_TICKET}.json", json={"ticket": {
        "comment": {"body": "Return RMA-1 authorised.", "public": False}, "status": "pending"}})
    assert response.status_code == 200
    body = response.json()
    assert body["ticket"]["status"] == "pending"
    events = body["audit"]["events"]
    assert [e["type"] for e in events] == ["Comment", "Change"]
    assert events[1] | {"id": 0} == {"id": 0, "type": "Change", "field_name": "status",
                                     "value": "pending", "previous_value": "open"}
    comments = (await desk.get(f"/api/v2/tickets/{OPEN_TICKET}/comments.json")).json()["comments"]
    assert (comments[-1]["body"], comments[-1]["public"]) == ("Return RMA-1 authorised.", False)


@pytest.mark.parametrize("change", [{"status": "archived"}, {"status": "new"},
                                    {"comment": {"body": ""}}, {"priority": "meh"}])
async def test_invalid_updates_are_422_and_change_nothing(desk: httpx.AsyncClient,
                                                         change: dict[str, Any]) -> None:
    before = (await desk.get(f"/api/v2/tickets/{OPEN_TICKET}/comments.json")).json()["comments"]
    response = await desk.put(f"/api/v2/tickets/{OPEN_TICKET}.json", json={"ticket": change})
    assert response.status_code == 422
    assert response.json()["error"] == "RecordInvalid"
    after = (await desk.get(f"/api/v2/tickets/{OPEN_TICKET}/comments.json")).json()["comments"]
    assert after == before
    ticket = (await desk.get(f"/api/v2/tickets/{OPEN_TICKET}.json")).json()["ticket"]
    assert ticket["status"] == "open"


async def test_closed_tickets_cannot_be_updated(desk: httpx.AsyncClient,
                                                world: SandboxApps) -> None:
    closed = next(t for t in world.data.tickets.values() if t["status"] == "closed")
    response = await desk.put(f"/api/v2/tickets/{closed['id']}.json",
                              json={"ticket": {"comment": {"body": "hello"}}})
    assert response.status_code == 422


async def test_create_ticket_is_idempotent(desk: httpx.AsyncClient) -> None:
    body = {"ticket": {"subject": "Return for SO-1", "comment": {"body": "Please help"},
                       "requester_id": ADA, "external_id": FIXTURES["delivered_order"],
                       "priority": "high"}}
    headers = {"Idempotency-Key": "case-1"}
    created = await desk.post("/api/v2/tickets.json", json=body, headers=headers)
    assert created.status_code == 201
    ticket = created.json()["ticket"]
    assert (ticket["status"], ticket["priority"], ticket["description"]) == \
        ("new", "high", "Please help")
    replay = await desk.post("/api/v2/tickets.json", json=body, headers=headers)
    assert replay.json()["ticket"]["id"] == ticket["id"]
    assert replay.headers["Idempotent-Replayed"] == "true"
    requested = await desk.get(f"/api/v2/users/{ADA}/tickets/requested.json",
                               params={"page[size]": "1"})
    assert requested.json()["tickets"][0]["id"] == ticket["id"]
    other = await desk.post("/api/v2/tickets.json", json={"ticket": {
        **body["ticket"], "subject": "changed"}}, headers=headers)
    assert other.status_code == 422
    unknown = await desk.post("/api/v2/tickets.json", json={"ticket": {
        **body["ticket"], "requester_id": 1}})
    assert unknown.status_code == 422


async def test_every_response_carries_rate_limit_headers(desk: httpx.AsyncClient) -> None:
    first = await desk.get(f"/api/v2/tickets/{OPEN_TICKET}.json")
    second = await desk.get("/api/v2/tickets/99999999.json")
    limit = int(first.headers["X-Rate-Limit"])
    assert int(first.headers["X-Rate-Limit-Remaining"]) == limit - 1
    assert int(second.headers["X-Rate-Limit-Remaining"]) == limit - 2
