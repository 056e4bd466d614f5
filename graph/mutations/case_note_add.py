"""addCaseNote: a comment on a case's timeline, written once per idempotency key."""

from __future__ import annotations

import uuid
from typing import Any

import strawberry

from graph.context import GraphInfo
from graph.types.cases import Case
from graph.types.common import decode_global_id
from graph.types.workflows import Workflow

from .common import (
    Cleaned,
    UserError,
    UserErrorCode,
    error,
    hand_off,
    permitted,
    plain,
    principal,
    workflow_type,
)

MAX_BODY = 64_000  # Zendesk's comment size limit


@strawberry.input(description="Add a note to a case's timeline.")
class AddCaseNoteInput:
    """Input of addCaseNote."""

    case_id: strawberry.ID = strawberry.field(description="The Case's global id.")
    body: str = strawberry.field(description="The note's text.")
    public: bool = strawberry.field(
        default=False, description="True shows the note to the customer; internal by default."
    )
    idempotency_key: str | None = strawberry.field(
        default=None, description="Optional client key: a retried request with it writes the note once."
    )


@strawberry.type(description="The result of addCaseNote.")
class AddCaseNotePayload:
    """Payload of addCaseNote."""

    case: Case | None = strawberry.field(description="The case after the note was added.")
    workflow: Workflow | None = strawberry.field(description="The workflow as it stands after a short wait.")
    user_errors: list[UserError] = strawberry.field(description="Why nothing was written, if so.")


async def clean_add_case_note(info: GraphInfo, data: AddCaseNoteInput) -> Cleaned:
    """The case must exist and the body must be a usable note."""
    key = decode_global_id(data.case_id, "Case")[1]
    case = await info.context.loaders.case_by_id.load(int(key)) if key.isdigit() else None
    if case is None:
        return None, [error(UserErrorCode.CASE_NOT_FOUND, f"Case {key} does not exist.", "caseId")], {}
    body = data.body.strip()
    if not body or len(body) > MAX_BODY:
        return None, [error(UserErrorCode.INVALID, f"A note has 1 to {MAX_BODY} characters.", "body")], {}
    who = principal(info)
    payload: dict[str, Any] = {"caseId": case.id, "body": body, "public": data.public,
                               "author": None if who is None else who.sub}
    return payload, [], {"case": case.id, "order": case.order_number}


async def add_case_note(info: GraphInfo, data: AddCaseNoteInput) -> AddCaseNotePayload:
    """Resolver of Mutation.addCaseNote."""
    denied = permitted(info, "addCaseNote")
    if denied:
        return AddCaseNotePayload(case=None, workflow=None, user_errors=[denied])
    key = data.idempotency_key if data.idempotency_key is not None else str(uuid.uuid4())
    record, errors = await hand_off(
        info, kind="add_case_note", operation="addCaseNote", key=key,
        client_input=plain(data), clean=lambda: clean_add_case_note(info, data),
    )
    if record is None:
        return AddCaseNotePayload(case=None, workflow=None, user_errors=errors)
    case_id = int(record.input["caseId"])
    found = (await info.context.sources.servicedesk.cases_by_ids([case_id])).get(case_id)
    return AddCaseNotePayload(case=None if found is None else Case.from_record(found),
                              workflow=workflow_type(record), user_errors=[])
