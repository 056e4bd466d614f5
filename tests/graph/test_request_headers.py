"""graph/request_headers.py: one parse per request, shared by the middlewares."""

from __future__ import annotations

from graph.request_headers import request_headers


def test_headers_are_parsed_once_per_request_by_lowercase_name() -> None:
    scope = {"type": "http", "headers": [(b"Accept", b"text/html"), (b"X-Request-Id", b"a"), (b"x-request-id", b"b")]}
    found = request_headers(scope)
    assert found == {"accept": "text/html", "x-request-id": "b"}  # the last value wins
    scope["headers"] = []
    assert request_headers(scope) is found  # the same dict for the rest of the request
    assert request_headers({"type": "http", "headers": []}) == {}  # another request, its own
