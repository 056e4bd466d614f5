"""The OData query-option engine: filter semantics, ordering and option parsing."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from sandbox.odata import (
    MAX_FILTER_LENGTH,
    ODataError,
    apply_orderby,
    parse_filter,
    parse_orderby,
    parse_query,
)

FIELDS = {"number", "displayName", "total", "orderDate", "lastModifiedDateTime", "blocked",
          "id", "status", "note"}
ROWS: list[dict[str, Any]] = [
    {"number": "SO-1", "displayName": "Ada Lovelace", "total": Decimal("120.00"),
     "orderDate": "2026-01-05", "lastModifiedDateTime": "2026-01-05T10:00:00Z",
     "blocked": False, "id": "0f8fad5b-d9cb-469f-a165-70867728950e", "status": "Open",
     "note": None},
    {"number": "SO-2", "displayName": "Grace Hopper", "total": Decimal("80.50"),
     "orderDate": "2026-02-01", "lastModifiedDateTime": "2026-02-01T09:30:00Z",
     "blocked": True, "id": "7c9e6679-7425-40de-944b-e07fc1f90ae7", "status": "Draft",
     "note": "rush"},
    {"number": "SO-3", "displayName": "O'Brien Ltd", "total": Decimal("80.50"),
     "orderDate": "2026-02-10", "lastModifiedDateTime": "2026-02-10T16:45:00Z",
     "blocked": False, "id": "a3bb189e-8bf9-3888-9912-ace4e6543002", "status": "Open",
     "note": None},
]


def matching(expression: str) -> list[str]:
    predicate = parse_filter(expression, FIELDS).predicate
    return [row["number"] for row in ROWS if predicate(row)]


@pytest.mark.parametrize(("expression", "expected"), [
    ("number eq 'SO-2'", ["SO-2"]),
    ("number ne 'SO-2'", ["SO-1", "SO-3"]),
    ("total gt 80.5", ["SO-1"]),
    ("total ge 80.5", ["SO-1", "SO-2", "SO-3"]),
    ("total lt 100", ["SO-2", "SO-3"]),
    ("total le 80.49", []),
    ("orderDate ge 2026-02-01", ["SO-2", "SO-3"]),
    ("lastModifiedDateTime lt 2026-02-01T10:00:00Z", ["SO-1", "SO-2"]),
    ("blocked eq true", ["SO-2"]),
    ("note eq null", ["SO-1", "SO-3"]),
    ("note ne null", ["SO-2"]),
    ("id eq 7c9e6679-7425-40de-944b-e07fc1f90ae7", ["SO-2"]),
    ("displayName eq 'O''Brien Ltd'", ["SO-3"]),
    ("100 gt total", ["SO-2", "SO-3"]),
])
def test_comparisons(expression: str, expected: list[str]) -> None:
    assert matching(expression) == expected


def test_and_binds_tighter_than_or() -> None:
    assert matching("number eq 'SO-1' or number eq 'SO-2' and status eq 'Open'") == ["SO-1"]
    assert matching("(number eq 'SO-1' or number eq 'SO-2') and status eq 'Open'") == ["SO-1"]
    assert matching("(number eq 'SO-1' or number eq 'SO-2') and status eq 'Draft'") == ["SO-2"]


def test_or_chains_select_each_key_and_expose_index_keys() -> None:
    expression = " or ".join(f"number eq 'SO-{n}'" for n in (3, 1, 9))
    assert matching(expression) == ["SO-1", "SO-3"]
    assert parse_filter(expression, FIELDS).keys == {"number": {"SO-1", "SO-3", "SO-9"}}
    mixed = parse_filter("number eq 'SO-1' or total gt 1", FIELDS)
    assert mixed.keys is None  # not servable from an index: every row must be checked


def test_in_is_silently_ignored_like_the_real_product() -> None:
    assert matching("number in ('SO-1','SO-2')") == ["SO-1", "SO-2", "SO-3"]
    assert matching("number in ('SO-9') and status eq 'Open'") == ["SO-1", "SO-3"]
    assert parse_filter("number in ('SO-1')", FIELDS).keys is None


def test_string_functions_are_case_insensitive() -> None:
    assert matching("contains(displayName,'LOVE')") == ["SO-1"]
    assert matching("startswith(displayName,'g')") == ["SO-2"]
    assert matching("endswith(displayName, 'ltd')") == ["SO-3"]
    assert matching("not contains(displayName,'a')") == ["SO-3"]


def test_string_equality_is_exact() -> None:
    assert matching("number eq 'so-1'") == []


@pytest.mark.parametrize("expression", [
    "number eq", "number eq 'SO-1' and", "(number eq 'SO-1'", "number like 'SO'",
    "unknownField eq 1", "number eq 'unterminated", "contains(number, 5)", "number eq 'a' )",
    "", "salesOrderLines/any(l: l/quantity gt 1)",
])
def test_malformed_filters_are_refused(expression: str) -> None:
    with pytest.raises(ODataError):
        parse_filter(expression, FIELDS)


def test_type_mismatch_is_refused_when_evaluated() -> None:
    predicate = parse_filter("number eq 5", FIELDS).predicate
    with pytest.raises(ODataError):
        predicate(ROWS[0])


def test_filter_length_limit() -> None:
    clause = "number eq 'SO-100001'"
    long_chain = " or ".join([clause] * (MAX_FILTER_LENGTH // len(clause) + 1))
    with pytest.raises(ODataError, match="longer than 2048"):
        parse_filter(long_chain, FIELDS)
    fitting = " or ".join([clause] * (MAX_FILTER_LENGTH // (len(clause) + 4)))
    assert len(fitting) <= MAX_FILTER_LENGTH
    assert parse_filter(fitting, FIELDS).keys == {"number": {"SO-100001"}}


def test_orderby_sorts_by_several_keys_stably() -> None:
    spec = parse_orderby("total desc, number", FIELDS)
    assert [r["number"] for r in apply_orderby(ROWS, spec)] == ["SO-1", "SO-2", "SO-3"]
    spec = parse_orderby("total asc,number desc", FIELDS)
    assert [r["number"] for r in apply_orderby(ROWS, spec)] == ["SO-3", "SO-2", "SO-1"]
    nulls = apply_orderby(ROWS, parse_orderby("note", FIELDS))
    assert [r["number"] for r in nulls] == ["SO-1", "SO-3", "SO-2"]


def test_parse_query_reads_every_option() -> None:
    options = parse_query({"$filter": "status eq 'Open'", "$select": "number,total",
                           "$orderby": "number desc", "$top": "5", "$skip": "2",
                           "$count": "true", "$expand": "salesOrderLines"}, FIELDS,
                          ("salesOrderLines",))
    assert options.select == ["number", "total"]
    assert options.orderby == [("number", True)]
    assert (options.top, options.skip, options.count) == (5, 2, True)
    assert options.expand == ["salesOrderLines"]


@pytest.mark.parametrize("params", [
    {"$select": "number,nope"}, {"$top": "-1"}, {"$top": "ten"}, {"$orderby": "number sideways"},
    {"$expand": "salesInvoiceLines"}, {"$apply": "groupby((status))"}, {"$count": "maybe"},
])
def test_parse_query_refuses_bad_options(params: dict[str, str]) -> None:
    with pytest.raises(ODataError):
        parse_query(params, FIELDS, ("salesOrderLines",))
