"""ErpClient against the real Business Central-shaped sandbox: data, statuses, call counts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest

from sandbox.seed import FIXTURES
from sources import Sources, SourceUnavailable
from sources.deadline import request_scope
from sources.records import FinancialStatus, OrderStatus, ReturnStatus
from sources.statuses import financial_status

ADA = FIXTURES["customer"]
BATCH = "POST /api/v2.0/$batch"


def dec(value: Any) -> Decimal:
    return Decimal(str(value))


async def rows(raw: Callable[[str], httpx.AsyncClient], entity_set: str, **options: str) -> list:
    """Every row of an ERP entity set, read raw (following nextLink)."""
    client = raw("erp")
    company = (await client.get("/api/v2.0/companies")).json()["value"][0]["id"]
    url: str | None = f"/api/v2.0/companies({company})/{entity_set}"
    params: dict[str, str] | None = {**options}
    found: list = []
    while url:
        body = (await client.get(url, params=params)).json()
        found.extend(body["value"])
        url, params = body.get("@odata.nextLink"), None
    return found


def batch_urls(recorder: Any) -> list[str]:
    """The inner request URLs of every $batch the client sent."""
    urls = []
    for request in recorder.requests:
        if request.url.path.endswith("$batch"):
            urls += [r["url"] for r in orjson.loads(request.content)["requests"]]
    return urls


def filters(recorder: Any) -> list[str]:
    """Every $filter the client sent, direct or inside a $batch."""
    found = []
    direct = [str(r.url) for r in recorder.requests if r.method == "GET"]
    for url in direct + batch_urls(recorder):
        found += parse_qs(urlsplit(url).query).get("$filter", [])
    return found


async def test_customer_by_number_matches_the_erp(
    sources: Sources, raw: Any, upstream_stats: Any
) -> None:
    (expected,) = await rows(raw, "customers", **{"$filter": f"number eq '{ADA}'"})
    await upstream_stats("erp", reset=True)
    found = await sources.erp.customers_by_numbers([ADA, "C-99999"])
    assert list(found) == [ADA]
    ada = found[ADA]
    assert ada.name == "Ada Lovelace" and ada.email == FIXTURES["customer_email"]
    assert ada.balance.amount == dec(expected["balanceDue"])
    assert ada.credit_limit.amount == dec(expected["creditLimit"])
    assert ada.erp_id == expected["id"]
    # one lookup of the company, then one read of the customers
    assert sources.erp.stats.calls == 2
    stats = await upstream_stats("erp")
    assert stats["requests"] == 2
    await sources.erp.customers_by_numbers([ADA])
    assert sources.erp.stats.calls == 2


async def test_company_is_looked_up_once(sources: Sources) -> None:
    first, second = await asyncio.gather(sources.erp.company_id(), sources.erp.company_id())
    await sources.erp.customers_by_numbers([ADA])
    assert first == second
    assert sources.erp.stats.by_route["GET companies"] == 1


async def test_customer_by_email_is_keyed_lowercase_and_primes_by_number(sources: Sources) -> None:
    found = await sources.erp.customers_by_emails(["Ada.Lovelace@Example.com"])
    assert found["ada.lovelace@example.com"].number == ADA
    calls = sources.erp.stats.calls
    await sources.erp.customers_by_numbers([ADA])
    assert sources.erp.stats.calls == calls


async def test_search_customers_pages_with_top_and_skip(sources: Sources) -> None:
    assert [c.number for c in await sources.erp.search_customers("lovelace", 10, 0)] == [ADA]
    first = await sources.erp.search_customers("", 5, 0)
    second = await sources.erp.search_customers("", 5, 5)
    assert len(first) == len(second) == 5
    assert [c.number for c in first + second] == sorted(c.number for c in first + second)
    assert not {c.number for c in first} & {c.number for c in second}


async def test_orders_for_ada_are_one_batch_with_archived_orders_rebuilt(
    sources: Sources, raw: Any, upstream_stats: Any, recorders: Any
) -> None:
    live = {
        o["number"]: o
        for o in await rows(raw, "salesOrders", **{"$filter": f"customerNumber eq '{ADA}'"})
    }
    invoices = await rows(raw, "salesInvoices", **{"$filter": f"customerNumber eq '{ADA}'"})
    await sources.erp.company_id()
    await upstream_stats("erp", reset=True)

    orders = (await sources.erp.orders_by_customer_numbers([ADA]))[ADA]

    assert sources.erp.stats.by_route == {"GET companies": 1, "POST $batch": 1}
    stats = await upstream_stats("erp")
    assert stats["by_route"][BATCH] == 1
    assert len(orders) >= 12
    assert [o.placed_at for o in orders] == sorted((o.placed_at for o in orders), reverse=True)
    assert {o.number for o in orders} == set(live) | {i["orderNumber"] for i in invoices}
    for order in orders:
        if order.number in live:
            assert not order.archived
            assert order.total.amount == dec(live[order.number]["totalAmountIncludingTax"])
            assert order.etag == live[order.number]["@odata.etag"]
        else:
            mine = [
                i
                for i in invoices
                if i["orderNumber"] == order.number and i["status"] != "Canceled"
            ]
            mine = mine or [i for i in invoices if i["orderNumber"] == order.number]
            assert order.archived
            assert order.total.amount == sum(dec(i["totalAmountIncludingTax"]) for i in mine)
            assert order.status in (OrderStatus.COMPLETED, OrderStatus.CANCELLED)
    by_number = {o.number: o for o in orders}
    assert by_number[FIXTURES["open_order"]].status is OrderStatus.OPEN
    assert by_number[FIXTURES["partially_shipped_order"]].status is OrderStatus.PARTIALLY_FULFILLED
    assert by_number[FIXTURES["cancelled_order"]].status is OrderStatus.CANCELLED
    # the same batch primed the per-order caches: no further upstream call
    calls = sources.erp.stats.calls
    await sources.erp.orders_by_numbers([FIXTURES["delivered_order"]])
    await sources.erp.invoices_by_order_numbers([FIXTURES["delivered_order"]])
    assert sources.erp.stats.calls == calls


async def test_150_orders_by_number_are_one_http_call_and_then_none(
    sources: Sources, raw: Any, upstream_stats: Any, recorders: Any
) -> None:
    live = [o["number"] for o in await rows(raw, "salesOrders", **{"$select": "number"})]
    archived = sorted(
        {i["orderNumber"] for i in await rows(raw, "salesInvoices", **{"$select": "orderNumber"})}
        - set(live)
    )
    numbers = live[:75] + archived[: 150 - len(live[:75])]
    assert len(set(numbers)) == 150 and len(live) > 10
    await sources.erp.company_id()
    await upstream_stats("erp", reset=True)

    found = await sources.erp.orders_by_numbers(numbers)

    assert set(found) == set(numbers)
    assert sum(1 for o in found.values() if o.archived) == 150 - len(live[:75])
    assert sources.erp.stats.by_route["POST $batch"] == 1
    stats = await upstream_stats("erp")
    assert stats["by_route"][BATCH] == 1
    sent = filters(recorders["erp"])
    assert len(sent) > 2  # several or-chains, no `in (...)`, each under the limit
    assert all(len(f) <= 2048 and " in " not in f for f in sent)

    again = await sources.erp.orders_by_numbers(list(reversed(numbers)))
    assert again == found
    assert sources.erp.stats.by_route["POST $batch"] == 1


async def test_a_later_batch_only_asks_for_what_is_not_cached(
    sources: Sources, recorders: Any
) -> None:
    a, b, c = FIXTURES["open_order"], FIXTURES["delivered_order"], FIXTURES["expired_order"]
    await sources.erp.orders_by_numbers([a])
    recorders["erp"].requests.clear()
    found = await sources.erp.orders_by_numbers([a, b, c])
    assert set(found) == {a, b, c}
    asked = " ".join(filters(recorders["erp"]))
    assert b in asked and c in asked and a not in asked


async def test_twenty_concurrent_identical_reads_make_one_call(sources: Sources) -> None:
    await sources.erp.company_id()
    numbers = [FIXTURES["open_order"], FIXTURES["refunded_order"]]
    results = await asyncio.gather(*(sources.erp.orders_by_numbers(numbers) for _ in range(20)))
    assert all(r == results[0] for r in results)
    assert sources.erp.stats.by_route["POST $batch"] == 1
    assert sources.erp.joins >= 19


async def test_ttl_expiry_and_invalidation_ask_again(sources: Sources, clock: Any) -> None:
    number = FIXTURES["open_order"]
    await sources.erp.orders_by_numbers([number])
    calls = sources.erp.stats.calls
    clock.now += 30
    await sources.erp.orders_by_numbers([number])
    assert sources.erp.stats.calls == calls
    clock.now += 31
    await sources.erp.orders_by_numbers([number])
    assert sources.erp.stats.calls == calls + 1
    sources.erp.invalidate("order", [number])
    await sources.erp.orders_by_numbers([number])
    assert sources.erp.stats.calls == calls + 2
    value, age = sources.erp.cache("order").get_stale(number)
    assert value.number == number and age == 0


async def test_money_states_from_invoices_and_credit_memos(sources: Sources, raw: Any) -> None:
    numbers = [
        FIXTURES[k]
        for k in (
            "partially_refunded_order",
            "refunded_order",
            "partially_paid_order",
            "delivered_order",
            "open_order",
            "cancelled_order",
        )
    ]
    orders = await sources.erp.orders_by_numbers(numbers)
    invoices = await sources.erp.invoices_by_order_numbers(numbers)
    invoice_numbers = [i.number for group in invoices.values() for i in group]
    memos = await sources.erp.credit_memos_by_invoice_numbers(invoice_numbers)

    def money_state(key: str) -> FinancialStatus:
        number = FIXTURES[key]
        mine = invoices[number]
        return financial_status(orders[number], mine, [m for i in mine for m in memos[i.number]])

    assert money_state("partially_refunded_order") is FinancialStatus.PARTIALLY_REFUNDED
    assert money_state("refunded_order") is FinancialStatus.REFUNDED
    assert money_state("partially_paid_order") is FinancialStatus.PARTIALLY_PAID
    assert money_state("delivered_order") is FinancialStatus.PAID
    assert money_state("open_order") is FinancialStatus.PENDING
    assert money_state("cancelled_order") is FinancialStatus.VOIDED
    # figures equal the ERP's own
    raw_invoices = {
        i["number"]: i
        for i in await rows(raw, "salesInvoices", **{"$filter": f"customerNumber eq '{ADA}'"})
    }
    for invoice in (i for group in invoices.values() for i in group):
        assert invoice.total.amount == dec(raw_invoices[invoice.number]["totalAmountIncludingTax"])
        assert invoice.balance.amount == dec(raw_invoices[invoice.number]["remainingAmount"])


async def test_returns_with_their_credit_memos(sources: Sources, raw: Any) -> None:
    raw_returns = await rows(raw, "salesReturnOrders", **{"$filter": f"customerNumber eq '{ADA}'"})
    assert raw_returns
    by_customer = (await sources.erp.returns_by_customer_numbers([ADA]))[ADA]
    assert {r.rma_number for r in by_customer} == {r["number"] for r in raw_returns}
    rmas = [r.rma_number for r in by_customer]
    by_number = await sources.erp.returns_by_numbers(rmas)
    orders = sorted({r.order_number for r in by_customer})
    sources.erp.invalidate("credit_memos_by_return")
    by_order = await sources.erp.returns_by_order_numbers(orders)
    flat = {r.rma_number: r for group in by_order.values() for r in group}
    memos = await sources.erp.credit_memos_by_return_numbers(rmas)
    for rma in by_customer:
        assert by_number[rma.rma_number] == rma == flat[rma.rma_number]
        posted = [m for m in memos[rma.rma_number] if m.status.value in ("POSTED", "PAID")]
        if posted and rma.source_status not in ("Canceled", "Rejected"):
            assert rma.status is ReturnStatus.COMPLETED
        assert all(m.return_number == rma.rma_number for m in memos[rma.rma_number])
        assert rma.lines and all(line.order_line_number for line in rma.lines)


async def test_many_products_are_one_batch(sources: Sources, raw: Any) -> None:
    items = await rows(raw, "items", **{"$select": "number,unitPrice"})
    skus = [i["number"] for i in items][:300]
    await sources.erp.company_id()
    found = await sources.erp.products_by_skus(skus)
    assert set(found) == set(skus)
    assert sources.erp.stats.by_route == {"GET companies": 1, "POST $batch": 1}
    assert all(found[i["number"]].unit_price.amount == dec(i["unitPrice"]) for i in items[:300])


async def test_recent_orders_newest_first_and_paged(sources: Sources) -> None:
    first = await sources.erp.recent_orders(10, 0)
    second = await sources.erp.recent_orders(10, 10)
    both = first + second
    assert len(both) == 20 and len({o.number for o in both}) == 20
    assert [o.placed_at for o in both] == sorted((o.placed_at for o in both), reverse=True)
    assert not any(o.archived for o in both)


async def test_next_links_are_followed(apps: Any, recorders: Any) -> None:
    from sources.config import SourceConfig
    from sources.erp import ErpClient

    config = SourceConfig(name="erp", base_url="http://erp", page_size=20)
    async with ErpClient(config, recorders["erp"]) as erp:
        found = await erp.search_customers("", 50, 0)
        assert len(found) == 50 and len({c.number for c in found}) == 50
        assert erp.stats.by_route["GET customers"] == 3


async def test_outage_is_source_unavailable_and_stale_copy_remains(
    sources: Sources, raw: Any, clock: Any
) -> None:
    number = FIXTURES["open_order"]
    await sources.erp.orders_by_numbers([number])
    (await raw("erp").put("/_sandbox/faults", json={"outage": True})).raise_for_status()
    clock.now += 120
    with pytest.raises(SourceUnavailable) as caught:
        await sources.erp.orders_by_numbers([number])
    assert caught.value.source == "erp" and caught.value.status == 503
    stale, age = sources.erp.cache("order").get_stale(number)
    assert stale.number == number and age == pytest.approx(120)


async def test_next_links_inside_a_batch_are_followed(sources: Sources, recorders: Any) -> None:
    from sources.config import SourceConfig
    from sources.erp import ErpClient

    expected = (await sources.erp.orders_by_customer_numbers([ADA]))[ADA]
    config = SourceConfig(name="erp", base_url="http://erp", page_size=2)
    async with ErpClient(config, recorders["erp"]) as erp:
        paged = (await erp.orders_by_customer_numbers([ADA]))[ADA]
        # the first round is one $batch; later pages follow each query's nextLink
        assert erp.stats.by_route["POST $batch"] == 1
        assert erp.stats.by_route["GET salesInvoices"] >= 5
    assert paged == expected


async def test_a_customers_documents_answer_each_orders_returns_and_each_invoices_memos(
    sources: Sources, recorders: dict[str, Any]
) -> None:
    await sources.erp.company_id()
    recorders["erp"].requests.clear()
    orders, returns = await asyncio.gather(
        sources.erp.orders_by_customer_numbers([ADA]), sources.erp.returns_by_customer_numbers([ADA])
    )
    assert len(recorders["erp"].requests) == 1  # one $batch, shared by both reads
    numbers = [o.number for o in orders[ADA]]
    invoices = await sources.erp.invoices_by_order_numbers(numbers)
    invoice_numbers = [i.number for group in invoices.values() for i in group]
    by_order = await sources.erp.returns_by_order_numbers(numbers)
    by_invoice = await sources.erp.credit_memos_by_invoice_numbers(invoice_numbers)
    assert len(recorders["erp"].requests) == 1  # all answered by what the first read primed
    assert {r.rma_number for group in by_order.values() for r in group} == {
        r.rma_number for r in returns[ADA]
    }
    assert any(by_invoice.values())
    # ...and they equal what the ERP answers when asked by order and by invoice directly.
    for kind in ("returns_by_order", "credit_memos_by_invoice", "credit_memos_by_return"):
        sources.erp.invalidate(kind)
    assert await sources.erp.returns_by_order_numbers(numbers) == by_order
    assert await sources.erp.credit_memos_by_invoice_numbers(invoice_numbers) == by_invoice
    assert len(recorders["erp"].requests) > 1


async def test_a_customers_orders_are_heard_the_moment_they_are_decoded(sources: Sources) -> None:
    """A listener of the request scope gets the orders before the read has returned them
    (the lookahead starts the next level from there) and before its returns are decoded."""
    await sources.erp.company_id()
    heard: list[tuple[str, ...]] = []
    read: asyncio.Future[Any] | None = None

    def listener(orders: Any) -> None:
        assert read is not None and not read.done()
        heard.append(tuple(order.number for order in orders))

    with request_scope(5.0) as scope:
        scope.on_decoded("erp", "orders_by_customer", ADA, listener)
        scope.on_decoded("erp", "orders_by_customer", "C-NOBODY", listener)  # no orders: never
        read = asyncio.ensure_future(sources.erp.orders_by_customer_numbers([ADA, "C-NOBODY"]))
        orders = (await read)[ADA]
    assert heard == [tuple(order.number for order in orders)]
    assert ("erp", "orders_by_customer", ADA) not in scope.listeners  # heard once, then dropped
