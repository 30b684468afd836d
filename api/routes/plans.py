"""/v1 plans (FHIR CarePlan): draft from scores, edit, approve into homework, follow up."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.auth.dependencies import require
from api.auth.tokens import Principal
from api.persistence import DbSession
from api.routes.common import IdempotencyKey, idempotent, problems
from api.services import plans
from integrations.careplan import care_plan
from schemas.plan import DraftRequest, PlanApproved, PlanEdit, PlanPublic

router = APIRouter(prefix="/v1", tags=["plans"])

IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=500,
        description="the ETag you read; if the plan changed since, 412 and nothing is changed",
    ),
]
_ETAG = {"ETag": {"description": "the version's entity tag, for If-Match"}}


def _answer(model: BaseModel, version: object, status: int = 200) -> JSONResponse:
    assert isinstance(version, plans.PlanVersion)
    return JSONResponse(
        model.model_dump(mode="json"), status_code=status, headers={"ETag": plans.etag(version)}
    )


def _tagged(response: JSONResponse, made: list[plans.PlanVersion]) -> JSONResponse:
    """The version's ETag on a fresh answer (a replay answers as first given, untagged)."""
    if made:
        response.headers["ETag"] = plans.etag(made[0])
    return response


@router.post(
    "/couples/{couple_id}/plans/draft",
    status_code=201,
    response_model=PlanPublic,
    responses=problems(404, 409, 422) | {201: {"headers": _ETAG}},
    summary="Draft a plan from the partners' latest balance assessments (nothing is assigned)",
    description="Each proposed activity carries the reasons it was chosen, with the figures "
    '("detachment 68 is many-signs (>= 60)"); each goal names the band it aims at. '
    "See docs/clinical-rules.md.",
)
def draft_plan(
    request: Request,
    couple_id: uuid.UUID,
    session: DbSession,
    _: Annotated[Principal, Depends(require("CarePlan.c"))],
    body: Annotated[DraftRequest | None, Body()] = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    options = body or DraftRequest()
    made: list[plans.PlanVersion] = []

    def produce() -> tuple[int, PlanPublic]:
        share = request.app.state.settings.partners_differ_share
        made.append(plans.draft(session, couple_id, options, share))
        return 201, plans.public(session, made[0])

    return _tagged(idempotent(request, session, idempotency_key, options, produce), made)


@router.get(
    "/couples/{couple_id}/plans",
    response_model=list[PlanPublic],
    responses=problems(404),
    summary="A couple's plans, each at its latest version, newest first",
)
def couple_plans(
    couple_id: uuid.UUID,
    session: DbSession,
    _: Annotated[Principal, Depends(require("CarePlan.s"))],
) -> list[PlanPublic]:
    return plans.couple_plans(session, couple_id)


@router.get(
    "/plans/{plan_id}",
    response_model=PlanPublic,
    responses=problems(404) | {200: {"headers": _ETAG}},
    summary="A plan's latest version, with adherence per activity and partner, and the "
    "change in the targeted scales once a re-assessment is in",
)
def read_plan(
    plan_id: uuid.UUID,
    session: DbSession,
    _: Annotated[Principal, Depends(require("CarePlan.r"))],
) -> JSONResponse:
    version = plans.version_of(session, plan_id)
    return _answer(plans.public(session, version), version)


@router.get(
    "/plans/{plan_id}/versions/{version}",
    response_model=PlanPublic,
    responses=problems(404) | {200: {"headers": _ETAG}},
    summary="One version of a plan, as it was approved (or drafted)",
)
def read_plan_version(
    plan_id: uuid.UUID,
    version: Annotated[int, Path(ge=1, le=1_000_000)],
    session: DbSession,
    _: Annotated[Principal, Depends(require("CarePlan.r"))],
) -> JSONResponse:
    found = plans.version_of(session, plan_id, version)
    return _answer(plans.public(session, found), found)


@router.get(
    "/plans/{plan_id}/careplan",
    responses=problems(404)
    | {200: {"content": {"application/fhir+json": {}}, "description": "a FHIR R4 CarePlan"}},
    response_class=JSONResponse,
    summary="The plan as a FHIR R4 CarePlan (the latest version, or `?version=n`)",
    description="Goals are contained Goal resources; each activity carries its instructions, "
    "partners, cadence (Timing), reasons and adherence so far.",
)
def read_care_plan(
    plan_id: uuid.UUID,
    session: DbSession,
    _: Annotated[Principal, Depends(require("CarePlan.r"))],
    version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
) -> JSONResponse:
    found = plans.version_of(session, plan_id, version)
    return JSONResponse(
        care_plan(plans.public(session, found)),
        media_type="application/fhir+json",
        headers={"ETag": plans.etag(found)},
    )


@router.patch(
    "/plans/{plan_id}",
    response_model=PlanPublic,
    responses=problems(404, 412, 422) | {200: {"headers": _ETAG}},
    summary="Edit a plan: dates, note, activities added, changed or removed",
    description="A draft is edited in place. An approved plan is never rewritten: the edit "
    "makes the next version, a draft, which takes effect when approved. Send If-Match "
    "with the ETag you read; a stale one gets 412.",
)
def edit_plan(
    plan_id: uuid.UUID,
    body: PlanEdit,
    session: DbSession,
    _: Annotated[Principal, Depends(require("CarePlan.u"))],
    if_match: IfMatch = None,
) -> JSONResponse:
    version = plans.edit(session, plan_id, body, if_match)
    return _answer(plans.public(session, version), version)


@router.post(
    "/plans/{plan_id}/approve",
    response_model=PlanApproved,
    responses=problems(404, 409, 412, 422) | {200: {"headers": _ETAG}},
    summary="Approve the latest version: its homework and re-assessment are assigned",
    description="Each activity becomes assignments for its partners on its cadence (answered "
    "with the homework log); the review date becomes a balance assessment for both. Each "
    "partner's portal link is returned once. Approving a later version cancels the earlier "
    "one's homework still open from today on.",
)
def approve_plan(
    request: Request,
    plan_id: uuid.UUID,
    session: DbSession,
    caller: Annotated[Principal, Depends(require("CarePlan.u"))],
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    settings = request.app.state.settings
    approved: list[plans.PlanVersion] = []

    def produce() -> tuple[int, PlanApproved]:
        version, links, made = plans.approve(session, settings, plan_id, caller.client_id, if_match)
        approved.append(version)
        return 200, plans.approved(session, version, links, made)

    return _tagged(idempotent(request, session, idempotency_key, None, produce), approved)
