"""The couple report inside the practice system: a short-lived signed link
(`POST /v1/couples/{id}/report-link`) to a page made for an iframe
(`GET /embed/couples/{id}/report?token=...`).

The page needs no script and sets no cookie; the link's token is its only
credential. Pages that refuse (a missing, expired or altered token, another
couple's page) are plain and say no more than that.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse

from api import i18n
from api.auth.dependencies import require
from api.auth.tokens import Principal
from api.persistence import DbSession
from api.persistence.connection import writing_connection
from api.routes.common import IdempotencyKey, idempotent, problems
from api.services import alerts, embed
from api.services.embed import ReportLink
from schemas.base import utcnow

router = APIRouter()


@router.post(
    "/v1/couples/{couple_id}/report-link",
    response_model=ReportLink,
    status_code=201,
    tags=["insight"],
    responses=problems(404),
    summary="A short-lived signed link to the couple's report, for an iframe",
    description="The URL opens `GET /embed/couples/{id}/report` for 10 minutes by default "
    "(TANDEM_REPORT_LINK_MINUTES). Only pages of the clinic's embed origins "
    "(`tandem clinic origins`) may frame it. It carries private answers and every flag, "
    "like the couple report.",
)
def report_link(
    request: Request,
    couple_id: uuid.UUID,
    session: DbSession,
    _: Annotated[Principal, Depends(require("QuestionnaireResponse.r"))],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    settings = request.app.state.settings

    def produce() -> tuple[int, ReportLink]:
        return 201, embed.issue_report_link(session, settings, couple_id)

    return idempotent(request, session, idempotency_key, None, produce)


def _html(words: str) -> dict[str, Any]:
    return {"description": words, "content": {"text/html": {"schema": {"type": "string"}}}}


@router.get(
    "/embed/couples/{couple_id}/report",
    response_class=HTMLResponse,
    tags=["embed"],
    responses={
        200: _html("the report page"),
        401: _html("a plain page: the link is missing, expired or not genuine"),
        403: _html("a plain page: the link is for another couple"),
        404: _html("a plain page: the couple is no longer there"),
    },
    summary="The couple's report as a page for an iframe (open it with a report link)",
    description="Server-rendered HTML: the couple report, the balance map and each "
    "partner's trends (inline SVG with text alternatives), the couple's open alerts and "
    "the plan's adherence. No script, no cookies; `Content-Security-Policy: "
    "frame-ancestors` lists the clinic's embed origins ('none' without any), "
    "`Referrer-Policy: no-referrer`, `Cache-Control: no-store`. Prints with each partner "
    "on a page of their own.",
)
async def embedded_report(
    request: Request,
    couple_id: str,
    session: DbSession,
    token: Annotated[
        str | None, Query(description="the token of a link from POST .../report-link")
    ] = None,
) -> HTMLResponse:
    settings = request.app.state.settings
    translator = i18n.translation_for(request)
    try:
        access = embed.open_report_link(token, couple_id, settings)
    except embed.ReportRefused as refused:
        page = await run_in_threadpool(embed.refusal, session, refused, translator)
    else:
        async with writing_connection(request, access.clinic_id) as connection:
            await alerts.sweep(connection, utcnow().date(), settings.overdue_after_days)
        page = await run_in_threadpool(embed.report, session, access, settings, translator)
    return HTMLResponse(page.html, status_code=page.status, headers=page.headers())
