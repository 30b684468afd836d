"""/v1/assignments: give homework, follow it, change or cancel it, manage its portal links."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from api.auth.dependencies import caller_for, connection_for, require
from api.auth.tokens import Principal
from api.pagination import DEFAULT_LIMIT
from api.persistence import DbSession
from api.persistence.connection import ClinicConnection, reading_connection
from api.routes.common import JSON, Cursor, IdempotencyKey, Limit, idempotent, problems
from api.services import assignments
from schemas import AssignmentStatus
from schemas.assignment import (
    AssignmentCreate,
    AssignmentPage,
    AssignmentPublic,
    AssignmentsCreated,
    AssignmentUpdate,
    LinksRevoked,
    PortalLinkIssued,
)
from schemas.base import Instant

router = APIRouter(prefix="/v1", tags=["assignments"])


@router.post(
    "/assignments",
    response_model=AssignmentsCreated,
    status_code=201,
    responses=problems(422),
    summary="Assign an instrument to a client, or to both partners of a couple",
    description="One assignment per client, each with its own `portal_url` for that client. "
    "The URL's token is shown here once and stored only as a hash.",
)
def create_assignments(
    request: Request,
    body: AssignmentCreate,
    session: DbSession,
    _: Annotated[Principal, Depends(require("Task.c"))],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    settings = request.app.state.settings

    def produce() -> tuple[int, AssignmentsCreated]:
        return 201, AssignmentsCreated(assignments=assignments.assign(session, settings, body))

    return idempotent(request, session, idempotency_key, body, produce)


@router.get(
    "/assignments",
    response_model=AssignmentPage,
    responses=problems(422),
    summary="List assignments in the order their changes committed (for polling)",
    description="Poll with `next_cursor`: it marks where you stopped, and a later call with it "
    "returns exactly the changes committed since, never skipping one. `updated_since` "
    "(inclusive) narrows by time.",
)
async def list_assignments(
    request: Request,
    caller: Annotated[Principal, Depends(caller_for("Task.s"))],
    status: AssignmentStatus | None = None,
    client_id: uuid.UUID | None = None,
    couple_id: uuid.UUID | None = None,
    updated_since: Annotated[Instant | None, Query(description="ISO 8601 with a time zone")] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Response:
    async with reading_connection(request, caller.clinic_id) as connection:
        page = await assignments.list_assignments(
            connection,
            status=status,
            client_id=client_id,
            couple_id=couple_id,
            updated_since=updated_since,
            cursor=cursor,
            limit=limit,
        )
    return Response(page, media_type=JSON)


@router.get(
    "/assignments/{assignment_id}",
    response_model=AssignmentPublic,
    responses=problems(404),
    summary="Read an assignment",
)
async def read_assignment(
    assignment_id: uuid.UUID,
    connection: Annotated[ClinicConnection, Depends(connection_for("Task.r"), scope="function")],
) -> AssignmentPublic:
    return await assignments.read_assignment(connection, assignment_id)


@router.patch(
    "/assignments/{assignment_id}",
    response_model=AssignmentPublic,
    responses=problems(404, 409, 422),
    summary="Change the due date or note, or cancel (its links stop working)",
)
def update_assignment(
    assignment_id: uuid.UUID,
    body: AssignmentUpdate,
    session: DbSession,
    _: Annotated[Principal, Depends(require("Task.u"))],
) -> AssignmentPublic:
    return assignments.update_assignment(session, assignment_id, body)


@router.post(
    "/assignments/{assignment_id}/revoke-link",
    response_model=LinksRevoked,
    responses=problems(404),
    summary="Revoke the portal links of the assignment's client (any of them opens it)",
    description="A portal link opens all of its client's open assignments, so revoking "
    "cuts the client off entirely; send a new link with `new-link` when needed.",
)
def revoke_link(
    request: Request,
    assignment_id: uuid.UUID,
    session: DbSession,
    _: Annotated[Principal, Depends(require("Task.u"))],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    def produce() -> tuple[int, LinksRevoked]:
        return 200, assignments.revoke_assignment_links(session, assignment_id)

    return idempotent(request, session, idempotency_key, None, produce)


@router.post(
    "/assignments/{assignment_id}/new-link",
    response_model=PortalLinkIssued,
    status_code=201,
    responses=problems(404, 409),
    summary="Make a new portal link for the assignment (earlier links stop working)",
)
def new_link(
    request: Request,
    assignment_id: uuid.UUID,
    session: DbSession,
    _: Annotated[Principal, Depends(require("Task.u"))],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    settings = request.app.state.settings

    def produce() -> tuple[int, PortalLinkIssued]:
        return 201, assignments.new_assignment_link(session, settings, assignment_id)

    return idempotent(request, session, idempotency_key, None, produce)
