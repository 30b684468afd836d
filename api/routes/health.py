from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from api import __version__
from api.services.health import check_health

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    version: str
    database: Literal["ok", "unreachable"]
    migrations: Literal["current", "pending", "unknown"]


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": Health, "description": "database unreachable or schema not current"}},
    summary="Liveness and readiness: the database answers and its schema is current",
)
def health(request: Request, response: Response) -> Health:
    report = check_health(request.app.state.engine)
    if not report.healthy:
        response.status_code = 503
    return Health(
        status="ok" if report.healthy else "unavailable",
        version=__version__,
        database=report.database,  # type: ignore[arg-type]
        migrations=report.migrations,  # type: ignore[arg-type]
    )
