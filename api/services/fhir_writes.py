"""Writes through the FHIR face: create, conditional create and update.

Each goes through the service /v1 uses for the same thing (clients, couples,
the portal's answering path, `record_response`), so the two faces share one
set of rules. Incoming resources are checked with fhir.resources' R4B models
first (the FHIR edge: a resource that is not valid FHIR is a 400); Tandem's
own rules then apply (422, or 409 for a clash with what is stored).
"""

from __future__ import annotations

import re
import uuid
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError
from sqlalchemy import bindparam
from sqlalchemy import select as core_select
from sqlmodel import Session, select

from api.errors import (
    BadRequest,
    FieldProblem,
    InvalidInput,
    NotFound,
    PreconditionFailed,
)
from api.persistence.connection import ClinicConnection
from api.persistence.tenancy import CLINIC_PARAMETER, scoped
from api.services import clients, fhir, instruments
from api.services.instruments import InstrumentKey
from api.services.portal import answer_assignment
from api.services.responses import (
    Replaced,
    check_answers,
    record_response,
    statement_problems,
)
from integrations.fhir import resources
from integrations.fhir.outcome import Issue, operation_outcome, pointer_to_expression
from integrations.fhir.search import SearchError, parse_search
from schemas import Assignment, Instrument, InstrumentSource, Response, ResponseStatus
from schemas.clinic import CoupleCreate, Identifier

TASK_EXTENSION = "https://tandem.dev/fhir/StructureDefinition/task"
REPLACES_EXTENSION = "https://tandem.dev/fhir/StructureDefinition/replaces"


def parse_resource(resource_type: str, body: Any) -> Any:
    """The body as the R4B model of `resource_type`, or BadRequest with every problem."""
    if not isinstance(body, dict) or body.get("resourceType") != resource_type:
        raise BadRequest(
            f"the body must be a {resource_type} resource",
            [FieldProblem("/resourceType", f"must be {resource_type}")],
        )
    try:
        return get_fhir_model_class(resource_type).model_validate(body)
    except ValidationError as error:
        problems = [
            FieldProblem("/" + "/".join(str(part) for part in e["loc"]), e["msg"], e["type"])
            for e in error.errors()
        ]
        raise BadRequest(f"the {resource_type} is not valid FHIR R4", problems) from None


def version_in(if_match: str | None) -> int | None:
    """The version an If-Match header names (`W/"3"` or `"3"`), or BadRequest."""
    if if_match is None:
        return None
    found = re.fullmatch(r'\s*(?:W/)?"(\d+)"\s*', if_match)
    if found is None:
        raise BadRequest(
            'If-Match takes the ETag of a read, e.g. W/"3"',
            [FieldProblem.of_parameter("If-Match", 'not an ETag like W/"3"')],
        )
    return int(found.group(1))


def _existing(session: Session, resource_type: str, if_none_exist: str) -> dict[str, Any] | None:
    """Conditional create: the one resource the If-None-Exist search finds, None when it
    finds none, PreconditionFailed when it finds several."""
    try:
        search = parse_search(resource_type, parse_qsl(if_none_exist), strict=True)
    except SearchError as error:
        raise BadRequest(
            f"If-None-Exist: {error}", [FieldProblem.of_parameter("If-None-Exist", str(error))]
        ) from None
    if not search.clauses:
        raise BadRequest(
            "If-None-Exist needs a search, e.g. identifier=system|value",
            [FieldProblem.of_parameter("If-None-Exist", "no search parameters")],
        )
    page = fhir.run(session, search)
    if page.total > 1:
        raise PreconditionFailed(
            f"If-None-Exist matches {page.total} {resource_type} resources; it must match one"
        )
    return page.matches[0] if page.matches else None


def _identifiers(patient: Any) -> list[Identifier]:
    found = [(index, i.system, i.value) for index, i in enumerate(patient.identifier or [])]
    problems = [
        FieldProblem(f"/identifier/{index}", "an identifier needs a system and a value")
        for index, system, value in found
        if not system or not value
    ]
    if not found:
        problems.append(
            FieldProblem("/identifier", "a Patient needs the practice system's identifier")
        )
    if problems:
        raise InvalidInput("Tandem knows clients by identifier (system and value)", problems)
    return [Identifier(system=system, value=value) for _, system, value in found]


def _name(patient: Any) -> str | None:
    for name in patient.name or []:
        if name.text:
            return str(name.text)
        parts = [*(name.given or []), *([name.family] if name.family else [])]
        if parts:
            return " ".join(str(part) for part in parts)
    return None


def create_patient(
    session: Session, body: Any, if_none_exist: str | None
) -> tuple[dict[str, Any], bool]:
    """The Patient made from `body` (True), or with If-None-Exist the one found (False)."""
    patient = parse_resource("Patient", body)
    identifiers = _identifiers(patient)
    if if_none_exist is not None:
        found = _existing(session, "Patient", if_none_exist)
        if found is not None:
            return found, False
    client = clients.create_client(session, identifiers, _name(patient), patient.birthDate)
    return fhir.read(session, "Patient", str(client.id)), True


def update_patient(
    session: Session, resource_id: str, body: Any, if_match: str | None
) -> dict[str, Any]:
    """Replace the Patient's name, birth date and identifiers; If-Match guards the version."""
    patient = parse_resource("Patient", body)
    if patient.id != resource_id:
        raise BadRequest(
            "the Patient's id must be the id in the URL",
            [FieldProblem("/id", f"must be {resource_id}")],
        )
    expected = version_in(if_match)
    client_id = _uuid(resource_id, "Patient")
    clients.update_client(
        session, client_id, _identifiers(patient), _name(patient), patient.birthDate, expected
    )
    return fhir.read(session, "Patient", resource_id)


def create_group(
    session: Session, body: Any, if_none_exist: str | None
) -> tuple[dict[str, Any], bool]:
    """A couple from a Group of two Patients (type person), through the same service as
    POST /v1/couples; with If-None-Exist, the one found instead."""
    group = parse_resource("Group", body)
    problems = []
    if group.type != "person":
        problems.append(FieldProblem("/type", "a couple is a Group of type person"))
    members = []
    for index, member in enumerate(group.member or []):
        reference = member.entity.reference or ""
        kind, _, identity = reference.partition("/")
        try:
            members.append(uuid.UUID(identity) if kind == "Patient" else None)
        except ValueError:
            members.append(None)
        if members[-1] is None:
            problems.append(
                FieldProblem(f"/member/{index}/entity/reference", "must be Patient/{id}")
            )
    if len(members) != 2:
        problems.append(FieldProblem("/member", "a couple has two members"))
    identifier = None
    if group.identifier:
        first = group.identifier[0]
        if not first.system or not first.value:
            problems.append(FieldProblem("/identifier/0", "needs a system and a value"))
        else:
            identifier = Identifier(system=first.system, value=first.value)
    if problems:
        raise InvalidInput("a couple is two of this clinic's clients", problems)
    if if_none_exist is not None:
        found = _existing(session, "Group", if_none_exist)
        if found is not None:
            return found, False
    couple, _ = clients.register_couple(
        session, CoupleCreate(members=members, identifier=identifier)
    )
    return fhir.read(session, "Group", str(couple.id)), True


def _uuid(value: str, resource_type: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(f"no {resource_type}/{value}") from None


# QuestionnaireResponse, on a clinic connection like the portal's submit

_assignment = Assignment.__table__.c  # type: ignore[attr-defined]
_instrument = Instrument.__table__.c  # type: ignore[attr-defined]
_response = Response.__table__.c  # type: ignore[attr-defined]
_clinic = bindparam(CLINIC_PARAMETER)

_ASSIGNED = scoped(
    core_select(_assignment.client_id).where(
        _assignment.clinic_id == _clinic, _assignment.id == bindparam("assignment_id")
    )
)
_BY_CANONICAL = scoped(
    core_select(
        _instrument.id.label("instrument_id"),
        _instrument.url,
        _instrument.version,
        _instrument.source,
    ).where(
        _instrument.clinic_id == _clinic,
        _instrument.url == bindparam("url"),
        _instrument.version == bindparam("version"),
    )
)
_REPLACED = scoped(
    core_select(_response.id, _response.client_id, _response.instrument_id, _response.status).where(
        _response.clinic_id == _clinic, _response.id == bindparam("response_id")
    )
)
_RECORDED = scoped(
    core_select(
        _response.id,
        _response.client_id,
        _response.status,
        _response.authored,
        _response.questionnaire_response,
        _response.updated_at,
        _response.version,
        _instrument.url,
        _instrument.version.label("instrument_version"),
        _assignment.plan_id,
    )
    .select_from(
        Response.__table__.join(  # type: ignore[attr-defined]
            Instrument.__table__,  # type: ignore[attr-defined]
            (_instrument.id == _response.instrument_id) & (_instrument.clinic_id == _clinic),
        ).outerjoin(
            Assignment.__table__,  # type: ignore[attr-defined]
            (_assignment.id == _response.assignment_id) & (_assignment.clinic_id == _clinic),
        )
    )
    .where(_response.clinic_id == _clinic, _response.id == bindparam("response_id"))
)


def _reference_in(document: dict[str, Any], url: str, kind: str) -> uuid.UUID | None:
    """The id a Tandem extension of the document refers to (`kind`/{id}), if it has one."""
    for index, extension in enumerate(document.get("extension") or []):
        if isinstance(extension, dict) and extension.get("url") == url:
            reference = (extension.get("valueReference") or {}).get("reference", "")
            named, _, identity = str(reference).partition("/")
            try:
                if named == kind:
                    return uuid.UUID(identity)
            except ValueError:
                pass
            raise InvalidInput(
                f"the extension {url} takes valueReference {kind}/{{id}}",
                [FieldProblem(f"/extension/{index}", f"must refer to {kind}/{{id}}")],
            )
    return None


async def create_response(connection: ClinicConnection, body: Any) -> dict[str, Any]:
    """Record a QuestionnaireResponse posted to /fhir, validated and scored by the same
    path as everywhere else.

    - For a Task (the extension `TASK_EXTENSION` names it): exactly as the portal
      saves (in-progress) or submits (completed) it; the Task then moves along.
    - Without one (answered in session, entered from paper): for the client in
      `subject`, against the exact Questionnaire version named in `questionnaire`.
    - A correction: status `amended`, naming the response it replaces with
      `REPLACES_EXTENSION`; the original stays as it was.
    """
    parse_resource("QuestionnaireResponse", body)
    document = dict(body)
    document.pop("id", None)
    document.pop("meta", None)
    status = document.get("status")
    task_id = _reference_in(document, TASK_EXTENSION, "Task")
    if task_id is not None:
        client_id = (await connection.execute(_ASSIGNED, {"assignment_id": task_id})).scalar()
        if client_id is None:
            raise InvalidInput(
                f"no Task/{task_id} in this clinic", [FieldProblem("/extension", "no such Task")]
            )
        if status not in (ResponseStatus.IN_PROGRESS, ResponseStatus.COMPLETED):
            raise InvalidInput(
                "a response for a Task is in-progress (saved) or completed (submitted)",
                [FieldProblem("/status", "must be in-progress or completed")],
            )
        response_id = await answer_assignment(
            connection, client_id, task_id, document, ResponseStatus(status),
            "a response for a Task is in-progress or completed",
        )  # fmt: skip
    else:
        client_id = _subject(document)
        instrument = await _instrument_named(connection, document)
        replaced = None
        replaces_id = _reference_in(document, REPLACES_EXTENSION, "QuestionnaireResponse")
        if replaces_id is not None:
            row = (await connection.execute(_REPLACED, {"response_id": replaces_id})).first()
            if row is None:
                raise InvalidInput(
                    f"no QuestionnaireResponse/{replaces_id} to replace in this clinic",
                    [FieldProblem("/extension", "no such QuestionnaireResponse")],
                )
            replaced = Replaced(row.id, row.client_id, row.instrument_id, row.status)
        recorded = await record_response(
            connection,
            client_id=client_id,
            instrument=instrument,
            questionnaire_response=document,
            replaces=replaced,
        )
        response_id = recorded.id
    return await recorded_resource(connection, response_id)


async def recorded_resource(connection: ClinicConnection, response_id: uuid.UUID) -> dict[str, Any]:
    row = (await connection.execute(_RECORDED, {"response_id": response_id})).one()
    instrument = SimpleNamespace(url=row.url, version=row.instrument_version)
    return resources.questionnaire_response(row, instrument, row.plan_id)  # type: ignore[arg-type]


def _subject(document: dict[str, Any]) -> uuid.UUID:
    reference = (document.get("subject") or {}).get("reference", "")
    kind, _, identity = str(reference).partition("/")
    try:
        if kind == "Patient":
            return uuid.UUID(identity)
    except ValueError:
        pass
    raise InvalidInput(
        "a response without a Task names its client: subject Patient/{id}",
        [FieldProblem("/subject", "must be Patient/{id} of this clinic")],
    )


async def _instrument_named(
    connection: ClinicConnection, document: dict[str, Any]
) -> InstrumentKey:
    canonical = str(document.get("questionnaire") or "")
    url, separator, version = canonical.partition("|")
    if not url or not separator or not version:
        raise InvalidInput(
            "name the Questionnaire answered with its version: url|version",
            [FieldProblem("/questionnaire", "must be url|version")],
        )
    row = (await connection.execute(_BY_CANONICAL, {"url": url, "version": version})).first()
    if row is None:
        raise InvalidInput(
            f"no Questionnaire {canonical} in this clinic",
            [FieldProblem("/questionnaire", "no such Questionnaire version here")],
        )
    return InstrumentKey(row.instrument_id, row.url, row.version, InstrumentSource(row.source))


# Questionnaire import and $validate, on the request's session

_ISSUE_TYPE = {
    "required": "required",
    "invalid-structure": "structure",
    "invalid-resource-type": "structure",
    "wrong-type": "structure",
    "too-long": "too-long",
    "questionnaire-mismatch": "business-rule",
    "subject-mismatch": "business-rule",
    "invalid-status": "business-rule",
}
PROBLEM_SYSTEM = "https://tandem.dev/fhir/CodeSystem/response-problem"


def import_questionnaire(session: Session, body: Any) -> tuple[dict[str, Any], bool]:
    """A clinic's own instrument (`instruments.import_instrument`), as the stored resource."""
    parse_resource("Questionnaire", body)
    row, created = instruments.import_instrument(session, body)
    return fhir.read(session, "Questionnaire", str(row.id)), created


def validate_response_resource(
    session: Session, body: Any, resource_id: str | None = None
) -> dict[str, Any]:
    """`$validate`: every problem recording this QuestionnaireResponse would meet, as an
    OperationOutcome (each issue placed by `expression`); nothing is written.

    The body is the response, or a `Parameters` with it as `resource`; with
    `resource_id` and no body, the stored response is checked again.
    """
    document = _to_validate(session, body, resource_id)
    try:
        parse_resource("QuestionnaireResponse", document)
    except BadRequest as error:
        return _outcome([(p.pointer or "", "structure", p.detail, p.code) for p in error.errors])
    task_id = _reference_in(document, TASK_EXTENSION, "Task")
    client_id: uuid.UUID | None = None
    if task_id is not None:
        assignment = session.get(Assignment, task_id)
        if assignment is None:
            return _outcome([("/extension", "not-found", f"no Task/{task_id} here", None)])
        instrument = session.get(Instrument, assignment.instrument_id)
        client_id = assignment.client_id
    else:
        canonical = str(document.get("questionnaire") or "")
        url, _, version = canonical.partition("|")
        instrument = session.exec(
            select(Instrument).where(Instrument.url == url, Instrument.version == version)
        ).first()
        if instrument is None:
            return _outcome(
                [("/questionnaire", "not-found", f"no Questionnaire {canonical} here", None)]
            )
        try:
            client_id = _subject(document)
        except InvalidInput:
            client_id = None
    assert instrument is not None
    replaced = None
    replaces_id = _reference_in(document, REPLACES_EXTENSION, "QuestionnaireResponse")
    if replaces_id is not None:
        row = session.get(Response, replaces_id)
        if row is not None:
            replaced = Replaced(row.id, row.client_id, row.instrument_id, row.status)
    definition = instruments.clinical_definition(session, InstrumentKey.of(instrument))
    problems = statement_problems(document, client_id, instrument.id, replaced)
    problems += check_answers(definition, document)[1]
    return _outcome(
        [(p.location, _ISSUE_TYPE.get(p.code, "invalid"), p.message, p.code) for p in problems],
        f"the response is valid against {instrument.url}|{instrument.version}",
    )


def _to_validate(session: Session, body: Any, resource_id: str | None) -> dict[str, Any]:
    if isinstance(body, dict) and body.get("resourceType") == "Parameters":
        found = [
            p.get("resource")
            for p in body.get("parameter") or []
            if isinstance(p, dict) and p.get("name") == "resource"
        ]
        body = found[0] if found else None
    if body is None and resource_id is not None:
        row = session.get(Response, _uuid(resource_id, "QuestionnaireResponse"))
        if row is None:
            raise NotFound(f"no QuestionnaireResponse/{resource_id}")
        return dict(row.questionnaire_response)
    if not isinstance(body, dict):
        raise BadRequest(
            "send the QuestionnaireResponse, or a Parameters with it as resource",
            [FieldProblem("/resourceType", "must be QuestionnaireResponse or Parameters")],
        )
    return body


def _outcome(
    problems: list[tuple[str, str, str, str | None]], valid: str = "the response is valid"
) -> dict[str, Any]:
    if not problems:
        return operation_outcome([Issue(valid, "informational", "information")])
    issues = []
    for pointer, code, message, tandem_code in problems:
        where = pointer_to_expression(pointer)
        issue = Issue(message, code, "error", where or None)
        issues.append((issue, tandem_code))
    outcome = operation_outcome([issue for issue, _ in issues], "QuestionnaireResponse")
    for entry, (_, tandem_code) in zip(outcome["issue"], issues, strict=True):
        if tandem_code:
            entry["details"] = {"coding": [{"system": PROBLEM_SYSTEM, "code": tandem_code}]}
    return outcome
