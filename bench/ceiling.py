"""In-run baselines: what any graphql-core server, and any server at all, could do here.

`create_app()` (uvicorn factory; data file in `RETAILGRAPH_BENCH_CEILING_DATA`) serves:

- `POST /graphql-core`: the request's document executed by bare graphql-core against the
  exported schema (`schema.graphql`) over the records already in memory, as plain dicts in
  the response's shape, read by graphql-core's default resolvers. No upstreams, no loaders,
  no strawberry, no auth, no extensions. Parsing and validation are cached per document
  text (as our graph caches them), the result is encoded with orjson: the strictest
  ceiling a graphql-core server on this machine could reach with these records.
- `POST /bytes`: the same response bytes the graph produced for that customer, looked up
  by the request's variables: the ceiling of the HTTP stack itself (uvicorn + Starlette).

The process runs under the graph's garbage-collector policy (graph/collector.py), applied
once the records are loaded, as the graph applies it once started: a process-level setting
any server here could use, so it is no part of the gap between them.

The data file maps customer numbers to the graph's own response (`{"data": …}`) for the
benchmark's document, captured from the graph under test at the start of the run.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    build_schema,
    execute,
    parse,
    specified_rules,
    validate,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from graph.collector import tune_collector
from graph.settings import Settings

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"
DATA_VARIABLE = "RETAILGRAPH_BENCH_CEILING_DATA"


class Ceiling:
    """The records in memory, the schema, and the cached parse + validate of each document."""

    def __init__(self, responses: Mapping[str, dict[str, Any]], schema_sdl: str) -> None:
        self.schema: GraphQLSchema = build_schema(schema_sdl)
        self.customers = {number: body["data"]["customer"] for number, body in responses.items()}
        self.bytes = {number: orjson.dumps(body) for number, body in responses.items()}
        self._documents: dict[str, DocumentNode | list[GraphQLError]] = {}

    def document(self, query: str) -> DocumentNode | list[GraphQLError]:
        """Parsed and validated once per document text."""
        found = self._documents.get(query)
        if found is None:
            try:
                document = parse(query)
            except GraphQLError as error:
                found = [error]
            else:
                errors = validate(self.schema, document, specified_rules)
                found = errors or document
            self._documents[query] = found
        return found

    def run(self, query: str, variables: dict[str, Any] | None) -> dict[str, Any]:
        """Execute over the in-memory records: `customer(number:)` is a dict lookup."""
        document = self.document(query)
        if isinstance(document, list):
            return {"errors": [error.formatted for error in document]}
        root = {"customer": self.customers.get(str((variables or {}).get("number")))}
        result = execute(self.schema, document, root_value=root, variable_values=variables)
        if not isinstance(result, ExecutionResult):
            raise TypeError("resolvers here are synchronous")
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [error.formatted for error in result.errors]
        return body


def create_app() -> Starlette:
    """The baseline server, reading its records from the file named in the environment."""
    responses = orjson.loads(Path(os.environ[DATA_VARIABLE]).read_bytes())
    ceiling = Ceiling(responses, SCHEMA_FILE.read_text())
    settings = Settings.from_env()  # RETAILGRAPH_GC_*, as the graph's
    tune_collector(freeze=settings.gc_freeze, threshold=settings.gc_threshold)

    async def graphql_core(request: Request) -> Response:
        payload = orjson.loads(await request.body())
        body = ceiling.run(payload["query"], payload.get("variables"))
        return Response(orjson.dumps(body), media_type="application/json")

    async def same_bytes(request: Request) -> Response:
        payload = orjson.loads(await request.body())
        number = str((payload.get("variables") or {}).get("number"))
        return Response(ceiling.bytes[number], media_type="application/json")

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[
        Route("/graphql-core", graphql_core, methods=["POST"]),
        Route("/bytes", same_bytes, methods=["POST"]),
        Route("/healthz", healthz),
    ])
