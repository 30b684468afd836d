"""/v1/alerts: what needs the counsellor's attention, highest priority first."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from api.auth.dependencies import require
from api.auth.tokens import Principal
from api.persistence import DbSession
from api.persistence.connection import writing_connection
from api.routes.common import IdempotencyKey, idempotent, problems
from api.services import alerts
from schemas import AlertStatus
from schemas.alert import AlertPage, AlertPublic
from schemas.base import utcnow

router = APIRouter(prefix="/v1", tags=["insight"])


@router.get(
    "/alerts",
    response_model=AlertPage,
    responses=problems(422),
    summary="Alerts, highest priority first (safety is 1)",
    description="Safety answers and reliable deterioration are raised as they are recorded; "
    "overdue homework (more than 2 days past due by default, TANDEM_OVERDUE_AFTER_DAYS) and "
    "three weekly check-ins missed in a row are brought up to date when the alerts are "
    "listed. Each is stored once.",
)
async def list_alerts(
    request: Request,
    session: DbSession,
    caller: Annotated[Principal, Depends(require("Flag.s"))],
    status: AlertStatus | None = None,
) -> AlertPage:
    async with writing_connection(request, caller.clinic_id) as connection:
        settings = request.app.state.settings
        await alerts.sweep(connection, utcnow().date(), settings.overdue_after_days)
    return await run_in_threadpool(alerts.list_alerts, session, status)


@router.post(
    "/alerts/{alert_id}/acknowledge",
    response_model=AlertPublic,
    responses=problems(404),
    summary="Acknowledge an alert (records which integration did, and when)",
)
def acknowledge_alert(
    request: Request,
    alert_id: uuid.UUID,
    session: DbSession,
    caller: Annotated[Principal, Depends(require("Flag.u"))],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    def produce() -> tuple[int, AlertPublic]:
        return 200, alerts.acknowledge(session, alert_id, caller.client_id)

    return idempotent(request, session, idempotency_key, None, produce)
