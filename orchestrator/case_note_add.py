"""The note workflow: one comment on a case, written exactly once per idempotency key."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from dbos import DBOS

from .notes import write_note
from .saga import Gate, SagaRun, Step
from .workflow import WorkflowSpec, execute, register

NOTE = "servicedesk.add_note"


async def add_note(run: SagaRun) -> Mapping[str, Any]:
    """Write the note, signed by who wrote it."""
    author = run.input.get("author")
    body = str(run.input["body"])
    # Zendesk attributes API comments to the token's user; keep the person who wrote it visible.
    text = f"{body}\n\n— {author}" if author else body
    return await write_note(run, NOTE, text, public=bool(run.input.get("public")))


def entries(payload: Mapping[str, Any]) -> Sequence[Step | Gate]:
    """A single step."""
    return [Step(NOTE, add_note)]


@DBOS.workflow(name="add_case_note")
async def case_note_add_workflow(payload: dict[str, Any]) -> dict[str, Any]:
    """DBOS entry point of `addCaseNote`."""
    return await execute("add_case_note", payload)


SPEC = register(WorkflowSpec("add_case_note", "addCaseNote", case_note_add_workflow, entries))
