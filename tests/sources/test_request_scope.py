"""The request scope's decode listeners: called once, `then` once per decode, failures logged."""

from __future__ import annotations

import logging

import pytest

from sources.deadline import RequestScope, request_scope


def test_listeners_hear_their_key_once_and_then_runs_once_per_decode() -> None:
    scope = RequestScope(expires_at=None)
    heard: list[tuple[str, object]] = []
    flushed: list[str] = []

    class Flusher:
        def flush(self) -> None:
            flushed.append("flush")

    flusher = Flusher()
    for key in ("C-1", "C-2"):
        scope.on_decoded("erp", "orders_by_customer", key,
                         lambda value, key=key: heard.append((key, value)), then=flusher.flush)
    scope.on_decoded("wms", "orders_by_customer", "C-1", lambda value: heard.append(("wms", value)))

    scope.decoded("erp", "orders_by_customer", {"C-1": "one", "C-2": "two", "C-3": "three"})
    scope.decoded("erp", "orders_by_customer", {"C-1": "again"})

    assert heard == [("C-1", "one"), ("C-2", "two")]  # the other source's listener waits on
    assert flushed == ["flush"]  # two listeners named the same bound method: one call
    assert list(scope.listeners) == [("wms", "orders_by_customer", "C-1")]


def test_a_failing_listener_is_logged_and_the_others_still_hear(caplog: pytest.LogCaptureFixture) -> None:
    scope = RequestScope(expires_at=None)
    heard: list[object] = []

    def broken(value: object) -> None:
        raise RuntimeError("lookahead bug")

    def broken_then() -> None:
        raise RuntimeError("flush bug")

    scope.on_decoded("erp", "orders_by_customer", "C-1", broken, then=broken_then)
    scope.on_decoded("erp", "orders_by_customer", "C-1", heard.append)
    with caplog.at_level(logging.ERROR, logger="sources.deadline"):
        scope.decoded("erp", "orders_by_customer", {"C-1": "one"})
    assert heard == ["one"]
    assert [r.exc_info[1].args[0] for r in caplog.records if r.exc_info] == ["lookahead bug", "flush bug"]


def test_listeners_not_heard_by_the_end_of_the_operation_are_let_go() -> None:
    with request_scope(5.0) as scope:
        scope.on_decoded("erp", "orders_by_customer", "C-1", lambda value: None)
        assert scope.listeners
    assert scope.listeners == {}  # a task that kept the operation's context keeps no loaders
