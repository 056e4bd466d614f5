"""Lookahead's selection walks are remembered per AST node, and only for that node."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from graphql import FieldNode, parse

import graph.types.common as common
from graph.types.common import selected_names, selection_tree

QUERY = "query { customer(number: $n) { number ...F orders { nodes { number } } } } " \
        "fragment F on Customer { name }"


def info_of(query: str) -> Any:
    document = parse(query)
    field = document.definitions[0].selection_set.selections[0]
    assert isinstance(field, FieldNode)
    fragments = {d.name.value: d for d in document.definitions[1:]}
    return SimpleNamespace(_raw_info=SimpleNamespace(field_nodes=[field], fragments=fragments))


def test_a_documents_walk_is_done_once_per_node(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common, "_BY_NODES", {})
    walks = []
    real = common._tree
    monkeypatch.setattr(common, "_tree", lambda *a: walks.append(1) or real(*a))
    info = info_of(QUERY)
    tree = selection_tree(info)
    assert tree == {"number": {}, "name": {}, "orders": {"nodes": {"number": {}}}}
    walked = len(walks)  # the walk recurses: a call per nested selection
    assert selection_tree(info) is tree and len(walks) == walked
    assert selected_names(info) == {"number", "name", "orders"}
    # the same text parsed again is other nodes: walked for them, with the same answer
    again = info_of(QUERY)
    assert selection_tree(again) == tree and len(walks) == 2 * walked


def test_the_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common, "_BY_NODES", {})
    monkeypatch.setattr(common, "_BY_NODES_LIMIT", 3)
    kept = [info_of(QUERY) for _ in range(5)]
    for info in kept:
        selection_tree(info)
    assert len(common._BY_NODES) <= 3
