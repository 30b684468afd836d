"""RFC 9457 problem+json for `/v1` and everything outside `/fhir`; OperationOutcome under `/fhir`.

Every error leaves through here: domain errors, request validation and unknown
routes through the handlers below; unexpected exceptions through
`api.middleware.RequestContext`, which answers with `internal_error`. A 500
never carries the exception's text: it is logged (type and stack, not the
message, which may hold PHI) under the request id, and the body gives that id.
"""

from __future__ import annotations

import json
import logging
import traceback
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.errors import FieldProblem, TandemError
from integrations.fhir import FHIR_JSON
from integrations.fhir.outcome import Issue, issue_code, operation_outcome, pointer_to_expression

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://tandem.dev/problems/"

log = logging.getLogger("tandem.errors")


class FieldError(BaseModel):
    pointer: str | None = Field(
        default=None, description="JSON pointer to the bad member of the request body"
    )
    parameter: str | None = Field(
        default=None, description="the bad query, path or header parameter"
    )
    detail: str
    code: str | None = None


class Problem(BaseModel):
    """An RFC 9457 problem detail."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldError] = []


def problem_response(
    request: Request,
    status: int,
    title: str,
    slug: str,
    detail: str | None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    if is_fhir(request.url.path):
        return JSONResponse(
            outcome_of(status, detail or title, errors or [], _resource_type(request.url.path)),
            status_code=status,
            media_type=FHIR_JSON,
            headers=headers,
        )
    body = Problem(
        type=PROBLEM_BASE + slug,
        title=title,
        status=status,
        detail=detail,
        instance=request.url.path,
        request_id=getattr(request.state, "request_id", None),
        errors=errors or [],
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def is_fhir(path: str) -> bool:
    return path == "/fhir" or path.startswith("/fhir/")


def _resource_type(path: str) -> str | None:
    """The resource type a /fhir path is about (`/fhir/Patient/1` -> Patient)."""
    parts = path.split("/")
    return parts[2] if len(parts) > 2 and parts[2][:1].isupper() else None


def outcome_of(
    status: int, detail: str, errors: list[FieldError], resource_type: str | None = None
) -> dict[str, Any]:
    """The OperationOutcome for an error under /fhir: the whole error first, then one
    issue per bad field, placed by `expression`: a parameter's name, or a path into the
    resource sent (`Patient.identifier[0]`)."""
    code = issue_code(status)
    severity = "fatal" if status >= 500 else "error"
    issues = [Issue(detail, code, severity)]
    for error in errors:
        where = error.parameter
        if where is None and error.pointer is not None:
            path = pointer_to_expression(error.pointer)
            where = ".".join(part for part in (resource_type, path) if part) or None
        issues.append(Issue(error.detail, code, severity, where))
    return operation_outcome(issues)


def _field_error(problem: FieldProblem) -> FieldError:
    pointer = None if problem.pointer is None else "#" + problem.pointer
    return FieldError(
        pointer=pointer, parameter=problem.parameter, detail=problem.detail, code=problem.code
    )


async def _tandem_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, TandemError)
    return problem_response(
        request,
        error.status,
        error.title,
        error.slug,
        error.detail,
        [_field_error(p) for p in error.errors],
        headers=error.headers or None,
    )


def _validation_field(error: dict[str, Any]) -> FieldError:
    location = [str(part) for part in error.get("loc", ())]
    message = error.get("msg", "invalid")
    if location and location[0] == "body":
        return FieldError(
            pointer="#/" + "/".join(location[1:]), detail=message, code=error.get("type")
        )
    name = location[1] if len(location) > 1 else (location[0] if location else None)
    return FieldError(parameter=name, detail=message, code=error.get("type"))


async def _request_validation(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    fields = [_validation_field(e) for e in error.errors()]
    return problem_response(
        request,
        422,
        "Invalid input",
        "invalid-input",
        f"{len(fields)} field(s) are invalid",
        fields,
    )


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    titles = {404: "Not found", 405: "Method not allowed", 413: "Payload too large"}
    title = titles.get(error.status_code, "Error")
    slug = title.lower().replace(" ", "-")
    detail = error.detail if isinstance(error.detail, str) else None
    if error.status_code == 404 and detail == "Not Found":
        detail = f"nothing at {request.url.path}"
    return problem_response(
        request, error.status_code, title, slug, detail, headers=getattr(error, "headers", None)
    )


def internal_error(path: str, request_id: str) -> tuple[bytes, str]:
    """The body and media type of a 500: a generic message and the request id, nothing more."""
    message = f"Something went wrong on our side. Quote request id {request_id} when reporting it."
    if is_fhir(path):
        return json.dumps(outcome_of(500, message, [])).encode(), FHIR_JSON
    body = Problem(
        type=PROBLEM_BASE + "internal-error",
        title="Internal error",
        status=500,
        detail=(
            f"Something went wrong on our side. Quote request id {request_id} when reporting it."
        ),
        instance=path,
        request_id=request_id,
    )
    return body.model_dump_json(exclude_none=True).encode(), PROBLEM_JSON


def payload_too_large(path: str, max_bytes: int) -> tuple[bytes, str]:
    """The body and media type of a 413 for a request body over the limit."""
    if is_fhir(path):
        message = f"the request body is larger than the limit of {max_bytes} bytes"
        return json.dumps(outcome_of(413, message, [])).encode(), FHIR_JSON
    body = Problem(
        type=PROBLEM_BASE + "payload-too-large",
        title="Payload too large",
        status=413,
        detail=f"the request body is larger than the limit of {max_bytes} bytes",
        instance=path,
    )
    return body.model_dump_json(exclude_none=True).encode(), PROBLEM_JSON


def log_unexpected(error: BaseException, request_id: str) -> None:
    """Log an unexpected exception by type and stack only: its message may hold PHI."""
    frames = "".join(traceback.format_tb(error.__traceback__))
    log.error("unhandled %s in request %s\n%s", type(error).__name__, request_id, frames)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(TandemError, _tandem_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)
