"""The registry of workflow kinds and the one body every DBOS workflow runs.

A workflow module declares its steps as a function of its input and registers a
`WorkflowSpec`; its DBOS workflow function calls `execute`, which builds the saga run
against the installed runtime and returns a plain, checkpointable result.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dbos import DBOS

from . import runtime as runtime_module
from .saga import Gate, SagaRun, Step, plan, run_saga

Entries = Callable[[Mapping[str, Any]], Sequence[Step | Gate]]


@dataclass(frozen=True)
class WorkflowSpec:
    """A workflow kind: its DBOS function, its steps, and the entity it is about."""

    kind: str
    operation: str
    function: Callable[[dict[str, Any]], Coroutine[Any, Any, dict[str, Any]]]
    entries: Entries

    def plan(self, payload: Mapping[str, Any]) -> list[str]:
        """Step names this input will journal (skipped ones included)."""
        return plan(self.entries(payload))


REGISTRY: dict[str, WorkflowSpec] = {}


def register(spec: WorkflowSpec) -> WorkflowSpec:
    """Add a workflow kind (at import, before DBOS launches)."""
    REGISTRY[spec.kind] = spec
    return spec


async def execute(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Run the saga of `kind` for the current DBOS workflow."""
    workflow_id = DBOS.workflow_id
    assert workflow_id is not None, "execute() runs inside a DBOS workflow"
    spec = REGISTRY[kind]
    run = SagaRun(workflow_id=workflow_id, kind=kind, input=payload, runtime=runtime_module.current())
    result = await run_saga(run, spec.entries(payload))
    return {**result.as_dict(), "state": run.state}

