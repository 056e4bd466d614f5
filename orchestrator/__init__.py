"""Durable workflows (returns, refunds, replacements) on DBOS, with idempotency and events.

The app calls `start_orchestrator(settings, sources)` in its lifespan and
`await orchestrator.close()` on the way out; mutations use the returned `Orchestrator`.
"""

from .idempotency import IdempotencyKeyReused, InvalidIdempotencyKey
from .journal import StepRecord, StepState, WorkflowRecord, WorkflowState
from .lifecycle import Orchestrator, OrchestratorOptions, start_orchestrator
from .refunds import RefundRecord
from .runtime import RetryPolicy

__all__ = [
    "IdempotencyKeyReused",
    "InvalidIdempotencyKey",
    "Orchestrator",
    "OrchestratorOptions",
    "RefundRecord",
    "RetryPolicy",
    "StepRecord",
    "StepState",
    "WorkflowRecord",
    "WorkflowState",
    "start_orchestrator",
]
