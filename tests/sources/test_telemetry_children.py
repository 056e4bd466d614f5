"""`child(metric, *labels)`: the labelled children of the source and graph metrics, remembered."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from sources import telemetry
from sources.telemetry import CACHE_EVENTS, UPSTREAM_SECONDS, child, forget_children, record_cache


def test_child_is_the_metrics_own_labelled_child_and_is_remembered() -> None:
    first = child(CACHE_EVENTS, "erp", "test-children", "hit")
    assert first is CACHE_EVENTS.labels("erp", "test-children", "hit")
    assert child(CACHE_EVENTS, "erp", "test-children", "hit") is first
    assert child(CACHE_EVENTS, "erp", "test-children", "miss") is not first
    # The same label values on another metric are another child.
    assert child(UPSTREAM_SECONDS, "erp", "test-children", "hit") is not first


def test_recording_through_remembered_children_reaches_the_registry() -> None:
    labels = {"source": "wms", "kind": "test-children-count", "outcome": "stale"}

    def value() -> float:
        return REGISTRY.get_sample_value("retailgraph_cache_events_total", labels) or 0.0

    before = value()
    record_cache("wms", "test-children-count", "stale")
    record_cache("wms", "test-children-count", "stale", count=3)
    record_cache("wms", "test-children-count", "stale", count=0)
    assert value() == before + 4


def test_forgetting_follows_a_removed_child() -> None:
    old = child(CACHE_EVENTS, "servicedesk", "test-children-remove", "hit")
    CACHE_EVENTS.remove("servicedesk", "test-children-remove", "hit")
    forget_children()
    new = child(CACHE_EVENTS, "servicedesk", "test-children-remove", "hit")
    assert new is not old and new is CACHE_EVENTS.labels("servicedesk", "test-children-remove", "hit")


def test_past_the_limit_children_are_still_right_but_not_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(telemetry, "CHILDREN_LIMIT", 0)
    monkeypatch.setattr(telemetry, "_CHILDREN", {})
    made = child(CACHE_EVENTS, "erp", "test-children-limit", "hit")
    assert made is CACHE_EVENTS.labels("erp", "test-children-limit", "hit")
    assert telemetry._CHILDREN == {}
