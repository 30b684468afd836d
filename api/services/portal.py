"""What a client does through their portal link: see, save and submit their own homework.

Every function takes the visitor the link belongs to and touches only that
client's assignments; another client's assignment (their partner's included)
is simply not found. Scores and flags are not returned here: what a client
may see of their own results is decided where results are shown.

The portal is a hot path (every client submits through it), so it runs Core
statements on a `ClinicConnection` (see `api.persistence.connection`).
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any, NamedTuple

from sqlalchemy import bindparam, select

from api.errors import Conflict, FieldProblem, InvalidInput, NotFound
from api.persistence.connection import ClinicConnection
from api.persistence.tenancy import CLINIC_PARAMETER, Scoped, constant, one_of, scoped
from api.services.assignments import number_status_change
from api.services.instruments import InstrumentKey, clinical_definition_of
from api.services.portal_links import PortalVisitor
from api.services.responses import record_response
from assessments.interventions import load_library
from schemas import Assignment, AssignmentStatus, Instrument, Response, ResponseStatus
from schemas.assignment import HomeworkLog, PortalAssignment, PortalHomework, PortalQuestionnaire
from schemas.base import utcnow
from schemas.instrument import InstrumentRef
from schemas.response import PortalSaved, PortalSubmitted

OPEN = (AssignmentStatus.REQUESTED, AssignmentStatus.IN_PROGRESS)

_assignment = Assignment.__table__.c  # type: ignore[attr-defined]
_instrument = Instrument.__table__.c  # type: ignore[attr-defined]
_response = Response.__table__.c  # type: ignore[attr-defined]
_clinic = bindparam(CLINIC_PARAMETER)
# An assignment with its instrument, both of the connection's clinic (the portal's pages
# read through it too).
WITH_INSTRUMENT = Assignment.__table__.join(  # type: ignore[attr-defined]
    Instrument.__table__,  # type: ignore[attr-defined]
    (_instrument.id == _assignment.instrument_id) & (_instrument.clinic_id == _clinic),
)

_OPEN_ASSIGNMENTS = scoped(
    select(
        _assignment.id,
        _assignment.status,
        _assignment.due,
        _instrument.slug,
        _instrument.url,
        _instrument.version,
        _instrument.title,
        _assignment.activity_id,
        _assignment.note,
    )
    .select_from(WITH_INSTRUMENT)
    .where(
        _assignment.clinic_id == _clinic,
        _assignment.client_id == bindparam("client_id"),
        one_of(_assignment.status, [status.value for status in OPEN]),
    )
    .order_by(_assignment.due.is_(None), _assignment.due, _assignment.created_at)
)


async def open_assignments(
    connection: ClinicConnection, visitor: PortalVisitor
) -> list[PortalAssignment]:
    rows = await connection.execute(_OPEN_ASSIGNMENTS, {"client_id": visitor.client_id})
    return [
        PortalAssignment(
            id=row.id,
            title=row.title if row.activity_id is None else _homework(row).title,
            instrument=InstrumentRef(slug=row.slug, url=row.url, version=row.version),
            status=AssignmentStatus(row.status),
            due=row.due,
            homework=None if row.activity_id is None else _homework(row),
        )
        for row in rows
    ]


def _homework(row: Any) -> PortalHomework:
    """What a client is asked to do, from the library, with the counsellor's note."""
    activity = load_library().activity(row.activity_id)
    return PortalHomework(
        activity_id=activity.id,
        title=activity.title,
        instructions=activity.instructions,
        who=activity.who,
        log_minutes=activity.logging.minutes,
        log_reflection=activity.logging.reflection,
        note=row.note,
    )


_SAVED = scoped(
    select(_response.questionnaire_response).where(
        _response.clinic_id == _clinic, _response.id == bindparam("response_id")
    )
)


async def questionnaire_for(
    connection: ClinicConnection, visitor: PortalVisitor, assignment_id: uuid.UUID
) -> PortalQuestionnaire:
    own = await _own(connection, visitor.client_id, assignment_id)
    saved = None
    if own.progress_id is not None:
        saved = (await connection.execute(_SAVED, {"response_id": own.progress_id})).scalar_one()
    definition = await clinical_definition_of(connection, _key(own))
    return PortalQuestionnaire(
        assignment_id=own.id, questionnaire=definition.questionnaire, saved_response=saved
    )


async def save_progress(
    connection: ClinicConnection, visitor: PortalVisitor, assignment_id: uuid.UUID, document: Any
) -> PortalSaved:
    """Keep partial answers (status in-progress) to resume later; bad answers are still refused."""
    response_id = await answer_assignment(
        connection, visitor.client_id, assignment_id, document, ResponseStatus.IN_PROGRESS,
        "save answers with status in-progress; submit them to finish",
    )  # fmt: skip
    return PortalSaved(status="in-progress", response_id=response_id)


async def submit(
    connection: ClinicConnection, visitor: PortalVisitor, assignment_id: uuid.UUID, document: Any
) -> PortalSubmitted:
    """Validate and score the completed response and complete the assignment, or change nothing."""
    response_id = await answer_assignment(
        connection, visitor.client_id, assignment_id, document, ResponseStatus.COMPLETED,
        "submit a response with status completed",
    )  # fmt: skip
    return PortalSubmitted(status="completed", response_id=response_id)


async def log_homework(
    connection: ClinicConnection, visitor: PortalVisitor, assignment_id: uuid.UUID, log: HomeworkLog
) -> PortalSubmitted:
    """Log a piece of plan homework: written as a completed homework-log response."""
    own = await _own(connection, visitor.client_id, assignment_id)
    if own.activity_id is None:
        raise Conflict("this assignment is a questionnaire, not homework: submit your answers")
    items: list[dict[str, Any]] = [{"linkId": "done", "answer": [{"valueBoolean": log.done}]}]
    if log.minutes is not None:
        items.append({"linkId": "minutes", "answer": [{"valueInteger": log.minutes}]})
    if log.reflection:
        items.append({"linkId": "reflection", "answer": [{"valueString": log.reflection}]})
    document = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{own.url}|{own.version}",
        "status": ResponseStatus.COMPLETED.value,
        "authored": utcnow().isoformat(),
        "item": items,
    }
    return await submit(connection, visitor, assignment_id, document)


async def answer_assignment(
    connection: ClinicConnection,
    client_id: uuid.UUID,
    assignment_id: uuid.UUID,
    document: Any,
    status: ResponseStatus,
    refusal: str,
) -> uuid.UUID:
    """Record the client's answers to their open assignment with the status a step
    needs, and move the assignment along (in-progress, or completed).

    The portal's save and submit come here, and so does a QuestionnaireResponse
    posted to /fhir for a Task: one path, one set of rules."""
    own = await _own(connection, client_id, assignment_id, for_update=True)
    if own.status == AssignmentStatus.COMPLETED:
        raise Conflict("this assignment is already completed")
    if not isinstance(document, dict) or document.get("status") != status:
        raise InvalidInput(refusal, [FieldProblem("/status", f"must be {status} here")])
    recorded = await record_response(
        connection,
        client_id=client_id,
        instrument=_key(own),
        questionnaire_response=document,
        assignment_id=own.id,
        progress_id=own.progress_id,
        couple_id=own.couple_id,
    )
    next_status = (
        AssignmentStatus.COMPLETED
        if status == ResponseStatus.COMPLETED
        else AssignmentStatus.IN_PROGRESS
    )
    if own.status != next_status:
        await number_status_change(connection, own.id, next_status)
    return recorded.id


def _own_statement(for_update: bool) -> Any:
    statement = (
        select(
            _assignment.id,
            _assignment.status,
            _assignment.couple_id,
            _assignment.activity_id,
            _instrument.id.label("instrument_id"),
            _instrument.url,
            _instrument.version,
            _instrument.source,
            _assignment.due,
            _assignment.note,
            _instrument.title,
        )
        .select_from(WITH_INSTRUMENT)
        .where(
            _assignment.clinic_id == _clinic,
            _assignment.id == bindparam("assignment_id"),
            _assignment.client_id == bindparam("client_id"),
            _assignment.status != AssignmentStatus.CANCELLED.value,
        )
    )
    return scoped(statement.with_for_update(of=Assignment.__table__) if for_update else statement)  # type: ignore[attr-defined]


_OWN = _own_statement(for_update=False)
_OWN_LOCKED = _own_statement(for_update=True)
_PROGRESS = scoped(
    select(_response.id).where(
        _response.clinic_id == _clinic,
        _response.assignment_id == bindparam("assignment_id"),
        _response.status == constant(ResponseStatus.IN_PROGRESS.value),
    )
)


async def own_assignment(
    connection: ClinicConnection,
    client_id: uuid.UUID,
    assignment_id: uuid.UUID,
    for_update: bool = False,
) -> Any:
    """The client's own live (not cancelled) assignment with its instrument, or NotFound:
    another client's, their partner's included, is not found. The portal's JSON API and
    its pages both read an assignment through here."""
    own = (await connection.execute(*_own_query(client_id, assignment_id, for_update))).first()
    return _found(own, assignment_id)


async def _own(
    connection: ClinicConnection,
    client_id: uuid.UUID,
    assignment_id: uuid.UUID,
    for_update: bool = False,
) -> _Own:
    """`own_assignment`, and its in-progress response.

    With `for_update`, the assignment is locked first and the in-progress
    response read after, so a save that waited for another sees what it saved
    (on PostgreSQL the two go in one round trip: `execute_both`).
    """
    own, progress = await connection.execute_both(
        _own_query(client_id, assignment_id, for_update),
        (_PROGRESS, {"assignment_id": assignment_id}),
    )
    return _Own(*_found(own.first(), assignment_id), progress.scalar())


def _own_query(
    client_id: uuid.UUID, assignment_id: uuid.UUID, for_update: bool
) -> tuple[Scoped, dict[str, Any]]:
    statement = _OWN_LOCKED if for_update else _OWN
    return statement, {"assignment_id": assignment_id, "client_id": client_id}


def _found(own: Any, assignment_id: uuid.UUID) -> Any:
    if own is None:
        raise NotFound(f"no assignment {assignment_id} for you")
    return own


class _Own(NamedTuple):
    id: uuid.UUID
    status: AssignmentStatus
    couple_id: uuid.UUID | None
    activity_id: str | None
    instrument_id: uuid.UUID
    url: str
    version: str
    source: str
    due: date | None
    note: str | None
    title: str
    progress_id: uuid.UUID | None


def _key(own: _Own) -> InstrumentKey:
    return InstrumentKey.of_columns(own)
