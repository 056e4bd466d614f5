"""Child process of the scale-out test: one graph replica on loopback, configured from the environment.

`python scale_app.py PORT` with `RETAILGRAPH_*` variables (database, Redis, sandbox URLs).
Entity caches stay fresh for an hour here, so only an invalidation can make a replica re-read.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, fields
from pathlib import Path

import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root

from graph.app import create_app
from graph.settings import Settings

LONG_LIVED = ("inventory", "shipments", "cases", "orders", "invoices", "customers", "profiles")


@dataclass(frozen=True)
class ReplicaSettings(Settings):
    """Settings from the environment, with entity caches that do not expire during a test."""

    cache_ttl_s: dict[str, float] = field(default_factory=lambda: dict.fromkeys(LONG_LIVED, 3600.0))


def main() -> None:
    port = int(sys.argv[1])
    base = Settings.from_env()
    settings = ReplicaSettings(**{spec.name: getattr(base, spec.name) for spec in fields(Settings)})
    uvicorn.run(create_app(settings), host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
