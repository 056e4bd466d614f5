"""The saga layer on real DBOS (SQLite in a tmp dir): order, retries, compensation, pivots.

The steps here are in-memory actions, so what is asserted is the saga's own behaviour:
which actions ran, in which order, how often, and what the journal says about it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from dbos import DBOS

from orchestrator import (
    OrchestratorOptions,
    RetryPolicy,
    StepState,
    WorkflowState,
    start_orchestrator,
)
from orchestrator.lifecycle import Orchestrator
from orchestrator.saga import Gate, SagaRun, Step, StepFailed
from orchestrator.workflow import WorkflowSpec, execute, register
from sources.errors import SourceRejected, SourceUnavailable

CALLS: list[str] = []
# step name → failures still to inject: ("transient" | "permanent", count)
FAULTS: dict[str, tuple[str, int]] = {}


def action(name: str) -> Any:
    async def run(run: SagaRun) -> Mapping[str, Any]:
        CALLS.append(name)
        kind, left = FAULTS.get(name, ("", 0))
        if left:
            FAULTS[name] = (kind, left - 1)
            if kind == "transient":
                raise SourceUnavailable("erp", f"{name} outage")
            raise SourceRejected("erp", f"{name} refused", status=400, code="BadRequest")
        return {"done": name}

    return run


def undo(name: str) -> Any:
    async def run(run: SagaRun) -> None:
        CALLS.append(f"undo:{name}")
        kind, left = FAULTS.get(f"undo:{name}", ("", 0))
        if left:
            FAULTS[f"undo:{name}"] = (kind, left - 1)
            raise SourceRejected("erp", f"undo {name} refused", status=400)

    return run


async def wait_for_go(run: SagaRun) -> Mapping[str, Any]:
    message = await DBOS.recv_async("go", timeout_seconds=30)
    return {"message": message}


def entries(payload: Mapping[str, Any]) -> Sequence[Step | Gate]:
    pivot_at = payload.get("pivot")
    steps: list[Step | Gate] = [
        Step(name, action(name), undo(name), pivot=(name == pivot_at)) for name in ("a", "b", "c")
    ]
    if payload.get("gate"):
        steps.insert(1, Gate("gate", wait_for_go))
    steps.append(Step("d", action("d"), when=lambda run: bool(run.input.get("with_d"))))
    return steps


@DBOS.workflow(name="test_saga")
async def saga_workflow(payload: dict[str, Any]) -> dict[str, Any]:
    return await execute("test_saga", payload)


register(WorkflowSpec("test_saga", "testSaga", saga_workflow, entries))

FAST = OrchestratorOptions(retry=RetryPolicy(max_attempts=3, compensation_attempts=3, interval_s=0.01))
NO_SOURCES = SimpleNamespace(erp=None, wms=None, servicedesk=None)


@pytest.fixture
async def orchestrator(tmp_path: Path) -> AsyncIterator[Orchestrator]:
    CALLS.clear()
    FAULTS.clear()
    started = await start_orchestrator(SimpleNamespace(data_dir=tmp_path), NO_SOURCES, options=FAST)
    yield started
    await started.close()


async def run_saga(orchestrator: Orchestrator, key: str, payload: dict[str, Any]) -> Any:
    record = await orchestrator.start("test_saga", key=key, client_input=payload, payload=payload, principal="t")
    final = await orchestrator.wait(record.id, 20, until=lambda r: r.status.value != "RUNNING")
    assert final is not None
    return final


async def test_steps_run_in_order_once_and_the_journal_shows_them(orchestrator: Orchestrator) -> None:
    final = await run_saga(orchestrator, "k1", {})
    assert final.status is WorkflowState.COMPLETED
    assert CALLS == ["a", "b", "c"]
    assert [(s.name, s.status, s.attempts) for s in final.steps] == [
        ("a", StepState.COMPLETED, 1), ("b", StepState.COMPLETED, 1),
        ("c", StepState.COMPLETED, 1), ("d", StepState.SKIPPED, 0),
    ]
    assert all(s.started_at and s.finished_at and s.started_at <= s.finished_at for s in final.steps[:3])
    assert final.finished_at is not None and final.error is None
    types = [e.type for e in await orchestrator.workflow_events(final.id)]
    assert types == ["WorkflowCompleted"]


async def test_a_permanent_failure_compensates_completed_steps_in_reverse(orchestrator: Orchestrator) -> None:
    FAULTS["c"] = ("permanent", 1)
    final = await run_saga(orchestrator, "k2", {})
    assert final.status is WorkflowState.COMPENSATED
    assert CALLS == ["a", "b", "c", "undo:b", "undo:a"]
    assert "c refused" in (final.error or "")
    statuses = {s.name: s.status for s in final.steps}
    assert statuses == {"a": StepState.COMPENSATED, "b": StepState.COMPENSATED,
                        "c": StepState.FAILED, "d": StepState.PENDING}
    assert [e.type for e in await orchestrator.workflow_events(final.id)] == ["WorkflowCompensated"]


async def test_a_transient_failure_is_retried_and_counted(orchestrator: Orchestrator) -> None:
    FAULTS["b"] = ("transient", 2)
    final = await run_saga(orchestrator, "k3", {})
    assert final.status is WorkflowState.COMPLETED
    assert CALLS == ["a", "b", "b", "b", "c"]
    assert {s.name: s.attempts for s in final.steps}["b"] == 3


async def test_retries_give_up_after_max_attempts_then_compensate(orchestrator: Orchestrator) -> None:
    FAULTS["b"] = ("transient", 99)
    final = await run_saga(orchestrator, "k4", {})
    assert final.status is WorkflowState.COMPENSATED
    assert CALLS == ["a", "b", "b", "b", "undo:a"]
    assert "after 3 attempts" in (final.error or "")


async def test_a_failure_after_the_pivot_fails_without_undoing(orchestrator: Orchestrator) -> None:
    FAULTS["c"] = ("permanent", 1)
    final = await run_saga(orchestrator, "k5", {"pivot": "b"})
    assert final.status is WorkflowState.FAILED
    assert CALLS == ["a", "b", "c"]


async def test_a_failing_compensation_leaves_the_workflow_failed(orchestrator: Orchestrator) -> None:
    FAULTS["c"] = ("permanent", 1)
    FAULTS["undo:b"] = ("permanent", 1)
    final = await run_saga(orchestrator, "k6", {})
    assert final.status is WorkflowState.FAILED
    assert CALLS == ["a", "b", "c", "undo:b"]
    assert {s.name: s.status for s in final.steps}["b"] is StepState.COMPENSATION_FAILED


async def test_step_failed_survives_a_pickle_round_trip() -> None:
    import pickle

    error = pickle.loads(pickle.dumps(StepFailed("boom", "CODE", True)))
    assert (error.message, error.code, error.transient) == ("boom", "CODE", True)


async def test_twenty_concurrent_duplicates_run_the_steps_once(orchestrator: Orchestrator) -> None:
    import asyncio

    payload = {"with_d": True}
    records = await asyncio.gather(
        *(orchestrator.start("test_saga", key="dup", client_input=payload, payload=payload, principal="t")
          for _ in range(20))
    )
    assert len({r.id for r in records}) == 1
    final = await orchestrator.wait(records[0].id, 20, until=lambda r: r.status is WorkflowState.COMPLETED)
    assert final is not None and final.status is WorkflowState.COMPLETED
    assert CALLS == ["a", "b", "c", "d"]
    again = await orchestrator.existing("testSaga", "dup", payload)
    assert again is not None and again.id == final.id
    assert CALLS == ["a", "b", "c", "d"]


async def test_the_same_key_with_another_input_is_refused(orchestrator: Orchestrator) -> None:
    from orchestrator import IdempotencyKeyReused

    await run_saga(orchestrator, "reuse", {"with_d": False})
    with pytest.raises(IdempotencyKeyReused):
        await orchestrator.existing("testSaga", "reuse", {"with_d": True})
    with pytest.raises(IdempotencyKeyReused):
        await orchestrator.start("test_saga", key="reuse", client_input={"with_d": True},
                                 payload={"with_d": True}, principal="t")
    assert await orchestrator.existing("testSaga", "unused", {}) is None


async def test_a_waiting_workflow_survives_a_restart_without_repeating_steps(tmp_path: Path) -> None:
    CALLS.clear()
    FAULTS.clear()
    settings = SimpleNamespace(data_dir=tmp_path)
    first = await start_orchestrator(settings, NO_SOURCES, options=FAST)
    record = await first.start("test_saga", key="park", client_input={"gate": 1}, payload={"gate": 1},
                               principal="t")
    parked = await first.wait(record.id, 20, until=lambda r: r.steps[1].status is StepState.WAITING)
    assert parked is not None and parked.steps[1].status is StepState.WAITING
    await first.close()
    assert CALLS == ["a"]

    second = await start_orchestrator(settings, NO_SOURCES, options=FAST)
    try:
        # Recovery re-runs the workflow body: "a" replays from its checkpoint, the gate waits again.
        await second.wait(record.id, 20, until=lambda r: r.steps[1].status is StepState.WAITING)
        await DBOS.send_async(record.id, "go", "go")
        final = await second.wait(record.id, 20, until=lambda r: r.status is WorkflowState.COMPLETED)
    finally:
        await second.close()
    assert final is not None and final.status is WorkflowState.COMPLETED
    assert CALLS == ["a", "b", "c"]
    assert {s.name: s.attempts for s in final.steps}["a"] == 1


@pytest.mark.parametrize(
    ("error", "code", "transient"),
    [
        (SourceUnavailable("erp", "503"), "SOURCE_UNAVAILABLE", True),
        (SourceRejected("erp", "400", status=400, code="BadRequest"), "UPSTREAM_REJECTED", False),
        (SourceRejected("wms", "409", status=409, code="insufficient_stock"), "UPSTREAM_REJECTED", False),
        (ValueError("bug"), "INTERNAL", False),
    ],
)
def test_failures_are_classified_for_retry(error: Exception, code: str, transient: bool) -> None:
    from orchestrator.saga import classify

    failure = classify(error)
    assert (failure.code, failure.transient) == (code, transient)


def test_short_stock_and_stale_etags_are_told_apart() -> None:
    from orchestrator.saga import classify
    from sources.errors import error_for_status

    short = classify(error_for_status("wms", 409, "insufficient_stock", "only 0"))
    stale = classify(error_for_status("erp", 409, "Request_EntityChanged", "changed"))
    busy = classify(error_for_status("wms", 409, "idempotency_key_in_use", "busy"))
    assert (short.code, short.transient) == ("INSUFFICIENT_INVENTORY", False)
    assert (stale.code, stale.transient) == ("CONFLICT", True)
    assert busy.transient
