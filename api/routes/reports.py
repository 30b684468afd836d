"""/v1/couples/{id}/report: the counsellor's view of a couple."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from api.auth.dependencies import require
from api.auth.tokens import Principal
from api.persistence import DbSession
from api.routes.common import problems
from api.services import reports
from schemas.report import CoupleReport

router = APIRouter(prefix="/v1", tags=["insight"])


@router.get(
    "/couples/{couple_id}/report",
    response_model=CoupleReport,
    responses=problems(404, 422),
    summary="Both partners' balance side by side, the patterns between them, recent check-ins",
    description="For the counsellor only: it includes private answers (the check-in's need "
    "text) and every flag. Partners differ on a scale at 15% of its range by default (15 "
    "points on 0-100; TANDEM_PARTNERS_DIFFER_SHARE); see docs/clinical-rules.md for every rule.",
)
def couple_report(
    request: Request,
    couple_id: uuid.UUID,
    session: DbSession,
    _: Annotated[Principal, Depends(require("QuestionnaireResponse.r"))],
    weeks: Annotated[
        int, Query(ge=1, le=52, description="check-ins of the last so many weeks (default 8)")
    ] = 8,
) -> CoupleReport:
    share = request.app.state.settings.partners_differ_share
    return reports.couple_report(session, couple_id, weeks, share)
