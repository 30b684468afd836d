"""/fhir: Tandem's FHIR R4 face (what it does: the CapabilityStatement at /fhir/metadata).

Errors here are OperationOutcomes (`api.problems` answers by path).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Request
from fastapi.responses import JSONResponse

from api import __version__
from api.auth.dependencies import connection_for, require, require_on_resource
from api.auth.tokens import Principal
from api.errors import NotFound, TandemError
from api.persistence import DbSession
from api.persistence.connection import ClinicConnection
from api.services import fhir, fhir_writes
from api.services.instruments import SCORING_EXTENSION
from integrations.fhir import FHIR_JSON
from integrations.fhir.capability import capability_statement

router = APIRouter(prefix="/fhir", tags=["fhir"])


class FHIRResponse(JSONResponse):
    media_type = FHIR_JSON


def outcomes(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {
            "description": "an OperationOutcome saying what is wrong",
            "content": {FHIR_JSON: {"schema": {"type": "object"}}},
        }
        for status in statuses
    }


def fhir_base(request: Request) -> str:
    return request.app.state.settings.public_url.rstrip("/") + "/fhir"


_STRICT = Header(
    alias="Prefer",
    description="handling=strict refuses unknown search parameters (400); "
    "by default they are ignored and reported in the Bundle",
)


_IF_NONE_EXIST = Header(
    alias="If-None-Exist",
    description="conditional create: a search (e.g. identifier=system|value); when it finds "
    "one resource, that one is returned (200) and nothing is made",
)
_IF_MATCH = Header(
    alias="If-Match", description='the ETag of the version read, e.g. W/"3": stale is 412'
)


def _resource(
    resource: dict[str, Any], request: Request, status: int = 200, created: bool = False
) -> FHIRResponse:
    """A resource with its version headers (ETag, Last-Modified) and, made now, Location."""
    meta = resource.get("meta", {})
    headers = {}
    if "versionId" in meta:
        headers["ETag"] = f'W/"{meta["versionId"]}"'
    if created:
        headers["Location"] = (
            f"{fhir_base(request)}/{resource['resourceType']}/{resource['id']}"
            f"/_history/{meta.get('versionId', '1')}"
        )
    return FHIRResponse(resource, status_code=status, headers=headers)


def _condition(request: Request, if_none_exist: str | None) -> str | None:
    """A conditional create's search: If-None-Exist, or (as fhirpy and some servers send
    it) the query string of the POST."""
    return if_none_exist or request.url.query or None


def _is_strict(prefer: str | None) -> bool:
    return prefer is not None and "handling=strict" in prefer.replace(" ", "")


@router.get(
    "/metadata",
    response_class=FHIRResponse,
    summary="The CapabilityStatement: what this FHIR server does",
)
def metadata(request: Request) -> FHIRResponse:
    return FHIRResponse(capability_statement(__version__, fhir_base(request)))


async def _form_pairs(request: Request) -> list[tuple[str, str]]:
    """Search parameters of a POST _search: the query string and the form body."""
    pairs = list(request.query_params.multi_items())
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    body = await request.body()
    if body and kind != "application/x-www-form-urlencoded":
        raise TandemError("POST _search takes its parameters as application/x-www-form-urlencoded")
    form = await request.form()
    return pairs + [(name, value) for name, value in form.multi_items() if isinstance(value, str)]


@router.get(
    "/{resource_type}",
    response_class=FHIRResponse,
    responses=outcomes(400, 401, 403, 404),
    summary="Search: a searchset Bundle, paged by its next link",
)
def search(
    resource_type: str,
    request: Request,
    session: DbSession,
    _: Annotated[Principal, Depends(require_on_resource("s", "search-type"))],
    prefer: Annotated[str | None, _STRICT] = None,
) -> FHIRResponse:
    pairs = request.query_params.multi_items()
    bundle = fhir.search(session, resource_type, pairs, _is_strict(prefer), fhir_base(request))
    return FHIRResponse(bundle)


@router.post(
    "/{resource_type}/_search",
    response_class=FHIRResponse,
    responses=outcomes(400, 401, 403, 404),
    summary="Search with the parameters in a form body (same as GET)",
)
def search_by_post(
    resource_type: str,
    request: Request,
    session: DbSession,
    _: Annotated[Principal, Depends(require_on_resource("s", "search-type"))],
    pairs: Annotated[list[tuple[str, str]], Depends(_form_pairs)],
    prefer: Annotated[str | None, _STRICT] = None,
) -> FHIRResponse:
    bundle = fhir.search(session, resource_type, pairs, _is_strict(prefer), fhir_base(request))
    return FHIRResponse(bundle)


@router.get(
    "/{resource_type}/{resource_id}",
    response_class=FHIRResponse,
    responses=outcomes(401, 403, 404),
    summary="Read a resource by its id",
)
def read(
    resource_type: str,
    resource_id: str,
    request: Request,
    session: DbSession,
    _: Annotated[Principal, Depends(require_on_resource("r", "read"))],
) -> FHIRResponse:
    return _resource(fhir.read(session, resource_type, resource_id), request)


@router.get(
    "/{resource_type}/{resource_id}/_history/{version_id}",
    response_class=FHIRResponse,
    responses=outcomes(401, 403, 404),
    summary="Read one version of a resource (vread); only the current version is kept",
)
def vread(
    resource_type: str,
    resource_id: str,
    version_id: str,
    request: Request,
    session: DbSession,
    _: Annotated[Principal, Depends(require_on_resource("r", "vread"))],
) -> FHIRResponse:
    resource = fhir.read(session, resource_type, resource_id)
    current = resource.get("meta", {}).get("versionId")
    if version_id != current:
        raise NotFound(
            f"version {version_id} of {resource_type}/{resource_id} is not kept; "
            f"the current version is {current}"
        )
    return _resource(resource, request)


_PATIENT = Body(description="a FHIR R4 Patient with the practice system's identifier(s)")
_GROUP = Body(description="a FHIR R4 Group of type person with two Patient members")
_RESPONSE = Body(
    description="a FHIR R4 QuestionnaireResponse: for a Task (extension "
    f"{fhir_writes.TASK_EXTENSION}), or for the client in subject against questionnaire "
    f"url|version; a correction is status amended with {fhir_writes.REPLACES_EXTENSION}"
)


@router.post(
    "/Patient",
    response_class=FHIRResponse,
    status_code=201,
    responses=outcomes(400, 401, 403, 409, 412, 422),
    summary="Create a Patient (a client); conditional with If-None-Exist (or a query string)",
)
def create_patient(
    request: Request,
    session: DbSession,
    _: Annotated[Principal, Depends(require("Patient.c"))],
    body: Annotated[dict[str, Any], _PATIENT],
    if_none_exist: Annotated[str | None, _IF_NONE_EXIST] = None,
) -> FHIRResponse:
    resource, created = fhir_writes.create_patient(
        session, body, _condition(request, if_none_exist)
    )
    return _resource(resource, request, 201 if created else 200, created)


@router.put(
    "/Patient/{resource_id}",
    response_class=FHIRResponse,
    responses=outcomes(400, 401, 403, 404, 409, 412, 422),
    summary="Update a Patient (name, birth date, identifiers); If-Match guards the version",
)
def update_patient(
    resource_id: str,
    request: Request,
    session: DbSession,
    _: Annotated[Principal, Depends(require("Patient.u"))],
    body: Annotated[dict[str, Any], _PATIENT],
    if_match: Annotated[str | None, _IF_MATCH] = None,
) -> FHIRResponse:
    return _resource(fhir_writes.update_patient(session, resource_id, body, if_match), request)


@router.post(
    "/Group",
    response_class=FHIRResponse,
    status_code=201,
    responses=outcomes(400, 401, 403, 409, 412, 422),
    summary="Create a Group (a couple); conditional with If-None-Exist (or a query string)",
)
def create_group(
    request: Request,
    session: DbSession,
    _: Annotated[Principal, Depends(require("Group.c"))],
    body: Annotated[dict[str, Any], _GROUP],
    if_none_exist: Annotated[str | None, _IF_NONE_EXIST] = None,
) -> FHIRResponse:
    resource, created = fhir_writes.create_group(session, body, _condition(request, if_none_exist))
    return _resource(resource, request, 201 if created else 200, created)


@router.post(
    "/Questionnaire",
    response_class=FHIRResponse,
    status_code=201,
    responses=outcomes(400, 401, 403, 409, 422),
    summary="Import an instrument: a Questionnaire with url and version (200 if held already)",
    description="Responses are validated against the exact version they name. Tandem's "
    f"scoring spec may ride along as the extension {SCORING_EXTENSION} (valueString: the "
    "spec's JSON), for bands, cut-offs and reliable change.",
)
def import_questionnaire(
    request: Request,
    session: DbSession,
    _: Annotated[Principal, Depends(require("Questionnaire.c"))],
    body: Annotated[dict[str, Any], Body(description="a FHIR R4 Questionnaire")],
) -> FHIRResponse:
    resource, created = fhir_writes.import_questionnaire(session, body)
    return _resource(resource, request, 201 if created else 200, created)


_VALIDATE = Body(
    description="the QuestionnaireResponse, or a Parameters with it as `resource`",
)


@router.post(
    "/QuestionnaireResponse/$validate",
    response_class=FHIRResponse,
    responses=outcomes(400, 401, 403),
    summary="Check a QuestionnaireResponse without recording it: an OperationOutcome",
)
def validate_questionnaire_response(
    session: DbSession,
    _: Annotated[Principal, Depends(require("QuestionnaireResponse.r"))],
    body: Annotated[dict[str, Any] | None, _VALIDATE] = None,
) -> FHIRResponse:
    return FHIRResponse(fhir_writes.validate_response_resource(session, body))


@router.post(
    "/QuestionnaireResponse/{resource_id}/$validate",
    response_class=FHIRResponse,
    responses=outcomes(400, 401, 403, 404),
    summary="Check a stored (or a changed) QuestionnaireResponse again: an OperationOutcome",
)
def validate_stored_questionnaire_response(
    resource_id: str,
    session: DbSession,
    _: Annotated[Principal, Depends(require("QuestionnaireResponse.r"))],
    body: Annotated[dict[str, Any] | None, _VALIDATE] = None,
) -> FHIRResponse:
    return FHIRResponse(fhir_writes.validate_response_resource(session, body, resource_id))


@router.post(
    "/QuestionnaireResponse",
    response_class=FHIRResponse,
    status_code=201,
    responses=outcomes(400, 401, 403, 409, 422),
    summary="Record answers: validated and scored exactly as a portal submission",
)
async def create_questionnaire_response(
    request: Request,
    connection: Annotated[
        ClinicConnection,
        Depends(connection_for("QuestionnaireResponse.c"), scope="function"),
    ],
    body: Annotated[dict[str, Any], _RESPONSE],
) -> FHIRResponse:
    resource = await fhir_writes.create_response(connection, body)
    return _resource(resource, request, 201, created=True)
