"""/v1/responses and /v1/clients/{id}/results: scored answers for the practice system."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from api.auth.dependencies import caller_for, require
from api.auth.tokens import Principal
from api.persistence import DbSession
from api.persistence.connection import reading_connection
from api.routes.common import JSON, problems
from api.routes.direct import DirectRoute
from api.services import responses
from schemas.response import ResponsePublic, ResultSeries, TrendReport

router = APIRouter(prefix="/v1", tags=["results"])


async def read_response(
    response_id: uuid.UUID,
    request: Request,
    caller: Annotated[Principal, Depends(caller_for("QuestionnaireResponse.r"))],
) -> Response:
    async with reading_connection(request, caller.clinic_id) as connection:
        return Response(await responses.response_view(connection, response_id), media_type=JSON)


# The hottest read: called without FastAPI's dependency solving (see api.routes.direct).
router.add_api_route(
    "/responses/{response_id}",
    read_response,
    methods=["GET"],
    response_model=ResponsePublic,
    responses=problems(404),
    summary="Read a response with its scores and flags (the counsellor's view)",
    route_class_override=DirectRoute,
)


@router.get(
    "/clients/{client_id}/results",
    response_model=ResultSeries,
    responses=problems(404),
    summary="A client's scores on one instrument over time",
)
def client_results(
    client_id: uuid.UUID,
    session: DbSession,
    _: Annotated[Principal, Depends(require("Observation.s"))],
    instrument: Annotated[str, Query(description="slug (every version), url, or url|version")],
) -> ResultSeries:
    return responses.client_results(session, client_id, instrument)


@router.get(
    "/clients/{client_id}/trends",
    response_model=TrendReport,
    responses=problems(404),
    summary="Each scale over time, with reliable change (Jacobson-Truax) to the latest",
    description="First to latest and previous to latest, classified as recovered, reliably "
    "improved or deteriorated, no reliable change, or not computable (with the reason: "
    "Tandem's own scales have no published SD and reliability yet).",
)
def client_trends(
    client_id: uuid.UUID,
    session: DbSession,
    _: Annotated[Principal, Depends(require("Observation.s"))],
    instrument: Annotated[str, Query(description="slug (every version), url, or url|version")],
) -> TrendReport:
    return responses.client_trends(session, client_id, instrument)
