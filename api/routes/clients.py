"""/v1/clients and /v1/couples: the people in care, by the practice system's identifiers."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from api.auth.dependencies import demand, require
from api.auth.tokens import Principal
from api.pagination import DEFAULT_LIMIT
from api.persistence import DbSession
from api.routes.common import Cursor, IdempotencyKey, Limit, idempotent, problems
from api.services import clients
from schemas.clinic import ClientCreate, ClientPage, ClientPublic, CoupleCreate, CouplePublic

router = APIRouter(prefix="/v1", tags=["clients and couples"])


@router.post(
    "/clients",
    response_model=ClientPublic,
    status_code=201,
    responses={
        200: {"model": ClientPublic, "description": "a client with this identifier already exists"},
        **problems(422),
    },
    summary="Create a client, or find the one with this identifier",
)
def create_client(
    request: Request,
    body: ClientCreate,
    session: DbSession,
    caller: Annotated[Principal, Depends(require("Patient.c"))],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    def produce() -> tuple[int, ClientPublic]:
        client, created = clients.register_client(session, body)
        if not created:
            demand(caller, "Patient.r")  # answering with a found client is a read
        return (201 if created else 200), client

    return idempotent(request, session, idempotency_key, body, produce)


@router.get(
    "/clients",
    response_model=ClientPage,
    responses=problems(422),
    summary="List clients, or find one by identifier",
)
def list_clients(
    session: DbSession,
    _: Annotated[Principal, Depends(require("Patient.s"))],
    identifier: Annotated[
        str | None,
        Query(description="system|value", examples=["https://pm.example/clients|C-1042"]),
    ] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> ClientPage:
    return clients.find_clients(session, identifier, cursor, limit)


@router.get(
    "/clients/{client_id}",
    response_model=ClientPublic,
    responses=problems(404),
    summary="Read a client",
)
def read_client(
    client_id: uuid.UUID,
    session: DbSession,
    _: Annotated[Principal, Depends(require("Patient.r"))],
) -> ClientPublic:
    return clients.get_client(session, client_id)


@router.post(
    "/couples",
    response_model=CouplePublic,
    status_code=201,
    responses={
        200: {
            "model": CouplePublic,
            "description": "a couple with this identifier and these members exists",
        },
        **problems(409, 422),
    },
    summary="Make a couple of two clients",
)
def create_couple(
    request: Request,
    body: CoupleCreate,
    session: DbSession,
    caller: Annotated[Principal, Depends(require("Group.c"))],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    def produce() -> tuple[int, CouplePublic]:
        couple, created = clients.register_couple(session, body)
        if not created:
            demand(caller, "Group.r")  # answering with a found couple is a read
        return (201 if created else 200), couple

    return idempotent(request, session, idempotency_key, body, produce)


@router.get(
    "/couples/{couple_id}",
    response_model=CouplePublic,
    responses=problems(404),
    summary="Read a couple",
)
def read_couple(
    couple_id: uuid.UUID,
    session: DbSession,
    _: Annotated[Principal, Depends(require("Group.r"))],
) -> CouplePublic:
    return clients.get_couple(session, couple_id)
