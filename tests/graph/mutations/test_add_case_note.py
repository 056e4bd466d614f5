"""addCaseNote: one comment per key on the ticket; roles decide who may start what."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest
from workflow_support import (
    ADD_CASE_NOTE,
    CASE,
    INITIATE_RETURN,
    Upstreams,
    bearer,
    gid,
    return_input,
)

from graph.auth import Principal
from graph.mutations.common import permitted
from graph.settings import Settings


def note_input(body: str, key: str | None = None, case: object = CASE, public: bool = False) -> dict[str, Any]:
    return {"input": {"caseId": gid("Case", case), "body": body, "public": public,
                      **({"idempotencyKey": key} if key else {})}}


async def test_a_store_adds_a_note_once_per_key(
    gql: Callable[..., Any], settings: Settings, upstreams: Upstreams
) -> None:
    headers = bearer(settings, "store", "store-leeds")
    before = len(await upstreams.comments(CASE))
    first = (await gql(ADD_CASE_NOTE, note_input("Customer brought the parcel in.", "n-1"), **headers))
    result = first["data"]["addCaseNote"]
    assert result["userErrors"] == []
    assert result["workflow"]["status"] == "COMPLETED"
    assert result["case"]["number"] == CASE
    again = (await gql(ADD_CASE_NOTE, note_input("Customer brought the parcel in.", "n-1"), **headers))
    assert again["data"]["addCaseNote"]["workflow"]["id"] == result["workflow"]["id"]
    comments = await upstreams.comments(CASE)
    assert len(comments) == before + 1
    assert comments[-1]["body"] == "Customer brought the parcel in.\n\n— store-leeds"
    assert comments[-1]["public"] is False


async def test_without_a_key_every_call_is_a_new_note(gql: Callable[..., Any], upstreams: Upstreams) -> None:
    before = len(await upstreams.comments(CASE))
    for _ in range(2):
        result = (await gql(ADD_CASE_NOTE, note_input("Called back.", public=True)))["data"]["addCaseNote"]
        assert result["userErrors"] == []
    comments = await upstreams.comments(CASE)
    assert len(comments) == before + 2 and comments[-1]["public"] is True


async def test_bad_notes_are_refused(gql: Callable[..., Any], upstreams: Upstreams) -> None:
    missing = (await gql(ADD_CASE_NOTE, note_input("hello", case=987654)))["data"]["addCaseNote"]
    assert [(e["code"], e["field"]) for e in missing["userErrors"]] == [("CASE_NOT_FOUND", ["input", "caseId"])]
    blank = (await gql(ADD_CASE_NOTE, note_input("   ")))["data"]["addCaseNote"]
    assert [(e["code"], e["field"]) for e in blank["userErrors"]] == [("INVALID", ["input", "body"])]
    assert await upstreams.writes("servicedesk") == []


async def test_a_store_may_not_start_a_return(gql: Callable[..., Any], settings: Settings, upstreams: Upstreams) -> None:
    body = await gql(INITIATE_RETURN, return_input("store-ret", (10000, 1)), **bearer(settings, "store"))
    assert body["data"]["initiateReturn"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    assert await upstreams.writes("erp") == []


async def test_a_supervisor_may_start_a_return(gql: Callable[..., Any], settings: Settings) -> None:
    body = await gql(INITIATE_RETURN, return_input("sup-ret", (10000, 1)), **bearer(settings, "supervisor"))
    assert body["data"]["initiateReturn"]["workflow"]["status"] == "COMPLETED"


@pytest.mark.parametrize(
    ("roles", "mutation", "allowed"),
    [
        (("agent",), "initiateReturn", True), (("agent",), "approveRefund", False),
        (("store",), "addCaseNote", True), (("store",), "requestRefund", False),
        (("supervisor",), "approveRefund", True), (("developer",), "approveRefund", True),
        ((), "addCaseNote", False),
    ],
)
def test_the_role_check_behind_the_gates(roles: tuple[str, ...], mutation: str, allowed: bool) -> None:
    info = SimpleNamespace(context=SimpleNamespace(
        principal=Principal(sub="x", roles=roles, client_id="x"), settings=Settings()))
    denied = permitted(info, mutation)  # type: ignore[arg-type]
    assert (denied is None) is allowed
    if denied is not None:
        assert denied.code.value == "NOT_PERMITTED"


def test_without_a_principal_development_means_developer_and_production_means_nobody() -> None:
    development = SimpleNamespace(context=SimpleNamespace(principal=None, request=None, settings=Settings()))
    production = SimpleNamespace(context=SimpleNamespace(
        principal=None, request=None, settings=Settings(env="production", jwt_secret="s" * 32)))
    assert permitted(development, "approveRefund") is None  # type: ignore[arg-type]
    assert permitted(production, "addCaseNote") is not None  # type: ignore[arg-type]
