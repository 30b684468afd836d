"""/portal/api: the client's side, authorised by their portal link's token.

A client sees only their own assignments; their partner's are not found.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Body

from api.auth.dependencies import Visitor
from api.persistence import DbSession
from api.routes.common import problems
from api.services import portal
from schemas.assignment import PortalAssignment, PortalQuestionnaire
from schemas.response import PortalSaved, PortalSubmitted

router = APIRouter(prefix="/portal/api", tags=["portal"])

_QR = Body(
    description="a FHIR QuestionnaireResponse naming the assignment's Questionnaire (url|version)",
    examples=[{"resourceType": "QuestionnaireResponse", "status": "in-progress", "item": []}],
)


@router.get(
    "/assignments",
    response_model=list[PortalAssignment],
    responses=problems(),
    summary="My open assignments",
)
def my_assignments(session: DbSession, visitor: Visitor) -> list[PortalAssignment]:
    return portal.open_assignments(session, visitor)


@router.get(
    "/assignments/{assignment_id}/questionnaire",
    response_model=PortalQuestionnaire,
    responses=problems(404),
    summary="The questionnaire to fill in, with any answers saved so far",
)
def my_questionnaire(
    assignment_id: uuid.UUID, session: DbSession, visitor: Visitor
) -> PortalQuestionnaire:
    return portal.questionnaire_for(session, visitor, assignment_id)


@router.put(
    "/assignments/{assignment_id}/response",
    response_model=PortalSaved,
    responses=problems(404, 409, 422),
    summary="Save answers so far (status in-progress) to resume later",
)
def save_my_response(
    assignment_id: uuid.UUID,
    session: DbSession,
    visitor: Visitor,
    questionnaire_response: dict[str, Any] = _QR,
) -> PortalSaved:
    return portal.save_progress(session, visitor, assignment_id, questionnaire_response)


@router.post(
    "/assignments/{assignment_id}/submit",
    response_model=PortalSubmitted,
    responses=problems(404, 409, 422),
    summary="Submit the completed response: validated and scored, or every problem listed",
)
def submit_my_response(
    assignment_id: uuid.UUID,
    session: DbSession,
    visitor: Visitor,
    questionnaire_response: dict[str, Any] = _QR,
) -> PortalSubmitted:
    return portal.submit(session, visitor, assignment_id, questionnaire_response)
