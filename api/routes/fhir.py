"""/fhir: Tandem's FHIR R4 face (read and search; see the CapabilityStatement at /fhir/metadata).

Errors here are OperationOutcomes (`api.problems` answers by path).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse

from api import __version__
from api.auth.dependencies import require_on_resource
from api.auth.tokens import Principal
from api.errors import TandemError
from api.persistence import DbSession
from api.services import fhir
from integrations.fhir import FHIR_JSON
from integrations.fhir.capability import capability_statement

router = APIRouter(prefix="/fhir", tags=["fhir"])


class FHIRResponse(JSONResponse):
    media_type = FHIR_JSON


def _outcomes(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {
            "description": "an OperationOutcome saying what is wrong",
            "content": {FHIR_JSON: {"schema": {"type": "object"}}},
        }
        for status in statuses
    }


def _base(request: Request) -> str:
    return request.app.state.settings.public_url.rstrip("/") + "/fhir"


_STRICT = Header(
    alias="Prefer",
    description="handling=strict refuses unknown search parameters (400); "
    "by default they are ignored and reported in the Bundle",
)


def _is_strict(prefer: str | None) -> bool:
    return prefer is not None and "handling=strict" in prefer.replace(" ", "")


@router.get(
    "/metadata",
    response_class=FHIRResponse,
    summary="The CapabilityStatement: what this FHIR server does",
)
def metadata(request: Request) -> FHIRResponse:
    return FHIRResponse(capability_statement(__version__, _base(request)))


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
    responses=_outcomes(400, 401, 403, 404),
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
    bundle = fhir.search(session, resource_type, pairs, _is_strict(prefer), _base(request))
    return FHIRResponse(bundle)


@router.post(
    "/{resource_type}/_search",
    response_class=FHIRResponse,
    responses=_outcomes(400, 401, 403, 404),
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
    bundle = fhir.search(session, resource_type, pairs, _is_strict(prefer), _base(request))
    return FHIRResponse(bundle)


@router.get(
    "/{resource_type}/{resource_id}",
    response_class=FHIRResponse,
    responses=_outcomes(401, 403, 404),
    summary="Read a resource by its id",
)
def read(
    resource_type: str,
    resource_id: str,
    session: DbSession,
    _: Annotated[Principal, Depends(require_on_resource("r", "read"))],
) -> FHIRResponse:
    return FHIRResponse(fhir.read(session, resource_type, resource_id))
