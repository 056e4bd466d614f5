"""ERP sandbox shaped like Business Central API v2.0: OData reads, $batch, app factory."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Scope

from sandbox import erp_writes
from sandbox.common import (
    BadRequest,
    Result,
    SandboxMiddleware,
    SandboxState,
    control_routes,
    dumps,
    idempotent,
    parse_json,
)
from sandbox.erp_support import ErpContext, erp_error
from sandbox.model import ERP_FIELDS, Row, SandboxData, Table
from sandbox.odata import ODataError, QueryOptions, apply_orderby, parse_query
from sandbox.webhooks import ErpChanges, deliver, erp_message

API = "/api/v2.0"
MAX_BATCH = 100
DEFAULT_PAGE, MAX_PAGE = 100, 1000
# Parent entity set → (lines navigation property, the lines' foreign key).
NAVIGATION = {"salesOrders": ("salesOrderLines", "documentId"),
              "salesInvoices": ("salesInvoiceLines", "documentId"),
              "salesCreditMemos": ("salesCreditMemoLines", "documentId"),
              "salesReturnOrders": ("salesReturnOrderLines", "documentId"),
              "customerPaymentJournals": ("customerPayments", "journalId")}
ACTIONS = {("salesCreditMemos", "Microsoft.NAV.post")}
_SEGMENT = re.compile(r"^(?P<name>[A-Za-z][A-Za-z0-9.]*)(?:\((?P<key>[^()]*)\))?$")


class Target:
    """A parsed resource path below /api/v2.0/."""

    def __init__(self, company_key: str | None, entity_set: str | None, key: str | None,
                 nav: str | None, nav_key: str | None) -> None:
        self.company_key, self.entity_set, self.key = company_key, entity_set, key
        self.nav, self.nav_key = nav, nav_key
        parts = ["companies" + ("({id})" if company_key is not None else "")]
        if entity_set:
            parts.append(entity_set + ("({id})" if key is not None else ""))
        if nav:
            parts.append(nav + ("({id})" if nav_key is not None else ""))
        self.template = f"{API}/" + "/".join(parts)


def _unquote_key(key: str | None) -> str | None:
    return key.strip("'") if key is not None else None


def parse_target(rest: str) -> Target | None:
    """Parse `companies(<id>)/<set>(<key>)/<nav>` or None when it is not an API path."""
    segments = [s for s in rest.strip("/").split("/") if s]
    if not 1 <= len(segments) <= 3:
        return None
    found = []
    for segment in segments:
        match = _SEGMENT.match(segment)
        if match is None:
            return None
        found.append((match["name"], _unquote_key(match["key"])))
    if found[0][0] != "companies":
        return None
    company_key = found[0][1]
    if len(found) == 1:
        return Target(company_key, None, None, None, None)
    entity_set, key = found[1]
    if company_key is None or entity_set not in ERP_FIELDS:
        return None
    if len(found) == 2:
        return Target(company_key, entity_set, key, None, None)
    nav, nav_key = found[2]
    allowed = NAVIGATION.get(entity_set, ("",))[0] == nav or (entity_set, nav) in ACTIONS
    if key is None or not allowed:
        return None
    return Target(company_key, entity_set, key, nav, nav_key)


def erp_template(scope: Scope) -> str:
    """Stats route template of an HTTP request."""
    path: str = scope["path"]
    if path == f"{API}/$batch":
        return f"{scope['method']} {API}/$batch"
    target = parse_target(path[len(API) + 1:]) if path.startswith(API + "/") else None
    return f"{scope['method']} {target.template if target else '(unmatched)'}"


def _page_size(headers: Mapping[str, str]) -> int:
    for preference in headers.get("prefer", "").split(","):
        name, _, value = preference.strip().partition("=")
        if name == "odata.maxpagesize" and value.isdigit() and int(value) > 0:
            return min(int(value), MAX_PAGE)
    return DEFAULT_PAGE


class ErpApi:
    """Dispatches OData requests (from HTTP or from $batch) to reads and writes."""

    def __init__(self, ctx: ErpContext) -> None:
        self.ctx = ctx
        self.data: SandboxData = ctx.data
        self.writes = erp_writes.ErpWrites(ctx)

    async def dispatch(self, method: str, rest: str, params: dict[str, str],
                       headers: Mapping[str, str], body: bytes, base: str,
                       *, inner: bool = False) -> Result:
        """Answer one request; inner ($batch) requests are counted in stats here."""
        target = parse_target(rest)
        if inner:
            template = target.template if target else "(unmatched)"
            self.ctx.state.stats.record(f"{method} {template}", http_request=False)
        if target is None or (target.company_key is not None
                              and target.company_key != self.data.company["id"]):
            return erp_error(404, "not_found", f"The resource '{rest}' was not found.")
        try:
            if method == "GET":
                return self.read(target, rest.strip("/"), params, headers, base)
            write = self.writes.route(method, target.entity_set, target.key, target.nav)
            if write is None:
                return erp_error(405, "BadRequest_MethodNotAllowed",
                                 f"'{method}' is not allowed on '{target.template}'.")
            document = parse_json(body)
            path = f"{API}/{rest.split('?')[0]}"
            target_url = path + ("?" + urlencode(sorted(params.items())) if params else "")

            async def run() -> Result:
                return write(document, target.key, headers, base)

            return await idempotent(self.ctx.state, method, path, target_url, headers, body, run)
        except (ODataError, BadRequest) as exc:
            code = "BadRequest_InvalidFilter" if "longer than" in str(exc) else "BadRequest"
            return erp_error(400, code, str(exc))

    def read(self, target: Target, rest: str, params: dict[str, str],
             headers: Mapping[str, str], base: str) -> Result:
        """GET on a collection, an entity, or a navigation property."""
        company = self.data.company
        context = f"{base}{API}/$metadata#companies"
        if target.entity_set is None:
            if target.company_key is None:
                return Result(200, {"@odata.context": context, "value": [company]})
            return Result(200, {"@odata.context": context + "/$entity", **company})
        table = self.data.erp[target.entity_set]
        context += f"({company['id']})/{target.entity_set}"
        scope_rows: list[Row] | None = None
        if target.nav is not None:
            if target.nav != NAVIGATION.get(target.entity_set, ("",))[0]:
                return erp_error(405, "BadRequest_MethodNotAllowed",
                                 f"'GET' is not allowed on '{target.template}'.")
            parent = table.get(target.key or "")
            if parent is None:
                return self.missing(target)
            nav_name, foreign_key = NAVIGATION[target.entity_set]
            table = self.data.erp[nav_name]
            context = f"{base}{API}/$metadata#companies({company['id']})/{nav_name}"
            scope_rows = table.lookup(foreign_key, parent["id"])
            if target.nav_key is not None:
                scope_rows = [r for r in scope_rows if r["id"] == target.nav_key]
                if not scope_rows:
                    return self.missing(target)
                return self.entity(table, scope_rows[0], params, context)
        elif target.key is not None:
            row = table.get(target.key)
            return self.entity(table, row, params, context) if row else self.missing(target)
        return self.collection(table, scope_rows, params, headers, base, context, rest)

    def missing(self, target: Target) -> Result:
        """404 in Business Central's words."""
        return erp_error(404, "not_found", f"The {target.entity_set} entity was not found.")

    def expandable(self, table: Table) -> tuple[str, ...]:
        """Navigation properties $expand accepts on this table."""
        nav = NAVIGATION.get(table.name)
        return (nav[0],) if nav else ()

    def shape(self, table: Table, row: Row, options: QueryOptions) -> Row:
        """Apply $select and $expand to one row (the stored row when neither is given)."""
        out = row
        if options.select is not None:
            out = {"@odata.etag": row["@odata.etag"], **{f: row.get(f) for f in options.select}}
        for nav in options.expand:
            foreign_key = NAVIGATION[table.name][1]
            out = {**out, nav: self.data.erp[nav].lookup(foreign_key, row["id"])}
        return out

    def entity(self, table: Table, row: Row, params: dict[str, str], context: str) -> Result:
        """A single entity with its etag in the body and the ETag header."""
        options = parse_query(params, table.fields, self.expandable(table))
        return Result(200, {"@odata.context": context + "/$entity",
                            **self.shape(table, row, options)}, {"ETag": row["@odata.etag"]})

    def collection(self, table: Table, scope_rows: list[Row] | None, params: dict[str, str],
                   headers: Mapping[str, str], base: str, context: str, rest: str) -> Result:
        """Filter, order and page a collection; the next page is a $skiptoken nextLink."""
        options = parse_query(params, table.fields, self.expandable(table))
        rows = scope_rows if scope_rows is not None else self.candidates(table, options)
        if options.filter is not None:
            predicate = options.filter.predicate
            rows = [row for row in rows if predicate(row)]
        count = len(rows)
        start = options.skip
        keyset = not options.orderby
        if options.orderby:
            rows = apply_orderby(rows, options.orderby)
        token = options.skiptoken
        if token:
            kind, _, number = token.partition(":")
            if kind not in ("K", "O") or not number.isdigit() or (kind == "K") != keyset:
                raise ODataError("The $skiptoken is invalid.")
            if kind == "K":  # keyset: rows after the last one served, immune to inserts
                positions = table.positions
                rows = [row for row in rows if positions[row["id"]] > int(number)]
                start = 0
            else:
                start = int(number)
        page_size = _page_size(headers)
        take = page_size if options.top is None else min(page_size, options.top)
        page = rows[start:start + take]
        body: dict[str, Any] = {"@odata.context": context}
        if options.count:
            body["@odata.count"] = count
        body["value"] = [self.shape(table, row, options) for row in page]
        more = len(rows) > start + take and (options.top is None or options.top > take)
        response_headers = {}
        if "odata.maxpagesize" in headers.get("prefer", ""):
            response_headers["Preference-Applied"] = f"odata.maxpagesize={page_size}"
        if more and page:
            next_token = f"K:{table.positions[page[-1]['id']]}" if keyset else f"O:{start + take}"
            query = {k: v for k, v in params.items() if k not in ("$skip", "$skiptoken", "$top")}
            if options.top is not None:
                query["$top"] = str(options.top - take)
            query["$skiptoken"] = next_token
            body["@odata.nextLink"] = f"{base}{API}/{rest}?" + urlencode(
                query, quote_via=quote, safe="$'(),:")
        return Result(200, body, response_headers)

    def candidates(self, table: Table, options: QueryOptions) -> list[Row]:
        """Rows that may match: from an index when the filter pins a key field, else all."""
        keys = options.filter.keys if options.filter else None
        if keys:
            usable = [(name, values) for name, values in keys.items() if table.indexed(name)]
            if usable:
                name, values = min(usable, key=lambda item: len(item[1]))
                ids = {row["id"] for value in values for row in table.lookup(name, value)}
                return table.ordered(ids)
        return list(table.scan())

    async def batch(self, document: Any, headers: Mapping[str, str], base: str) -> Result:
        """JSON $batch: at most 100 operations; `Isolation: snapshot` makes writes atomic."""
        requests = document.get("requests") if isinstance(document, dict) else None
        if not isinstance(requests, list):
            return erp_error(400, "BadRequest", "The batch body must be {\"requests\": [...]}.")
        if len(requests) > MAX_BATCH:
            return erp_error(400, "BadRequest",
                             f"A batch can contain at most {MAX_BATCH} operations.")
        atomic = headers.get("isolation", "").lower() == "snapshot"
        state = self.ctx.state
        writes_before, keys_before = len(state.writes), set(state.idempotency)
        if atomic:
            self.data.journal.begin()
        responses: list[dict[str, Any]] = []
        failed_id: str | None = None
        for item in requests:
            if not isinstance(item, dict) or not isinstance(item.get("url"), str) or \
                    str(item.get("method", "")).upper() not in ("GET", "POST", "PATCH", "DELETE"):
                if atomic:
                    self.data.journal.rollback()
                return erp_error(400, "BadRequest", "Each batch request needs id, method and url.")
            request_id, method = str(item.get("id", len(responses))), item["method"].upper()
            if failed_id is not None:
                responses.append(self.skipped(request_id, failed_id))
                continue
            inner_headers = {str(k).lower(): str(v) for k, v in (item.get("headers") or {}).items()}
            body = item.get("body")
            raw = b"" if body is None else dumps(body)
            rest, params = _split_url(item["url"])
            result = await self.dispatch(method, rest, params, inner_headers, raw, base,
                                         inner=True)
            responses.append({"id": request_id, "status": result.status,
                              "headers": result.headers, "body": result.body})
            if atomic and method != "GET" and result.status >= 400:
                failed_id = request_id
        if atomic and failed_id is not None:
            self.data.journal.rollback()
            del state.writes[writes_before:]
            for key in set(state.idempotency) - keys_before:
                del state.idempotency[key]
            responses = [r if r["id"] == failed_id or r["status"] == 424 or
                         requests[i].get("method", "").upper() == "GET"
                         else self.skipped(r["id"], failed_id) for i, r in enumerate(responses)]
        elif atomic:
            self.data.journal.commit()
        return Result(200, {"responses": responses})

    @staticmethod
    def skipped(request_id: str, failed_id: str) -> dict[str, Any]:
        """A write rolled back, or never run, because another write of the batch failed."""
        error = erp_error(424, "BatchRolledBack",
                          f"Not applied: request '{failed_id}' of this atomic batch failed.")
        return {"id": request_id, "status": 424, "headers": {}, "body": error.body}


def _split_url(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    path = parts.path
    if path.startswith(f"{API}/"):
        path = path[len(API) + 1:]
    return path.lstrip("/"), dict(parse_qsl(parts.query, keep_blank_values=True))


def create_app(data: SandboxData, *, token: str = "sandbox-token",
               rate_limit: int = 1_000_000, rate_window_seconds: float = 60.0,
               clock: Callable[[], datetime] | None = None, webhook_url: str | None = None,
               webhook_secret: str = "sandbox-webhook-secret",
               webhook_transport: httpx.AsyncBaseTransport | None = None,
               webhook_client_state: str = "sandbox-client-state") -> Starlette:
    """The ERP sandbox app; entity changes are POSTed to webhook_url (BC notifications)."""
    state = SandboxState(token=token, seed=data.seed, error=erp_error, rate_limit=rate_limit,
                         rate_window_seconds=rate_window_seconds)
    ctx = ErpContext(data, state, clock or (lambda: datetime.now(UTC).replace(tzinfo=None)))
    api = ErpApi(ctx)
    pending: ContextVar[ErpChanges | None] = ContextVar("erp_changes", default=None)
    if webhook_url:
        def observe(table: str, old: Row | None, new: Row | None) -> None:
            changes = pending.get()
            if changes is not None:
                changes.observe(table, old, new)

        for table in data.erp.values():
            table.observer = observe

    def base_of(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def notify(response: Response, changes: ErpChanges) -> Response:
        message = erp_message(changes.committed(data.erp), data.company["id"], ctx.clock(),
                              webhook_secret, webhook_client_state)
        if message is not None and webhook_url:
            response.background = BackgroundTask(deliver, webhook_url, [message],
                                                 webhook_transport)
        return response

    async def batch(request: Request) -> Response:
        try:
            document = parse_json(await request.body())
        except BadRequest as exc:
            return erp_error(400, "BadRequest", str(exc)).response()
        headers = {k.lower(): v for k, v in request.headers.items()}
        changes = ErpChanges()
        token = pending.set(changes)
        try:
            result = await api.batch(document, headers, base_of(request))
        finally:
            pending.reset(token)
        return notify(result.response(), changes)

    async def resource(request: Request) -> Response:
        rest = request.path_params["rest"]
        headers = {k.lower(): v for k, v in request.headers.items()}
        body = await request.body()
        changes = ErpChanges()
        token = pending.set(changes)
        try:
            result = await api.dispatch(request.method, rest, dict(request.query_params),
                                        headers, body, base_of(request))
        finally:
            pending.reset(token)
        return notify(result.response(), changes)

    routes = [*control_routes(state),
              Route(f"{API}/$batch", batch, methods=["POST"]),
              Route(API + "/{rest:path}", resource,
                    methods=["GET", "POST", "PATCH", "DELETE", "PUT"])]
    app = Starlette(routes=routes)
    app.state.sandbox = state
    app.add_middleware(SandboxMiddleware, state=state, template_for=erp_template)
    return app
