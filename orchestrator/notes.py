"""Case timeline notes as saga steps: every milestone of a workflow lands on the linked case."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .saga import Condition, SagaRun, Step

Text = Callable[[SagaRun], str]


def case_id(run: SagaRun) -> int | None:
    """The case a workflow reports to, if the caller linked one."""
    value = run.input.get("caseId")
    return None if value is None else int(value)


def has_case(run: SagaRun) -> bool:
    """Step condition: a case is linked."""
    return case_id(run) is not None


def both(*conditions: Condition) -> Condition:
    """A condition true when all of `conditions` are."""
    return lambda run: all(condition(run) for condition in conditions)


async def write_note(run: SagaRun, step: str, body: str, *, public: bool = False, suffix: str = "") -> Mapping[str, Any]:
    """Add an internal note to the linked case, publish it, and record the event."""
    target = case_id(run)
    assert target is not None
    update = await run.runtime.upstreams.servicedesk.add_note(
        target, body, public=public, idempotency_key=run.key(step, suffix)
    )
    await run.emit("CaseNoteAdded", subject=str(target), key=f"{step}{suffix}", caseId=target, public=public)
    run.runtime.bus.publish(f"case:{target}", update.case)
    return {"caseId": target, "auditId": update.audit_id}


def case_note(name: str, text: Text, *, when: Condition | None = None, undo_text: Text | None = None) -> Step:
    """A step writing `text` to the linked case; skipped when no case is linked."""

    async def run_note(run: SagaRun) -> Mapping[str, Any]:
        return await write_note(run, name, text(run))

    async def undo_note(run: SagaRun) -> None:
        assert undo_text is not None
        await write_note(run, name, undo_text(run), suffix="compensate")

    condition = has_case if when is None else both(has_case, when)
    return Step(name, run_note, undo_note if undo_text else None, when=condition)


def rolled_back(what: Text) -> Text:
    """Compensation text: what was undone and why."""

    def text(run: SagaRun) -> str:
        failure = run.state.get("_failure") or {}
        reason = failure.get("error", "a later step failed")
        return f"{what(run)} was rolled back: {reason}"

    return text


def quantity_lines(lines: Any) -> str:
    """`2 × SKU-00001 (DAMAGED), 1 × …` for a note."""
    return ", ".join(
        f"{line['quantity']} × {line['sku']}" + (f" ({line['reason']})" if line.get("reason") else "")
        for line in lines
    )
