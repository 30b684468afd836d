"""What a client does through their portal link: see, save and submit their own homework.

Every function takes the visitor the link belongs to and touches only that
client's assignments; another client's assignment (their partner's included)
is simply not found. Scores and flags are not returned here: what a client
may see of their own results is decided where results are shown.
"""

from __future__ import annotations

import uuid
from typing import Any, NamedTuple

from sqlmodel import Session, select

from api.errors import Conflict, FieldProblem, InvalidInput, NotFound
from api.services.assignments import change_status
from api.services.instruments import InstrumentKey, clinical_definition
from api.services.portal_links import PortalVisitor
from api.services.responses import record_response
from schemas import (
    Assignment,
    AssignmentStatus,
    Instrument,
    Response,
    ResponseStatus,
)
from schemas.assignment import PortalAssignment, PortalQuestionnaire
from schemas.instrument import InstrumentRef
from schemas.response import PortalSaved, PortalSubmitted

OPEN = (AssignmentStatus.REQUESTED, AssignmentStatus.IN_PROGRESS)


def open_assignments(session: Session, visitor: PortalVisitor) -> list[PortalAssignment]:
    rows = session.exec(
        select(Assignment, Instrument.slug, Instrument.url, Instrument.version, Instrument.title)
        .join(Instrument, Instrument.id == Assignment.instrument_id)
        .where(Assignment.client_id == visitor.client_id, Assignment.status.in_(OPEN))  # type: ignore[attr-defined]
        .order_by(Assignment.due.is_(None), Assignment.due, Assignment.created_at)  # type: ignore[union-attr]
    )
    return [
        PortalAssignment(
            id=a.id,
            title=title,
            instrument=InstrumentRef(slug=slug, url=url, version=version),
            status=a.status,
            due=a.due,
        )
        for a, slug, url, version, title in rows
    ]


def questionnaire_for(
    session: Session, visitor: PortalVisitor, assignment_id: uuid.UUID
) -> PortalQuestionnaire:
    own = _own(session, visitor, assignment_id)
    saved = None
    if own.progress_id is not None:
        saved = session.exec(
            select(Response.questionnaire_response).where(Response.id == own.progress_id)
        ).one()
    return PortalQuestionnaire(
        assignment_id=own.id,
        questionnaire=clinical_definition(session, _key(own)).questionnaire,
        saved_response=saved,
    )


def save_progress(
    session: Session, visitor: PortalVisitor, assignment_id: uuid.UUID, document: Any
) -> PortalSaved:
    """Keep partial answers (status in-progress) to resume later; bad answers are still refused."""
    response_id = _record(
        session, visitor, assignment_id, document, ResponseStatus.IN_PROGRESS,
        "save answers with status in-progress; submit them to finish",
    )  # fmt: skip
    return PortalSaved(status="in-progress", response_id=response_id)


def submit(
    session: Session, visitor: PortalVisitor, assignment_id: uuid.UUID, document: Any
) -> PortalSubmitted:
    """Validate and score the completed response and complete the assignment, or change nothing."""
    response_id = _record(
        session, visitor, assignment_id, document, ResponseStatus.COMPLETED,
        "submit a response with status completed",
    )  # fmt: skip
    return PortalSubmitted(status="completed", response_id=response_id)


def _record(
    session: Session,
    visitor: PortalVisitor,
    assignment_id: uuid.UUID,
    document: Any,
    status: ResponseStatus,
    refusal: str,
) -> uuid.UUID:
    """Record the visitor's answers to their open assignment with the status a step
    needs, and move the assignment along (in-progress, or completed)."""
    own = _own(session, visitor, assignment_id, for_update=True)
    if own.status == AssignmentStatus.COMPLETED:
        raise Conflict("this assignment is already completed")
    if not isinstance(document, dict) or document.get("status") != status:
        raise InvalidInput(refusal, [FieldProblem("/status", f"must be {status} here")])
    recorded = record_response(
        session,
        client_id=visitor.client_id,
        instrument=_key(own),
        questionnaire_response=document,
        assignment_id=own.id,
        progress_id=own.progress_id,
    )
    next_status = (
        AssignmentStatus.COMPLETED
        if status == ResponseStatus.COMPLETED
        else AssignmentStatus.IN_PROGRESS
    )
    if own.status != next_status:
        change_status(session, own.id, next_status)
    return recorded.id


def _own(
    session: Session, visitor: PortalVisitor, assignment_id: uuid.UUID, for_update: bool = False
) -> _Own:
    """The visitor's own live assignment with its instrument, and its in-progress response.

    With `for_update`, the assignment is locked first and the in-progress
    response read after, so a save that waited for another sees what it saved.
    """
    statement = (
        select(
            Assignment.id,
            Assignment.status,
            Instrument.id.label("instrument_id"),  # type: ignore[attr-defined]
            Instrument.url,
            Instrument.version,
            Instrument.source,
        )
        .join(Instrument, Instrument.id == Assignment.instrument_id)
        .where(
            Assignment.id == assignment_id,
            Assignment.client_id == visitor.client_id,
            Assignment.status != AssignmentStatus.CANCELLED,
        )
    )
    if for_update:
        statement = statement.with_for_update(of=Assignment)  # type: ignore[arg-type]
    own = session.exec(statement).first()
    if own is None:
        raise NotFound(f"no assignment {assignment_id} for you")
    progress_id = session.exec(
        select(Response.id).where(
            Response.assignment_id == own.id, Response.status == ResponseStatus.IN_PROGRESS
        )
    ).first()
    return _Own(*own, progress_id)


class _Own(NamedTuple):
    id: uuid.UUID
    status: AssignmentStatus
    instrument_id: uuid.UUID
    url: str
    version: str
    source: str
    progress_id: uuid.UUID | None


def _key(own: _Own) -> InstrumentKey:
    return InstrumentKey.of_columns(own)
