"""A small saga layer on DBOS: a workflow is a list of steps, each with its compensation.

Each `Step` runs as one checkpointed DBOS step (retried for transient upstream failures);
a `Gate` waits durably in the workflow body (an approval). When a step fails for good, the
compensations of the completed steps run in reverse and the workflow ends COMPENSATED with
the failing step's error kept. A step marked `pivot` cannot be undone (a posted credit
memo): failures after it end the workflow FAILED instead of unwinding what came before.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dbos import DBOS, StepOptions
from dbos._error import DBOSMaxStepRetriesExceeded

from sources.errors import (
    SourceConflict,
    SourceError,
    SourceNotFound,
    SourceUnavailable,
)
from sources.wms_writes import INSUFFICIENT_STOCK

from .events import make_event
from .journal import StepState, WorkflowState

if TYPE_CHECKING:
    from .runtime import Runtime

logger = logging.getLogger("retailgraph.orchestrator.saga")

StepAction = Callable[["SagaRun"], Awaitable[Mapping[str, Any] | None]]
Compensation = Callable[["SagaRun"], Awaitable[None]]
Condition = Callable[["SagaRun"], bool]


class StepFailed(Exception):
    """A step's failure in a picklable shape DBOS can checkpoint and replay."""

    def __init__(self, message: str, code: str = "STEP_FAILED", transient: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.transient = transient

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.code, self.transient))


def classify(exc: BaseException) -> StepFailed:
    """Translate any exception from a step into a StepFailed; upstream outages are transient."""
    if isinstance(exc, StepFailed):
        return exc
    if isinstance(exc, DBOSMaxStepRetriesExceeded) and exc.errors:
        last = classify(exc.errors[-1])
        return StepFailed(f"{last.message} (after {len(exc.errors)} attempts)", last.code, False)
    if isinstance(exc, SourceUnavailable):
        return StepFailed(str(exc), "SOURCE_UNAVAILABLE", transient=True)
    if isinstance(exc, SourceConflict) and (exc.code or "") == INSUFFICIENT_STOCK:
        return StepFailed(str(exc), "INSUFFICIENT_INVENTORY")
    if isinstance(exc, SourceConflict) and (exc.code or "") in ("Request_EntityChanged", "idempotency_key_in_use"):
        # Changed between our read and write, or our own earlier attempt still running: retry.
        return StepFailed(str(exc), "CONFLICT", transient=True)
    if isinstance(exc, SourceNotFound):
        return StepFailed(str(exc), "NOT_FOUND")
    if isinstance(exc, SourceError):
        return StepFailed(str(exc), "UPSTREAM_REJECTED")
    return StepFailed(f"{type(exc).__name__}: {exc}", "INTERNAL")


@dataclass(frozen=True)
class Step:
    """One upstream action with the action that undoes it."""

    name: str
    run: StepAction
    compensate: Compensation | None = None
    when: Condition | None = None
    pivot: bool = False


@dataclass(frozen=True)
class Gate:
    """A durable wait in the workflow body (DBOS recv); its result lands in `state[name]`."""

    name: str
    wait: StepAction
    when: Condition | None = None


@dataclass
class SagaRun:
    """What steps see: the workflow's id, input, and the outputs of the steps before them."""

    workflow_id: str
    kind: str
    input: Mapping[str, Any]
    runtime: Runtime
    state: dict[str, Any] = field(default_factory=dict)
    # A gate may end the workflow otherwise than COMPLETED (a return cancelled mid-approval).
    outcome: WorkflowState = WorkflowState.COMPLETED

    def key(self, step: str, suffix: str = "") -> str:
        """The Idempotency-Key for an upstream write of `step` (stable across retries)."""
        return f"{self.workflow_id}:{step}{':' + suffix if suffix else ''}"

    def output(self, step: str) -> Mapping[str, Any]:
        """The recorded output of an earlier step (empty when skipped)."""
        value = self.state.get(step)
        return value if isinstance(value, Mapping) else {}

    async def emit(self, event_type: str, *, subject: str | None = None, key: str = "", **data: Any) -> None:
        """Append a domain event (written once per workflow, type and key)."""
        await self.runtime.events.append(
            make_event(event_type, workflow_id=self.workflow_id, subject=subject, key=key, **data)
        )


@dataclass(frozen=True)
class SagaResult:
    """How a saga ended."""

    status: WorkflowState
    error: str | None = None
    error_code: str | None = None
    failed_step: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """A plain, checkpointable shape (the DBOS workflow's return value)."""
        return {"status": self.status.value, "error": self.error, "errorCode": self.error_code,
                "failedStep": self.failed_step}


def plan(entries: Sequence[Step | Gate]) -> list[str]:
    """The step names a workflow will journal, in order, compensations not included."""
    return [entry.name for entry in entries]


async def run_saga(run: SagaRun, entries: Sequence[Step | Gate]) -> SagaResult:
    """Run the entries in order; on a failure, compensate the completed steps in reverse."""
    journal = run.runtime.journal
    completed: list[Step] = []
    pivoted = False
    for entry in entries:
        if entry.when is not None and not entry.when(run):
            await journal.step_state(run.workflow_id, entry.name, StepState.SKIPPED)
            continue
        if isinstance(entry, Gate):
            await journal.step_started(run.workflow_id, entry.name, status=StepState.WAITING)
            run.state[entry.name] = dict(await entry.wait(run) or {})
            await journal.step_state(run.workflow_id, entry.name, StepState.COMPLETED)
            continue
        try:
            output = await DBOS.run_step_async(_options(run, entry.name), _attempt, run, entry)
        except Exception as exc:  # noqa: BLE001 - every failure is journaled, then unwound
            failure = classify(exc)
            await journal.step_state(run.workflow_id, entry.name, StepState.FAILED, error=failure.message)
            # Compensations may mention why they run (a note on the case says what failed).
            run.state["_failure"] = {"step": entry.name, "error": failure.message, "code": failure.code}
            if pivoted:
                return await _finish(run, SagaResult(WorkflowState.FAILED, failure.message, failure.code, entry.name))
            return await _unwind(run, completed, entry.name, failure)
        run.state[entry.name] = output
        completed.append(entry)
        pivoted = pivoted or entry.pivot
    return await _finish(run, SagaResult(run.outcome))


async def _attempt(run: SagaRun, step: Step) -> dict[str, Any]:
    """One attempt of a step: journal it, run it, translate its failure."""
    journal = run.runtime.journal
    await journal.step_started(run.workflow_id, step.name)
    try:
        output = dict(await step.run(run) or {})
    except Exception as exc:  # noqa: BLE001 - translated for DBOS's retry predicate
        failure = classify(exc)
        logger.warning("%s step %s failed: %s", run.workflow_id, step.name, failure.message)
        await journal.step_state(run.workflow_id, step.name, StepState.RUNNING, error=failure.message)
        raise failure from None
    await journal.step_state(run.workflow_id, step.name, StepState.COMPLETED)
    return output


async def _compensate_attempt(run: SagaRun, step: Step) -> dict[str, Any]:
    """One attempt of a compensation."""
    assert step.compensate is not None
    await run.runtime.journal.step_started(run.workflow_id, step.name, status=StepState.COMPENSATING)
    try:
        await step.compensate(run)
    except Exception as exc:  # noqa: BLE001 - translated for DBOS's retry predicate
        raise classify(exc) from None
    return {}


async def _unwind(run: SagaRun, completed: list[Step], failed_step: str, failure: StepFailed) -> SagaResult:
    """Run compensations of completed steps in reverse; COMPENSATED if all of them worked."""
    journal = run.runtime.journal
    for step in reversed(completed):
        if step.compensate is None:
            continue
        try:
            await DBOS.run_step_async(
                _options(run, f"{step.name}.compensate", compensation=True), _compensate_attempt, run, step
            )
        except Exception as exc:  # noqa: BLE001 - a stuck compensation needs a person
            broken = classify(exc)
            await journal.step_state(run.workflow_id, step.name, StepState.COMPENSATION_FAILED, error=broken.message)
            message = f"{failed_step} failed ({failure.message}); compensating {step.name} failed ({broken.message})"
            return await _finish(run, SagaResult(WorkflowState.FAILED, message, failure.code, failed_step))
        await journal.step_state(run.workflow_id, step.name, StepState.COMPENSATED)
    return await _finish(
        run, SagaResult(WorkflowState.COMPENSATED, failure.message, failure.code, failed_step)
    )


async def _finish(run: SagaRun, result: SagaResult) -> SagaResult:
    """Journal the end state and publish the workflow-level event (both idempotent)."""
    await run.runtime.journal.set_status(
        run.workflow_id, result.status, error=result.error, error_code=result.error_code
    )
    if result.status is WorkflowState.COMPLETED:
        await run.emit("WorkflowCompleted", subject=run.workflow_id, kind=run.kind)
    elif result.status is WorkflowState.COMPENSATED:
        await run.emit("WorkflowCompensated", subject=run.workflow_id, kind=run.kind,
                       failedStep=result.failed_step, error=result.error)
    elif result.status is WorkflowState.CANCELLED:
        await run.emit("WorkflowCancelled", subject=run.workflow_id, kind=run.kind)
    elif result.status is WorkflowState.FAILED:
        await run.emit("WorkflowFailed", subject=run.workflow_id, kind=run.kind,
                       failedStep=result.failed_step, error=result.error)
    return result


def _options(run: SagaRun, name: str, *, compensation: bool = False) -> StepOptions:
    """DBOS step options: retry only transient failures, with the runtime's backoff."""
    retry = run.runtime.retry
    return {
        "name": name,
        "retries_allowed": True,
        "max_attempts": retry.compensation_attempts if compensation else retry.max_attempts,
        "interval_seconds": retry.interval_s,
        "backoff_rate": retry.backoff_rate,
        "should_retry": _is_transient,
    }


def _is_transient(exc: BaseException) -> bool:
    """DBOS retry predicate: only failures an upstream may recover from."""
    return isinstance(exc, StepFailed) and exc.transient
