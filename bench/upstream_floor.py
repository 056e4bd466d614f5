"""In-run baseline: the least time any server answering a cold customer-360 here can take.

`create_app()` (uvicorn factory; the sandbox in `RETAILGRAPH_ERP_URL`, `…_WMS_URL`,
`…_SERVICEDESK_URL`, as the graph reads them) serves `POST /upstream-floor`. It takes the
benchmark's 360 request (`variables.number`, `variables.first`) and makes exactly the six
upstream requests of a cold 360 in its two dependency levels (docs/benchmark.md, "The minimum
a customer-360 can cost upstream"), and nothing else:

- level 1, together: the ERP `$batch` of the customer and their orders, invoices and return
  orders (each with its lines) and credit memos; the service platform's user by external id;
- level 2, each the moment what it is keyed by arrives: the ERP items, WMS shipments and WMS
  stock of the `first` newest orders (live, or archived as invoices) and their lines' SKUs;
  the user's requested tickets.

No GraphQL, auth, cache, records or shaping: aiohttp (the client under the graph's default
transport) on keep-alive connections, orjson, and an answer of counts. The graph's cold 360
over the same sandbox at the same rate cannot be faster; its p50 over this one's is what the
graph adds to the wait for its upstreams.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

PREFER = {"Prefer": "odata.maxpagesize=1000"}
# The level-1 `$batch`: (entity, expanded lines or "") filtered by customerNumber (customers: number).
DOCUMENTS = (("customers", ""), ("salesOrders", "salesOrderLines"), ("salesInvoices", "salesInvoiceLines"),
             ("salesReturnOrders", "salesReturnOrderLines"), ("salesCreditMemos", ""))


def _equals(field: str, value: str) -> str:
    return quote(f"{field} eq '{value}'")


def newest_orders(orders: list[Mapping[str, Any]], invoices: list[Mapping[str, Any]],
                  first: int) -> list[tuple[str, list[str]]]:
    """(number, SKUs) of the `first` newest orders, as the graph pages a customer's orders:
    live ones, and archived ones rebuilt from their invoices (cancelled invoices left out
    unless all are), newest first."""
    found: dict[str, tuple[str, list[str]]] = {
        row["number"]: (row.get("orderDate") or "", _skus(row.get("salesOrderLines")))
        for row in orders
    }
    archived: dict[str, list[Mapping[str, Any]]] = {}
    for row in invoices:
        if row.get("orderNumber") and row["orderNumber"] not in found:
            archived.setdefault(row["orderNumber"], []).append(row)
    for number, rows in archived.items():
        used = [row for row in rows if row.get("status") != "Canceled"] or rows
        earliest = min(used, key=lambda row: (row.get("postingDate") or row.get("invoiceDate") or "~",
                                              row["number"]))
        found[number] = (earliest.get("orderDate") or earliest.get("invoiceDate") or "",
                         _skus(line for row in used for line in row.get("salesInvoiceLines") or ()))
    newest = sorted(found.items(), key=lambda item: (item[1][0], item[0]), reverse=True)[:first]
    return [(number, skus) for number, (_, skus) in newest]


def _skus(lines: Any) -> list[str]:
    numbers = (line.get("lineObjectNumber") for line in lines or ())
    return list(dict.fromkeys(number for number in numbers if number))


class UpstreamFloor:
    """One keep-alive session per upstream and the ERP company, read once (as the graph does)."""

    def __init__(self, urls: Mapping[str, str], token: str = "sandbox-token") -> None:
        self.urls = urls
        self.headers = {"Authorization": f"Bearer {token}"}
        self.sessions: dict[str, aiohttp.ClientSession] = {}
        self.company = ""

    async def start(self) -> None:
        for name, url in self.urls.items():
            self.sessions[name] = aiohttp.ClientSession(url, headers=self.headers)
        self.company = (await self._get("erp", "/api/v2.0/companies"))["value"][0]["id"]

    async def stop(self) -> None:
        for session in self.sessions.values():
            await session.close()

    async def _get(self, name: str, path: str) -> Any:
        async with self.sessions[name].get(path) as response:
            response.raise_for_status()
            return orjson.loads(await response.read())

    async def _erp_side(self, number: str, first: int) -> dict[str, int]:
        company = self.company
        requests = [
            {"id": str(index), "method": "GET", "headers": PREFER,
             "url": f"companies({company})/{entity}?$filter="
                    + _equals("number" if entity == "customers" else "customerNumber", number)
                    + (f"&$expand={lines}" if lines else "")}
            for index, (entity, lines) in enumerate(DOCUMENTS)
        ]
        async with self.sessions["erp"].post("/api/v2.0/$batch", data=orjson.dumps({"requests": requests}),
                                             headers={"Content-Type": "application/json"}) as response:
            response.raise_for_status()
            bodies = [item["body"] for item in orjson.loads(await response.read())["responses"]]
        page = newest_orders(bodies[1]["value"], bodies[2]["value"], first)
        skus = sorted({sku for _, order_skus in page for sku in order_skus})
        reads = []
        if page:
            numbers = ",".join(number for number, _ in page)
            reads.append(self._get("wms", f"/v1/shipments?order_numbers={numbers}&limit=1000"))
        if skus:
            chain = quote(" or ".join(f"number eq '{sku}'" for sku in skus))
            reads += [self._get("wms", f"/v1/inventory-levels?skus={','.join(skus)}&limit=1000"),
                      self._get("erp", f"/api/v2.0/companies({company})/items?$filter={chain}")]
        await asyncio.gather(*reads)
        return {"orders": len(page), "skus": len(skus), "requests": 1 + len(reads)}

    async def _service_side(self, number: str) -> dict[str, int]:
        path = f"/api/v2/users/show_many.json?external_ids={quote(number)}"
        users = (await self._get("servicedesk", path))["users"]
        if not users:
            return {"cases": 0, "requests": 1}
        tickets = await self._get("servicedesk",
                                  f"/api/v2/users/{users[0]['id']}/tickets/requested.json?page%5Bsize%5D=100")
        return {"cases": len(tickets["tickets"]), "requests": 2}

    async def answer(self, number: str, first: int) -> dict[str, int]:
        """The two levels for one customer; counts of what was read."""
        erp, service = await asyncio.gather(self._erp_side(number, first), self._service_side(number))
        return {**erp, "cases": service["cases"], "requests": erp["requests"] + service["requests"]}


def create_app() -> Starlette:
    """The floor endpoint over the sandbox the environment names."""
    urls = {name: os.environ[f"RETAILGRAPH_{name.upper()}_URL"] for name in ("erp", "wms", "servicedesk")}
    floor = UpstreamFloor(urls)

    async def endpoint(request: Request) -> Response:
        variables = orjson.loads(await request.body()).get("variables") or {}
        found = await floor.answer(str(variables["number"]), int(variables.get("first", 10)))
        return Response(orjson.dumps(found), media_type="application/json")

    async def health(request: Request) -> Response:
        return Response(b"ok")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await floor.start()
        yield
        await floor.stop()

    return Starlette(routes=[Route("/upstream-floor", endpoint, methods=["POST"]),
                             Route("/healthz", health)], lifespan=lifespan)
