"""The ERP's request plumbing: company discovery, OData paging and JSON `$batch` packing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from .erp_coalesce import ErpCoalescer
from .http import HttpSource
from .odata import Query, absolute_path, chained_queries, relative_from_link

T = TypeVar("T")
BATCH_PATH = "/api/v2.0/$batch"
EXPAND = {
    "salesOrders": "salesOrderLines",
    "salesInvoices": "salesInvoiceLines",
    "salesReturnOrders": "salesReturnOrderLines",
}


class ErpQueries(HttpSource):
    """Business Central request mechanics shared by the ERP client's reads."""

    source = "erp"
    local_currency = "GBP"

    def __init__(self, *args: Any, company_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._company_id = company_id
        # Reads starting together share one $batch (sources/erp_coalesce.py); off: each
        # logical read is its own GET or $batch, as the benchmark's naive baseline wants.
        self.coalescer: ErpCoalescer | None = None
        if self.config.coalesce:
            self.coalescer = ErpCoalescer(
                self._get_one, self._batch_answers, self._inner_body, max_inner=self.config.max_batch
            )

    @property
    def _page_headers(self) -> dict[str, str]:
        # Big pages: fewer nextLink round trips for wide filters.
        return {"Prefer": f"odata.maxpagesize={self.config.page_size}"}

    async def company_id(self) -> str:
        """The id of the ERP's company, looked up once from `/companies` and kept."""
        if self._company_id is None:
            self._company_id = await self._shared("company_id", self._discover_company)
        return self._company_id

    async def _discover_company(self) -> str:
        body = await self._request_json("GET", "/api/v2.0/companies", route="GET companies")
        try:
            companies = body["value"]
            return str(companies[0]["id"])
        except (KeyError, IndexError, TypeError) as exc:
            raise self._malformed("company list", exc) from exc

    async def _rows_by(self, entity_set: str, field: str, values: Sequence[str]) -> list[Any]:
        """Every row of `entity_set` whose `field` equals one of `values` (lines expanded)."""
        (rows,) = await self._rows_by_many([(entity_set, field, values)])
        return rows

    async def _rows_by_many(
        self, reads: Sequence[tuple[str, str, Sequence[str]]]
    ) -> list[list[Any]]:
        """Several keyed reads as one logical read: rows per read, one $batch if needed."""
        queries: list[Query] = []
        spans: list[tuple[int, int]] = []
        for entity_set, field, values in reads:
            chunk = chained_queries(
                entity_set,
                field,
                values,
                self.config.max_filter_chars,
                expand=EXPAND.get(entity_set),
            )
            spans.append((len(queries), len(queries) + len(chunk)))
            queries.extend(chunk)
        rows = await self._collect(queries)
        return [[row for part in rows[start:end] for row in part] for start, end in spans]

    async def _collect(self, queries: Sequence[Query]) -> list[list[Any]]:
        """Rows of each query, following `@odata.nextLink` until every query is exhausted."""
        if not queries:
            return []
        company = await self.company_id()
        results: list[list[Any]] = [[] for _ in queries]
        pending = [(index, query.relative_url(company)) for index, query in enumerate(queries)]
        while pending:
            bodies = await self._get_many([url for _, url in pending])
            following: list[tuple[int, str]] = []
            for (index, _), body in zip(pending, bodies):
                if not isinstance(body, dict) or not isinstance(body.get("value"), list):
                    raise self._malformed("collection", TypeError("no 'value' list"))
                results[index].extend(body["value"])
                link = body.get("@odata.nextLink")
                if link:
                    following.append((index, relative_from_link(str(link))))
            pending = following
        return results

    async def _get_many(self, urls: Sequence[str]) -> list[Any]:
        """GET each `/api/v2.0/`-relative URL: alone when one, else in $batch(es) of max_batch."""
        if self.coalescer is not None:
            return await self.coalescer.get(urls)
        if len(urls) == 1:
            return [await self._get_one(urls[0])]
        size = max(1, min(self.config.max_batch, 100))
        chunks = [list(urls[i:i + size]) for i in range(0, len(urls), size)]
        answers = await asyncio.gather(*(self._batch(chunk) for chunk in chunks))
        return [body for answer in answers for body in answer]

    async def _get_one(self, url: str) -> Any:
        """One plain GET of an `/api/v2.0/`-relative URL."""
        entity = url.split("?")[0].rsplit("/", 1)[-1]
        return await self._request_json(
            "GET", absolute_path(url), headers=self._page_headers, route=f"GET {entity}"
        )

    async def _batch(self, urls: Sequence[str]) -> list[Any]:
        """One JSON `$batch` of GETs; any failed inner request fails the read."""
        return [self._inner_body(answer) for answer in await self._batch_answers(urls)]

    async def _batch_answers(self, urls: Sequence[str]) -> list[dict[str, Any]]:
        """One JSON `$batch` of GETs: the inner answers in URL order, failed ones included."""
        requests = [
            {"id": str(n), "method": "GET", "url": url, "headers": self._page_headers}
            for n, url in enumerate(urls)
        ]
        # Only GETs inside: safe to retry like any read.
        body = await self._request_json(
            "POST", BATCH_PATH, json={"requests": requests}, route="POST $batch", idempotent=True
        )
        try:
            responses = {str(r["id"]): r for r in body["responses"]}
            return [responses[str(n)] for n in range(len(urls))]
        except (KeyError, TypeError) as exc:
            raise self._malformed("$batch response", exc) from exc

    def _inner_body(self, answer: dict[str, Any]) -> Any:
        """The body of one inner `$batch` answer; its error status as a SourceError."""
        status = int(answer.get("status", 0))
        if status >= 400 or status < 200:
            raise self._status_error(status, answer.get("body"), answer.get("headers") or {})
        return answer.get("body")

    def _each(
        self, rows: Sequence[Any], translate: Callable[[Any, str], T], what: str
    ) -> list[T]:
        """Translate raw rows; a row without the documented shape is a malformed upstream."""
        out: list[T] = []
        for row in rows:
            try:
                out.append(translate(row, self.local_currency))
            except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
                raise self._malformed(what, exc) from exc
        return out
