"""/v1/instruments: the questionnaires a clinic can assign."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.auth.dependencies import require
from api.auth.tokens import Principal
from api.persistence import DbSession
from api.routes.common import problems
from api.services import instruments
from schemas.instrument import InstrumentDetail, InstrumentSummary

router = APIRouter(prefix="/v1", tags=["instruments"])


@router.get(
    "/instruments",
    response_model=list[InstrumentSummary],
    responses=problems(),
    summary="List the instruments the clinic can assign, every version",
)
def list_instruments(
    session: DbSession, _: Annotated[Principal, Depends(require("Questionnaire.s"))]
) -> list[InstrumentSummary]:
    return instruments.list_instruments(session)


@router.get(
    "/instruments/{slug}",
    response_model=InstrumentDetail,
    responses=problems(404),
    summary="Read an instrument with its FHIR Questionnaire (the newest version unless asked)",
)
def read_instrument(
    slug: str,
    session: DbSession,
    _: Annotated[Principal, Depends(require("Questionnaire.r"))],
    version: Annotated[str | None, Query(description="a version; the newest if left out")] = None,
) -> InstrumentDetail:
    reference = f"{slug}|{version}" if version else slug
    return instruments.instrument_detail(session, reference)
