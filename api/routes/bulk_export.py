"""/fhir: Bulk Data export (`$export`, its status and files) and `Patient/$everything`.

Included before the `fhir` router, so `/fhir/$export` and `/fhir/Patient/$export`
are not taken for a search or a read. Errors are OperationOutcomes, as
everywhere under /fhir.

The kick-off, the status and the files need a token of the clinic with
`system/<Type>.rs` for every type the export holds (`system/*.rs` for
everything); a couple's export needs `system/Group.r` as well.
"""

from __future__ import annotations

import json
from email.utils import format_datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.background import BackgroundTask

from api.auth import tokens
from api.auth.dependencies import authenticated, require
from api.errors import BadRequest, FieldProblem
from api.persistence import DbSession
from api.routes.fhir import FHIRResponse, fhir_base, outcomes
from api.services import bulk_export
from integrations.fhir import FHIR_JSON
from integrations.fhir.ndjson import EXPORT_TYPES, NDJSON, ExportError, parameters_pairs
from integrations.fhir.outcome import Issue, operation_outcome
from schemas import ExportLevel

router = APIRouter(prefix="/fhir", tags=["fhir"])


Caller = Annotated[tokens.Principal, Depends(authenticated)]

_PREFER = Header(
    alias="Prefer",
    description="respond-async (required); handling=lenient ignores parameters this server "
    "does not support instead of refusing them",
)
_KICK_OFF = {
    202: {
        "description": "queued: poll the status URL in Content-Location",
        "headers": {"Content-Location": {"description": "the status URL", "schema": {}}},
    },
    **outcomes(400, 401, 403, 404),
}
_PARAMETERS_DOC = (
    f" Parameters: `_type` (comma-separated: {', '.join(EXPORT_TYPES)}), "
    "`_since` (an instant: what changed after it), "
    "`_outputFormat` (application/fhir+ndjson, application/ndjson or ndjson). Needs "
    "`Prefer: respond-async`."
)


def _lenient(prefer: str | None) -> bool:
    """Whether the Prefer header asks for lenient handling; 400 without respond-async."""
    wanted = {part.strip().replace(" ", "") for part in (prefer or "").split(",")}
    if "respond-async" not in wanted:
        raise BadRequest(
            "$export runs asynchronously: send the header Prefer: respond-async",
            [FieldProblem.of_parameter("Prefer", "must include respond-async")],
        )
    return "handling=lenient" in wanted


async def _body_pairs(request: Request) -> list[tuple[str, str]]:
    """The kick-off's parameters: the query string, and a POST's Parameters body."""
    pairs = list(request.query_params.multi_items())
    if request.method != "POST":
        return pairs
    body = await request.body()
    if not body.strip():
        return pairs
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    if kind not in (FHIR_JSON, "application/json"):
        raise BadRequest(f"a POST $export takes a Parameters resource as {FHIR_JSON}")
    try:
        return pairs + parameters_pairs(json.loads(body))
    except json.JSONDecodeError:
        raise BadRequest("the body is not JSON") from None
    except ExportError as error:
        raise BadRequest(
            str(error), [FieldProblem.of_parameter(error.parameter, str(error))]
        ) from None


Pairs = Annotated[list[tuple[str, str]], Depends(_body_pairs)]


def _kicked_off(request: Request, job_id: Any) -> FHIRResponse:
    status_url = f"{fhir_base(request)}/$export-status/{job_id}"
    outcome = operation_outcome(
        [Issue(f"export job {job_id} queued; poll {status_url}", "informational", "information")]
    )
    worker = request.app.state.export_worker
    return FHIRResponse(
        outcome,
        status_code=202,
        headers={"Content-Location": status_url},
        # after the response, so after the commit: the worker finds the job at once
        background=None if worker is None else BackgroundTask(worker.wake),
    )


def _request_url(request: Request) -> str:
    public = request.app.state.settings.public_url.rstrip("/")
    query = request.url.query
    return f"{public}{request.url.path}" + (f"?{query}" if query else "")


def _kick_off(
    request: Request,
    session: DbSession,
    caller: tokens.Principal,
    pairs: list[tuple[str, str]],
    prefer: str | None,
    level: ExportLevel,
    group_id: str | None = None,
) -> FHIRResponse:
    lenient = _lenient(prefer)
    job = bulk_export.kick_off(
        session, caller, level, pairs, _request_url(request), lenient, group_id
    )
    return _kicked_off(request, job.id)


@router.get(
    "/$export",
    response_class=FHIRResponse,
    status_code=202,
    responses=_KICK_OFF,
    summary="Bulk Data export of the whole clinic (kick-off)",
    description="Queues an export of every resource of the clinic." + _PARAMETERS_DOC,
)
def export_system(
    request: Request,
    session: DbSession,
    caller: Caller,
    pairs: Pairs,
    prefer: Annotated[str | None, _PREFER] = None,
) -> FHIRResponse:
    return _kick_off(request, session, caller, pairs, prefer, ExportLevel.SYSTEM)


@router.post(
    "/$export",
    response_class=FHIRResponse,
    status_code=202,
    responses=_KICK_OFF,
    summary="Bulk Data export of the whole clinic (kick-off, parameters also as a Parameters body)",
)
def export_system_by_post(
    request: Request,
    session: DbSession,
    caller: Caller,
    pairs: Pairs,
    prefer: Annotated[str | None, _PREFER] = None,
) -> FHIRResponse:
    return _kick_off(request, session, caller, pairs, prefer, ExportLevel.SYSTEM)


@router.get(
    "/Patient/$export",
    response_class=FHIRResponse,
    status_code=202,
    responses=_KICK_OFF,
    summary="Bulk Data export of every client and their records (kick-off)",
    description="Queues an export of every Patient and the resources in their compartments, "
    "with the Questionnaires those answer." + _PARAMETERS_DOC,
)
def export_patients(
    request: Request,
    session: DbSession,
    caller: Caller,
    pairs: Pairs,
    prefer: Annotated[str | None, _PREFER] = None,
) -> FHIRResponse:
    return _kick_off(request, session, caller, pairs, prefer, ExportLevel.PATIENT)


@router.post(
    "/Patient/$export",
    response_class=FHIRResponse,
    status_code=202,
    responses=_KICK_OFF,
    summary="Bulk Data export of every client (kick-off, parameters also as a Parameters body)",
)
def export_patients_by_post(
    request: Request,
    session: DbSession,
    caller: Caller,
    pairs: Pairs,
    prefer: Annotated[str | None, _PREFER] = None,
) -> FHIRResponse:
    return _kick_off(request, session, caller, pairs, prefer, ExportLevel.PATIENT)


@router.get(
    "/Group/{group_id}/$export",
    response_class=FHIRResponse,
    status_code=202,
    responses=_KICK_OFF,
    summary="Bulk Data export of one couple: its two partners and their records (kick-off)",
    description="Queues an export of the Group, its members and the resources in their "
    "compartments, with the Questionnaires those answer." + _PARAMETERS_DOC,
)
def export_group(
    group_id: str,
    request: Request,
    session: DbSession,
    caller: Caller,
    pairs: Pairs,
    prefer: Annotated[str | None, _PREFER] = None,
) -> FHIRResponse:
    return _kick_off(request, session, caller, pairs, prefer, ExportLevel.GROUP, group_id)


@router.post(
    "/Group/{group_id}/$export",
    response_class=FHIRResponse,
    status_code=202,
    responses=_KICK_OFF,
    summary="Bulk Data export of one couple (kick-off, parameters also as a Parameters body)",
)
def export_group_by_post(
    group_id: str,
    request: Request,
    session: DbSession,
    caller: Caller,
    pairs: Pairs,
    prefer: Annotated[str | None, _PREFER] = None,
) -> FHIRResponse:
    return _kick_off(request, session, caller, pairs, prefer, ExportLevel.GROUP, group_id)


@router.get(
    "/$export-status/{job_id}",
    responses={
        200: {"description": "done: the manifest (application/json), with Expires"},
        202: {"description": "queued or running: X-Progress and Retry-After say how far"},
        **outcomes(401, 403, 404, 500),
    },
    summary="The status of an export: progress, or the manifest of its files",
)
def export_status(job_id: str, request: Request, session: DbSession, caller: Caller) -> Response:
    state = bulk_export.status(session, caller, job_id, fhir_base(request))
    if state.manifest is None:
        headers = {
            "X-Progress": state.progress or "",
            "Retry-After": str(bulk_export.RETRY_AFTER_SECONDS),
        }
        return Response(status_code=202, headers=headers)
    headers = {} if state.expires is None else {"Expires": format_datetime(state.expires, True)}
    return JSONResponse(state.manifest, headers=headers)


@router.delete(
    "/$export-status/{job_id}",
    response_class=FHIRResponse,
    status_code=202,
    responses=outcomes(401, 403, 404),
    summary="Cancel an export (or drop a finished one's files): later requests get 404",
)
def cancel_export(
    job_id: str, request: Request, session: DbSession, caller: Caller
) -> FHIRResponse:
    bulk_export.cancel(session, caller, job_id, request.app.state.settings.export_dir)
    outcome = operation_outcome(
        [
            Issue(
                f"export job {job_id} cancelled; its files are removed",
                "informational",
                "information",
            )
        ]
    )
    return FHIRResponse(outcome, status_code=202)


@router.get(
    "/$export-files/{job_id}/{name}",
    response_class=FileResponse,
    responses={
        200: {"description": "the file", "content": {NDJSON: {"schema": {"type": "string"}}}},
        **outcomes(401, 403, 404),
    },
    summary="One file of a finished export (ndjson: one resource per line)",
)
def export_file(
    job_id: str, name: str, request: Request, session: DbSession, caller: Caller
) -> FileResponse:
    path = bulk_export.export_file(
        session, caller, job_id, name, request.app.state.settings.export_dir
    )
    return FileResponse(path, media_type=NDJSON)


@router.get(
    "/Patient/{patient_id}/$everything",
    response_class=FHIRResponse,
    responses=outcomes(400, 401, 403, 404),
    summary="One client's record as a Bundle: Patient, couples, responses, scores, tasks, plans",
    description="`_type` (comma-separated) narrows the types, `_since` (an instant) keeps "
    "what changed after it. Needs `system/Patient.r` and `r` on every type included.",
)
def patient_everything(
    patient_id: str,
    request: Request,
    session: DbSession,
    caller: Annotated[tokens.Principal, Depends(require("Patient.r"))],
) -> FHIRResponse:
    pairs = request.query_params.multi_items()
    return FHIRResponse(
        bulk_export.everything(session, caller, patient_id, pairs, fhir_base(request))
    )
