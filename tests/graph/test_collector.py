"""The collector policy (graph/collector.py): thresholds from the settings, startup frozen once."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from graph import collector
from graph.app import create_app
from graph.collector import OLDER_THRESHOLD, tune_collector
from graph.settings import Settings
from sandbox.apps import build


@pytest.fixture
def freezes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """What the policy asks of the collector, recorded instead of done; thresholds restored."""
    calls: list[str] = []
    monkeypatch.setattr(collector, "_frozen", False)
    monkeypatch.setattr(gc, "collect", lambda *args: calls.append("collect") or 0)
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    before = gc.get_threshold()
    yield calls
    gc.set_threshold(*before)


def test_the_policy_sets_the_thresholds_and_freezes_the_process_once(freezes: list[str]) -> None:
    tune_collector(freeze=True, threshold=12_345)
    tune_collector(freeze=True, threshold=12_345)
    assert gc.get_threshold() == (12_345, OLDER_THRESHOLD, OLDER_THRESHOLD)
    assert freezes == ["collect", "freeze"]  # what is alive is frozen, after a full collection


def test_zero_and_false_keep_cpythons_behaviour(freezes: list[str]) -> None:
    gc.set_threshold(700, 10, 10)
    tune_collector(freeze=False, threshold=0)
    assert gc.get_threshold() == (700, 10, 10)
    assert freezes == []


def test_the_settings_default_to_the_policy_and_read_the_environment() -> None:
    assert (Settings().gc_freeze, Settings().gc_threshold) == (True, 20_000)
    settings = Settings.from_env({"RETAILGRAPH_GC_FREEZE": "false", "RETAILGRAPH_GC_THRESHOLD": "0"})
    assert (settings.gc_freeze, settings.gc_threshold) == (False, 0)


async def test_the_graph_applies_the_policy_once_started(freezes: list[str], tmp_path: Path) -> None:
    sandbox = build(seed=42)
    transports = {name: httpx.ASGITransport(app=getattr(sandbox, name)) for name in ("erp", "wms", "servicedesk")}
    app = create_app(Settings(data_dir=tmp_path / "data", gc_threshold=4_321), transports=transports)
    gc.set_threshold(700, 10, 10)
    async with app.router.lifespan_context(app):
        assert gc.get_threshold() == (4_321, OLDER_THRESHOLD, OLDER_THRESHOLD)
        assert freezes == ["collect", "freeze"]
