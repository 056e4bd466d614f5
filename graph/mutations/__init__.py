"""The mutation root: one module per mutation (`<noun>_<verb>.py`), each handing off to a workflow."""

from __future__ import annotations

from typing import Annotated

import strawberry

from graph.context import GraphInfo

from .case_note_add import AddCaseNoteInput, AddCaseNotePayload, add_case_note
from .common import UserError, UserErrorCode
from .refund_approve import ApproveRefundInput, ApproveRefundPayload, approve_refund
from .refund_request import RequestRefundInput, RequestRefundPayload, request_refund
from .replacement_reserve import (
    ReserveReplacementInput,
    ReserveReplacementPayload,
    reserve_replacement,
)
from .return_cancel import CancelReturnInput, CancelReturnPayload, cancel_return
from .return_initiate import InitiateReturnInput, InitiateReturnPayload, initiate_return

WHAT = strawberry.argument(description="What to do.")
InitiateReturnArg = Annotated[InitiateReturnInput, WHAT]
RequestRefundArg = Annotated[RequestRefundInput, WHAT]
ApproveRefundArg = Annotated[ApproveRefundInput, WHAT]
ReserveReplacementArg = Annotated[ReserveReplacementInput, WHAT]
CancelReturnArg = Annotated[CancelReturnInput, WHAT]
AddCaseNoteArg = Annotated[AddCaseNoteInput, WHAT]


@strawberry.type(description="Change the systems of record through durable, idempotent workflows.")
class Mutation:
    """The mutation root."""

    @strawberry.mutation(description="Start a return of delivered lines (refund, replacement or store credit).")
    async def initiate_return(self, info: GraphInfo, input: InitiateReturnArg) -> InitiateReturnPayload:
        return await initiate_return(info, input)

    @strawberry.mutation(description="Refund money against an order without a return (goodwill).")
    async def request_refund(self, info: GraphInfo, input: RequestRefundArg) -> RequestRefundPayload:
        return await request_refund(info, input)

    @strawberry.mutation(description="Approve or reject a refund waiting for a supervisor.")
    async def approve_refund(self, info: GraphInfo, input: ApproveRefundArg) -> ApproveRefundPayload:
        return await approve_refund(info, input)

    @strawberry.mutation(description="Reserve replacement stock at a location and order it for the customer.")
    async def reserve_replacement(
        self, info: GraphInfo, input: ReserveReplacementArg
    ) -> ReserveReplacementPayload:
        return await reserve_replacement(info, input)

    @strawberry.mutation(description="Cancel a return that has not been received or settled.")
    async def cancel_return(self, info: GraphInfo, input: CancelReturnArg) -> CancelReturnPayload:
        return await cancel_return(info, input)

    @strawberry.mutation(description="Add a note to a case's timeline.")
    async def add_case_note(self, info: GraphInfo, input: AddCaseNoteArg) -> AddCaseNotePayload:
        return await add_case_note(info, input)


__all__ = ["Mutation", "UserError", "UserErrorCode"]
