"""OData building: `or` chains under the filter limit, never `in (...)`, and nextLink paths."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from sources.odata import Query, filter_length, literal, or_chains, relative_from_link


def test_literals_double_embedded_quotes() -> None:
    assert literal("O'Brien") == "'O''Brien'"


def test_chains_cover_every_value_once_and_stay_under_the_limit() -> None:
    numbers = [f"SO-{100000 + n}" for n in range(150)]
    chains = or_chains("number", numbers, 2048)
    assert len(chains) > 1
    assert all(filter_length(chain) <= 2048 for chain in chains)
    clauses = [c for chain in chains for c in chain.split(" or ")]
    assert clauses == [f"number eq '{n}'" for n in numbers]
    assert not any(" in " in chain for chain in chains)


def test_duplicates_are_asked_once() -> None:
    assert or_chains("number", ["A", "A", "B"], 2048) == ["number eq 'A' or number eq 'B'"]


def test_a_value_longer_than_the_limit_is_refused() -> None:
    with pytest.raises(ValueError):
        or_chains("email", ["x" * 3000], 2048)


def test_query_url_is_relative_to_the_api_root_and_round_trips() -> None:
    query = Query(
        "salesOrders",
        filter="number eq 'SO-1' or number eq 'SO-2'",
        expand="salesOrderLines",
        top=5,
    )
    url = query.relative_url("abc")
    assert url.startswith("companies(abc)/salesOrders?")
    options = parse_qs(urlsplit(url).query)
    assert options["$filter"] == ["number eq 'SO-1' or number eq 'SO-2'"]
    assert options["$expand"] == ["salesOrderLines"]
    assert options["$top"] == ["5"]


def test_next_link_becomes_relative_whatever_the_host() -> None:
    link = "http://erp.internal:8101/api/v2.0/companies(abc)/salesOrders?$skiptoken=100"
    assert relative_from_link(link) == "companies(abc)/salesOrders?$skiptoken=100"
