"""The garbage collector's policy for a serving process.

Why: CPython's cyclic collector runs a young collection every 700 net container allocations
and, every 100 of those, a full one over every tracked object. A customer-360 allocates tens
of thousands of containers (records, futures, dicts, lists), and a started graph process
tracks a few hundred thousand long-lived objects (modules, the schema, DBOS, SQLAlchemy,
OpenTelemetry), so with the defaults a warm 360 spent about a quarter of its CPU in the
collector (docs/benchmark.md, Levers). Two changes, both standard for servers:

- the objects alive once startup has finished are moved to the permanent generation
  (`gc.freeze()`): collections no longer walk them. Done once per process, after the first
  app's startup: the process's code and singletons, not a later request's garbage.
- the young generation's threshold is raised (`RETAILGRAPH_GC_THRESHOLD`, 20,000), so
  collections run about 30 times less often; their work per object is the same.

Request garbage is mostly acyclic and freed by reference counting either way; what cycles
there are wait a little longer. `RETAILGRAPH_GC_FREEZE=false` and `RETAILGRAPH_GC_THRESHOLD=0`
keep CPython's behaviour.
"""

from __future__ import annotations

import gc

__all__ = ["OLDER_THRESHOLD", "tune_collector"]

# Young collections per middle-generation one, and middle per full: CPython's 10, doubled,
# so full collections of the (growing) entity caches stay rare too.
OLDER_THRESHOLD = 20

_frozen = False


def tune_collector(*, freeze: bool, threshold: int) -> None:
    """Apply the policy: thresholds when `threshold` > 0, and once per process a freeze of
    what startup left alive."""
    global _frozen
    if threshold > 0:
        gc.set_threshold(threshold, OLDER_THRESHOLD, OLDER_THRESHOLD)
    if freeze and not _frozen:
        _frozen = True
        gc.collect()
        gc.freeze()
