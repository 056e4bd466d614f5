"""Errors carry contract codes: upstream failures on their fields only, bad input, masked bugs."""

from __future__ import annotations

import logging

import pytest
from fake_sources import FakeSources, build_dataset, codes, execute
from graphql import GraphQLError

from graph.errors import INTERNAL_MESSAGE, BadUserInput, error_code, format_error
from resolvers import orders as order_resolvers
from sources.errors import SourceConflict, SourceTimeout, SourceUnavailable

CUSTOMER_360 = """
{ customer(number: "C-1") { name loyalty { tier }
  orders(first: 5) { nodes {
    number total { amount } fulfillmentStatus shipments { status } cases { number } } } } }
"""


def located(original: Exception, path: list[str | int] | None = None) -> GraphQLError:
    return GraphQLError(str(original), path=path or ["customer"], original_error=original)


def test_source_errors_become_source_unavailable_with_the_source_and_no_upstream_detail() -> None:
    error = format_error(located(SourceUnavailable("wms", "HTTP 503 ServiceUnavailable: boom")))
    assert error.extensions == {"code": "SOURCE_UNAVAILABLE", "source": "wms"}
    assert "503" not in error.message and "WMS" in error.message
    assert error.path == ["customer"]


def test_timeouts_and_rejections_are_source_unavailable_too() -> None:
    timeout = format_error(located(SourceTimeout("erp", "deadline")))
    assert timeout.extensions == {"code": "SOURCE_UNAVAILABLE", "source": "erp"}
    assert "in time" in timeout.message
    conflict = format_error(located(SourceConflict("servicedesk", "HTTP 409", status=409)))
    assert conflict.extensions == {"code": "SOURCE_UNAVAILABLE", "source": "servicedesk"}


def test_unexpected_errors_are_internal_and_masked() -> None:
    error = format_error(located(KeyError("secret-internal-detail")))
    assert error.extensions == {"code": "INTERNAL"}
    assert error.message == INTERNAL_MESSAGE
    assert error.original_error is None


def test_codes_already_set_are_kept() -> None:
    error = GraphQLError("nope", path=["x"], extensions={"code": "FORBIDDEN"})
    assert format_error(error).extensions == {"code": "FORBIDDEN"}


def test_bad_input_and_document_errors_are_bad_user_input() -> None:
    assert error_code(located(BadUserInput("first must be …"))) == "BAD_USER_INPUT"
    assert error_code(GraphQLError("Cannot query field 'x' on type 'Query'.")) == "BAD_USER_INPUT"


async def test_a_failed_upstream_errors_only_the_fields_that_needed_it() -> None:
    fake = FakeSources(build_dataset(orders_per_customer=3))
    fake.fail("wms.shipments_by_order_numbers")
    result = await execute(fake, CUSTOMER_360)
    orders = result.data["customer"]["orders"]["nodes"]
    assert result.data["customer"]["loyalty"] == {"tier": "gold"}
    assert [o["total"]["amount"] for o in orders] == ["45.00"] * 3
    assert [o["shipments"] for o in orders] == [None, None, None]
    assert [o["cases"] for o in orders] == [[{"number": "501"}], [], []]
    assert sorted(codes(result)) == sorted(
        [
            (f"customer.orders.nodes.{i}.{f}", "SOURCE_UNAVAILABLE")
            for i in range(3)
            for f in ("fulfillmentStatus", "shipments")
        ]
    )
    assert {e.extensions["source"] for e in result.errors} == {"wms"}
    # the failed batch was one call, not one per order
    assert fake.calls["wms.shipments_by_order_numbers"] == 1


async def test_a_failed_nullable_branch_keeps_its_siblings() -> None:
    fake = FakeSources(build_dataset())
    fake.fail("servicedesk.profiles_by_customer_numbers")
    result = await execute(fake, '{ customer(number: "C-1") { name loyalty { tier } } }')
    assert result.data == {"customer": {"name": "Customer 1", "loyalty": None}}
    assert codes(result) == [("customer.loyalty", "SOURCE_UNAVAILABLE")]


async def test_a_bug_in_a_resolver_is_masked_and_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: object) -> object:
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(order_resolvers, "resolve_order", broken)
    with caplog.at_level(logging.ERROR, logger="retailgraph.graph.errors"):
        result = await execute(
            FakeSources(build_dataset()), '{ order(number: "SO-10001") { number } }'
        )
    assert codes(result) == [("order", "INTERNAL")]
    assert result.errors[0].message == INTERNAL_MESSAGE
    assert "hunter2" not in str(result.errors[0].formatted)
    assert "hunter2" in caplog.text


async def test_invalid_documents_are_bad_user_input() -> None:
    result = await execute(FakeSources(build_dataset()), "{ customer(number: 1) { nope } }")
    assert result.data is None
    assert {code for _, code in codes(result)} == {"BAD_USER_INPUT"}


async def test_not_found_is_null_without_errors() -> None:
    result = await execute(
        FakeSources(build_dataset()),
        '{ customer(number: "C-404") { name } order(number: "SO-0") { number } '
        'product(sku: "NOPE") { sku } }',
    )
    assert result.errors is None
    assert result.data == {"customer": None, "order": None, "product": None}
