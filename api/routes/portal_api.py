"""/portal/api: the client's side, authorised by their portal link's token.

A client sees only their own assignments; their partner's are not found.
These handlers are coroutines on a clinic connection (the hot path; see
`api.persistence.connection`).
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Body, Response

from api.auth.dependencies import Portal
from api.routes.common import JSON, problems
from api.routes.direct import DirectRoute
from api.services import portal
from schemas.assignment import HomeworkLog, PortalAssignment, PortalQuestionnaire
from schemas.response import PortalSaved, PortalSubmitted

router = APIRouter(prefix="/portal/api", tags=["portal"])

_QR = Body(
    description="a FHIR QuestionnaireResponse naming the assignment's Questionnaire (url|version)",
    examples=[{"resourceType": "QuestionnaireResponse", "status": "in-progress", "item": []}],
)


async def submit_my_response(
    assignment_id: uuid.UUID,
    call: Portal,
    questionnaire_response: dict[str, Any] = _QR,
) -> Response:
    submitted = await portal.submit(
        call.connection, call.visitor, assignment_id, questionnaire_response
    )
    return Response(submitted.model_dump_json(), media_type=JSON)


# The submission first: a request is tried against the routes in this order (see
# api/app.py). Every client submits through it: called without FastAPI's dependency
# solving (see api.routes.direct).
router.add_api_route(
    "/assignments/{assignment_id}/submit",
    submit_my_response,
    methods=["POST"],
    response_model=PortalSubmitted,
    responses=problems(404, 409, 422),
    summary="Submit the completed response: validated and scored, or every problem listed",
    route_class_override=DirectRoute,
)


@router.get(
    "/assignments",
    response_model=list[PortalAssignment],
    responses=problems(),
    summary="My open assignments",
)
async def my_assignments(call: Portal) -> list[PortalAssignment]:
    return await portal.open_assignments(call.connection, call.visitor)


@router.get(
    "/assignments/{assignment_id}/questionnaire",
    response_model=PortalQuestionnaire,
    responses=problems(404),
    summary="The questionnaire to fill in, with any answers saved so far",
)
async def my_questionnaire(assignment_id: uuid.UUID, call: Portal) -> PortalQuestionnaire:
    return await portal.questionnaire_for(call.connection, call.visitor, assignment_id)


@router.put(
    "/assignments/{assignment_id}/response",
    response_model=PortalSaved,
    responses=problems(404, 409, 422),
    summary="Save answers so far (status in-progress) to resume later",
)
async def save_my_response(
    assignment_id: uuid.UUID,
    call: Portal,
    questionnaire_response: dict[str, Any] = _QR,
) -> PortalSaved:
    return await portal.save_progress(
        call.connection, call.visitor, assignment_id, questionnaire_response
    )


@router.post(
    "/assignments/{assignment_id}/log",
    response_model=PortalSubmitted,
    responses=problems(404, 409, 422),
    summary="Log a piece of homework from my plan: done, minutes, a reflection",
    description="Recorded as a completed homework-log QuestionnaireResponse. The reflection "
    "is private: your counsellor reads it, your partner never does.",
)
async def log_my_homework(
    assignment_id: uuid.UUID, call: Portal, log: HomeworkLog
) -> PortalSubmitted:
    return await portal.log_homework(call.connection, call.visitor, assignment_id, log)
