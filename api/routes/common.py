"""What the /v1 routes share: documented error responses, paging parameters, idempotent POSTs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Header, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlmodel import Session

from api.pagination import DEFAULT_LIMIT, MAX_LIMIT
from api.problems import PROBLEM_JSON, Problem
from api.services import idempotency

JSON = "application/json"  # bodies a hot route writes itself, already JSON

_DESCRIPTIONS = {
    400: "malformed request",
    401: "missing, expired or invalid access token",
    403: "the token lacks the scope this operation needs",
    404: "no such resource in the caller's clinic",
    409: "the resource's state does not allow this",
    412: "If-Match names a version that is no longer current: read it again",
    413: "request body too large",
    422: "invalid input: every bad field is named with a JSON pointer",
}


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these problem+json statuses (401, 403, 413 are always added)."""
    every = sorted({*codes, 401, 403, 413})
    return {
        code: {
            "model": Problem,
            "description": _DESCRIPTIONS[code],
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for code in every
    }


Limit = Annotated[
    int,
    Query(ge=1, le=MAX_LIMIT, description=f"page size (default {DEFAULT_LIMIT}, max {MAX_LIMIT})"),
]
Cursor = Annotated[str | None, Query(description="`next_cursor` of the previous page")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="retrying with the same key and body returns the first answer; "
        "the same key with another body is refused (422)",
    ),
]


def idempotent(
    request: Request,
    session: Session,
    key: str | None,
    payload: BaseModel | None,
    produce: Callable[[], tuple[int, BaseModel]],
) -> JSONResponse:
    """Run `produce` once per Idempotency-Key (and body); replay its answer on retries."""
    if key is None:
        status, model = produce()
        return JSONResponse(model.model_dump(mode="json"), status_code=status)
    digest = idempotency.fingerprint(
        request.method, request.url.path, payload.model_dump_json() if payload else ""
    )
    secret = request.app.state.settings.signing_key.get_secret_value()
    stored = idempotency.replay(session, key, digest, secret)
    if stored is not None:
        status, body = stored
        return JSONResponse(body, status_code=status, headers={"Idempotent-Replayed": "true"})
    record = idempotency.claim(session, key, digest)
    status, model = produce()
    body = model.model_dump(mode="json")
    idempotency.settle(record, status, body, secret)
    return JSONResponse(body, status_code=status)
