"""Settings from the environment: the upstream transport choice reaches every source."""

from __future__ import annotations

import pytest

from graph.settings import Settings
from sources.config import SourceConfig


@pytest.mark.parametrize("value", ["auto", "aiohttp", "httpx"])
def test_the_transport_setting_reaches_each_source(value: str) -> None:
    settings = Settings.from_env({"RETAILGRAPH_HTTP_TRANSPORT": value})
    assert SourceConfig.for_source("wms", settings).transport == value


def test_the_transport_defaults_to_auto_and_refuses_unknown_values() -> None:
    assert SourceConfig.for_source("erp", Settings.from_env({})).transport == "auto"
    with pytest.raises(ValueError, match="RETAILGRAPH_HTTP_TRANSPORT must be one of auto, aiohttp, httpx"):
        Settings.from_env({"RETAILGRAPH_HTTP_TRANSPORT": "curl"})
