"""Service-platform sandbox shaped like Zendesk Support: users, tickets, comments."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.common import (
    BadRequest,
    Result,
    SandboxMiddleware,
    SandboxState,
    control_routes,
    idempotent,
    parse_json,
    route_templates,
)
from sandbox.model import Row, SandboxData, stamp
from sandbox.seed_service import COMMENT_BASE
from sandbox.webhooks import deliver, zendesk_messages

MAX_IDS, MAX_PAGE = 100, 100
STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
PRIORITIES = ("urgent", "high", "normal", "low")
TYPES = ("problem", "incident", "question", "task")
AUDIT_BASE = 31_000_000_000
_NAMES = {"not_found": "RecordNotFound", "bad_request": "InvalidValue",
          "rate_limited": "TooManyRequests", "unavailable": "ServiceUnavailable",
          "idempotency_key_reused": "IdempotentRequestError",
          "idempotency_key_in_use": "IdempotentRequestInProgress", "invalid": "RecordInvalid"}


def zendesk_error(status: int, kind: str, message: str) -> Result:
    """Zendesk's error bodies (the 401 one is a bare sentence, as in the product)."""
    if kind == "unauthorized":
        return Result(401, {"error": "Couldn't authenticate you"})
    if kind == "not_found":
        return Result(404, {"error": "RecordNotFound", "description": "Not found"})
    body: dict[str, Any] = {"error": _NAMES.get(kind, kind), "description": message}
    if kind == "invalid":
        body = {"error": "RecordInvalid", "description": "Record validation errors",
                "details": {"base": [{"description": message}]}}
    return Result(status, body)


class Invalid(Exception):
    """A record validation failure (HTTP 422 RecordInvalid)."""


def _ids(request: Request, name: str) -> list[str] | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    values = list(dict.fromkeys(v.strip() for v in raw.split(",") if v.strip()))
    if len(values) > MAX_IDS:
        raise BadRequest(f"At most {MAX_IDS} values are allowed in '{name}'.")
    return values


def _int_ids(request: Request, name: str) -> list[int] | None:
    values = _ids(request, name)
    if values is None:
        return None
    if not all(v.isdigit() for v in values):
        raise BadRequest(f"'{name}' must be a comma-separated list of integers.")
    return [int(v) for v in values]


def _cursor(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")


def _uncursor(cursor: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_-]+", cursor):
        raise BadRequest("The page cursor is invalid.")
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("The page cursor is invalid.") from None


def cursor_page(request: Request, items: list[tuple[str, Row]], name: str) -> dict[str, Any]:
    """Zendesk cursor pagination over (sort key, item) pairs already in page order."""
    # Keys increase along the order; `page[after]` and `page[before]` are keyset bounds, so
    # pages neither skip nor repeat items when records are added between calls.
    raw_size = request.query_params.get("page[size]", str(MAX_PAGE))
    if not raw_size.isdigit() or not 1 <= int(raw_size) <= MAX_PAGE:
        raise BadRequest(f"page[size] must be between 1 and {MAX_PAGE}.")
    size = int(raw_size)
    after = request.query_params.get("page[after]")
    before = request.query_params.get("page[before]")
    if before:
        upper = _uncursor(before)
        earlier = [item for item in items if item[0] < upper]
        page, has_more = earlier[-size:], len(earlier) > size
    else:
        lower = _uncursor(after) if after else None
        later = [item for item in items if lower is None or item[0] > lower]
        page, has_more = later[:size], len(later) > size
    after_cursor = _cursor(page[-1][0]) if page else None
    before_cursor = _cursor(page[0][0]) if page else None
    base = str(request.url.replace(query=""))
    kept = [(k, v) for k, v in request.query_params.multi_items()
            if k not in ("page[after]", "page[before]")]

    def link(key: str, cursor: str | None) -> str | None:
        if cursor is None:
            return None
        return base + "?" + urlencode([*kept, (key, cursor)], quote_via=quote, safe="[]")

    return {name: [row for _, row in page],
            "meta": {"has_more": has_more, "after_cursor": after_cursor,
                     "before_cursor": before_cursor},
            "links": {"next": link("page[after]", after_cursor) if has_more or before else None,
                      "prev": link("page[before]", before_cursor)}}


class ServiceDesk:
    """Handlers over the seeded users, tickets and comments."""

    def __init__(self, data: SandboxData, state: SandboxState,
                 clock: Callable[[], datetime]) -> None:
        self.data, self.state, self.clock = data, state, clock
        self.default_agent = next(u["id"] for u in data.users.values() if u["role"] == "agent")

    def ticket(self, request: Request, row: Row) -> Row:
        """A ticket with its API url."""
        return {"id": row["id"], "url": f"{request.base_url}api/v2/tickets/{row['id']}.json",
                **row}

    def user(self, request: Request, row: Row) -> Row:
        """A user with its API url."""
        return {"id": row["id"], "url": f"{request.base_url}api/v2/users/{row['id']}.json", **row}

    async def users_show_many(self, request: Request) -> Result:
        """GET /api/v2/users/show_many.json?ids=… or ?external_ids=… (≤100)."""
        ids = _int_ids(request, "ids")
        if ids is None:
            external = _ids(request, "external_ids")
            if external is None:
                raise BadRequest("Either 'ids' or 'external_ids' is required.")
            by_external = self.data.users_by_external_id
            ids = [by_external[e] for e in external if e in by_external]
        users = self.data.users
        return Result(200, {"users": [self.user(request, users[i]) for i in ids if i in users]})

    async def show_user(self, request: Request) -> Result:
        """GET /api/v2/users/{id}.json."""
        row = self.data.users.get(request.path_params["user_id"])
        if row is None:
            return zendesk_error(404, "not_found", "")
        return Result(200, {"user": self.user(request, row)})

    async def requested(self, request: Request) -> Result:
        """GET /api/v2/users/{id}/tickets/requested.json: newest first, cursor-paged."""
        user_id = request.path_params["user_id"]
        if user_id not in self.data.users:
            return zendesk_error(404, "not_found", "")
        tickets = [self.data.tickets[i] for i in self.data.tickets_by_requester.get(user_id, [])]
        # Newest first, so the key counts down: invert it to keep keys increasing.
        tickets.sort(key=lambda t: (t["created_at"], t["id"]), reverse=True)
        items = [(f"{_invert(t['created_at'])}|{10**15 - t['id']:016d}", self.ticket(request, t))
                 for t in tickets]
        return Result(200, cursor_page(request, items, "tickets"))

    async def tickets_show_many(self, request: Request) -> Result:
        """GET /api/v2/tickets/show_many.json?ids=… (≤100)."""
        ids = _int_ids(request, "ids")
        if ids is None:
            raise BadRequest("'ids' is required.")
        tickets = self.data.tickets
        return Result(200, {"tickets": [self.ticket(request, tickets[i]) for i in ids
                                        if i in tickets]})

    async def list_tickets(self, request: Request) -> Result:
        """GET /api/v2/tickets.json?external_id=… (or every ticket, cursor-paged by id)."""
        external_id = request.query_params.get("external_id")
        tickets = self.data.tickets
        if external_id is not None:
            rows = [self.ticket(request, tickets[i])
                    for i in self.data.tickets_by_external_id.get(external_id, [])]
            return Result(200, {"tickets": rows, "next_page": None, "previous_page": None,
                                "count": len(rows)})
        items = [(f"{i:016d}", self.ticket(request, t)) for i, t in tickets.items()]
        return Result(200, cursor_page(request, items, "tickets"))

    async def show_ticket(self, request: Request) -> Result:
        """GET /api/v2/tickets/{id}.json."""
        row = self.data.tickets.get(request.path_params["ticket_id"])
        if row is None:
            return zendesk_error(404, "not_found", "")
        return Result(200, {"ticket": self.ticket(request, row)})

    async def comments(self, request: Request) -> Result:
        """GET /api/v2/tickets/{id}/comments.json: oldest first, cursor-paged."""
        ticket_id = request.path_params["ticket_id"]
        if ticket_id not in self.data.tickets:
            return zendesk_error(404, "not_found", "")
        items = [(f"{c['id']:016d}", c) for c in self.data.comments.get(ticket_id, [])]
        return Result(200, cursor_page(request, items, "comments"))

    def add_comment(self, ticket: Row, comment: Any, author_fallback: int) -> Row:
        """Append a comment to a ticket's thread."""
        if not isinstance(comment, dict) or not isinstance(comment.get("body"), str) \
                or not comment["body"].strip():
            raise Invalid("Comment: body is required.")
        public = comment.get("public", True)
        if not isinstance(public, bool):
            raise Invalid("Comment: public must be true or false.")
        author = comment.get("author_id")
        if not isinstance(author, int) or author not in self.data.users:
            author = author_fallback
        row = {"id": COMMENT_BASE + self.data.next_number("comment"), "type": "Comment",
               "author_id": author, "body": comment["body"],
               "html_body": f'<div class="zd-comment"><p>{html.escape(comment["body"])}</p></div>',
               "public": public, "created_at": stamp(self.clock())}
        self.data.comments.setdefault(ticket["id"], []).append(row)
        return row

    def apply(self, ticket: Row, changes: dict[str, Any], author: int) -> list[Row]:
        """Validate and apply field changes and a comment; the audit's events."""
        events: list[Row] = []
        status = changes.get("status")
        if status is not None and (status not in STATUSES or
                                   (status == "new" and ticket["status"] != "new")):
            raise Invalid(f"Status: {status} is not a valid status now.")
        priority = changes.get("priority")
        if priority is not None and priority not in PRIORITIES:
            raise Invalid(f"Priority: {priority} is not valid.")
        if "comment" in changes:
            comment = self.add_comment(ticket, changes["comment"], author)
            events.append({"type": "Comment", "body": comment["body"],
                           "public": comment["public"], "author_id": comment["author_id"]})
        for name, value in (("status", status), ("priority", priority)):
            if value is not None and value != ticket[name]:
                events.append({"type": "Change", "field_name": name, "value": value,
                               "previous_value": ticket[name]})
                ticket[name] = value
        if ticket["status"] != "new" and ticket["assignee_id"] is None:
            ticket["assignee_id"] = author  # working a ticket assigns it
        ticket["updated_at"] = stamp(self.clock())
        return events

    def audit(self, ticket: Row, events: list[Row], author: int) -> Row:
        """The audit record of one update."""
        audit_id = AUDIT_BASE + self.data.next_number("audit")
        return {"id": audit_id, "ticket_id": ticket["id"], "created_at": ticket["updated_at"],
                "author_id": author,
                "events": [{"id": audit_id * 10 + i, **e} for i, e in enumerate(events)]}

    async def update_ticket(self, request: Request) -> Result:
        """PUT /api/v2/tickets/{id}.json: add a comment and/or change status or priority."""
        ticket = self.data.tickets.get(request.path_params["ticket_id"])
        if ticket is None:
            return zendesk_error(404, "not_found", "")
        changes = _ticket_body(parse_json(await request.body()))
        if ticket["status"] == "closed":
            raise Invalid("Status: closed prevents ticket update")
        author = ticket["assignee_id"] or self.default_agent
        events = self.apply(ticket, changes, author)  # validates before changing anything
        return Result(200, {"ticket": self.ticket(request, ticket),
                            "audit": self.audit(ticket, events, author)})

    async def create_ticket(self, request: Request) -> Result:
        """POST /api/v2/tickets.json: a new ticket whose first comment is its description."""
        body = _ticket_body(parse_json(await request.body()))
        requester = body.get("requester_id")
        if not isinstance(requester, int) or requester not in self.data.users:
            raise Invalid("Requester: requester_id must be an existing user.")
        comment = body.get("comment")
        if not isinstance(comment, dict) or not isinstance(comment.get("body"), str) \
                or not comment["body"].strip():
            raise Invalid("Description: cannot be blank")
        kind = body.get("type")
        if kind is not None and kind not in TYPES:
            raise Invalid(f"Type: {kind} is not valid.")
        if body.get("status", "new") not in STATUSES or \
                body.get("priority", "normal") not in PRIORITIES or \
                not isinstance(comment.get("public", True), bool):
            raise Invalid("Status, priority or comment visibility is not valid.")
        external_id = body.get("external_id")
        now = stamp(self.clock())
        ticket = {
            "id": self.data.next_number("ticket"),
            "external_id": external_id if isinstance(external_id, str) else None,
            "type": kind, "subject": str(body.get("subject") or comment["body"][:60]),
            "description": comment["body"], "priority": None, "status": "new",
            "requester_id": requester, "assignee_id": None,
            "tags": [t for t in body.get("tags", []) if isinstance(t, str)]
            if isinstance(body.get("tags"), list) else [],
            "via": {"channel": "web"}, "custom_fields": [
                {"id": 360_000_100_001, "value": external_id}, {"id": 360_000_100_002,
                                                                "value": None}],
            "created_at": now, "updated_at": now}
        self.data.index_ticket(ticket)
        author = requester
        events = self.apply(ticket, {**{k: v for k, v in body.items()
                                        if k in ("status", "priority")},
                                     "comment": {**comment, "author_id": requester}}, author)
        return Result(201, {"ticket": self.ticket(request, ticket),
                            "audit": self.audit(ticket, events, author)})


def _invert(stamp_text: str) -> str:
    """A string that sorts in the opposite order of an ISO timestamp of the same shape."""
    return stamp_text.translate(str.maketrans("0123456789", "9876543210"))


def _ticket_body(document: Any) -> dict[str, Any]:
    if not isinstance(document, dict) or not isinstance(document.get("ticket"), dict):
        raise BadRequest("The body must be {\"ticket\": {...}}.")
    ticket: dict[str, Any] = document["ticket"]
    return ticket


def create_app(data: SandboxData, *, token: str = "sandbox-token",
               rate_limit: int = 1_000_000, rate_window_seconds: float = 60.0,
               clock: Callable[[], datetime] | None = None, webhook_url: str | None = None,
               webhook_secret: str = "sandbox-webhook-secret",
               webhook_transport: httpx.AsyncBaseTransport | None = None) -> Starlette:
    """The service-platform sandbox app; ticket events are POSTed to webhook_url (Zendesk)."""
    state = SandboxState(token=token, seed=data.seed + 2, error=zendesk_error,
                         rate_limit=rate_limit, rate_window_seconds=rate_window_seconds,
                         rate_headers=True)
    desk = ServiceDesk(data, state, clock or (lambda: datetime.now(UTC).replace(tzinfo=None)))

    def endpoint(handler: Callable[[Request], Awaitable[Result]], *,
                 write: bool = False) -> Callable[[Request], Awaitable[Response]]:
        async def run(request: Request) -> Response:
            try:
                if write:
                    body = await request.body()
                    headers = {k.lower(): v for k, v in request.headers.items()}
                    result = await idempotent(state, request.method, request.url.path,
                                              request.url.path, headers, body,
                                              lambda: handler(request))
                else:
                    result = await handler(request)
            except BadRequest as exc:
                result = zendesk_error(400, "bad_request", str(exc))
            except Invalid as exc:
                result = zendesk_error(422, "invalid", str(exc))
            response = result.response()
            if write and webhook_url and 200 <= result.status < 300 \
                    and "Idempotent-Replayed" not in result.headers:
                messages = zendesk_messages(result.body, request.method == "POST", desk.clock(),
                                            webhook_secret)
                response.background = BackgroundTask(deliver, webhook_url, messages,
                                                     webhook_transport)
            return response
        return run

    api = [
        Route("/api/v2/users/show_many.json", endpoint(desk.users_show_many), methods=["GET"]),
        Route("/api/v2/users/{user_id:int}.json", endpoint(desk.show_user), methods=["GET"]),
        Route("/api/v2/users/{user_id:int}/tickets/requested.json", endpoint(desk.requested),
              methods=["GET"]),
        Route("/api/v2/tickets/show_many.json", endpoint(desk.tickets_show_many),
              methods=["GET"]),
        Route("/api/v2/tickets.json", endpoint(desk.list_tickets), methods=["GET"]),
        Route("/api/v2/tickets.json", endpoint(desk.create_ticket, write=True),
              methods=["POST"]),
        Route("/api/v2/tickets/{ticket_id:int}.json", endpoint(desk.show_ticket),
              methods=["GET"]),
        Route("/api/v2/tickets/{ticket_id:int}.json", endpoint(desk.update_ticket, write=True),
              methods=["PUT"]),
        Route("/api/v2/tickets/{ticket_id:int}/comments.json", endpoint(desk.comments),
              methods=["GET"]),
    ]
    app = Starlette(routes=[*control_routes(state), *api])
    app.state.sandbox = state
    app.add_middleware(SandboxMiddleware, state=state, template_for=route_templates(api))
    return app
