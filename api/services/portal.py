"""What a client does through their portal link: see, save and submit their own homework.

Every function takes the visitor the link belongs to and touches only that
client's assignments; another client's assignment (their partner's included)
is simply not found. Scores and flags are not returned here: what a client
may see of their own results is decided where results are shown.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel import Session, select

from api.errors import Conflict, FieldProblem, InvalidInput, NotFound
from api.services.assignments import mark
from api.services.instruments import load_instrument
from api.services.portal_links import PortalVisitor
from api.services.responses import record_response
from schemas import Assignment, AssignmentStatus, Instrument, Response, ResponseStatus
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
    assignment = _own(session, visitor, assignment_id)
    instrument = load_instrument(session, assignment.instrument_id)
    progress = _progress(session, assignment)
    return PortalQuestionnaire(
        assignment_id=assignment.id,
        questionnaire=instrument.questionnaire,
        saved_response=progress.questionnaire_response if progress else None,
    )


def save_progress(
    session: Session, visitor: PortalVisitor, assignment_id: uuid.UUID, document: Any
) -> PortalSaved:
    """Keep partial answers (status in-progress) to resume later; bad answers are still refused."""
    assignment = _own(session, visitor, assignment_id, for_update=True)
    _still_open(assignment)
    if not isinstance(document, dict) or document.get("status") != ResponseStatus.IN_PROGRESS:
        raise InvalidInput(
            "save answers with status in-progress; submit them to finish",
            [FieldProblem("/status", "must be in-progress here")],
        )
    recorded = record_response(
        session,
        client_id=visitor.client_id,
        instrument=load_instrument(session, assignment.instrument_id),
        questionnaire_response=document,
        assignment_id=assignment.id,
        progress=_progress(session, assignment),
    )
    if assignment.status != AssignmentStatus.IN_PROGRESS:
        mark(session, assignment, AssignmentStatus.IN_PROGRESS)
    return PortalSaved(status="in-progress", response_id=recorded.response.id)


def submit(
    session: Session, visitor: PortalVisitor, assignment_id: uuid.UUID, document: Any
) -> PortalSubmitted:
    """Validate and score the completed response and complete the assignment, or change nothing."""
    assignment = _own(session, visitor, assignment_id, for_update=True)
    _still_open(assignment)
    if not isinstance(document, dict) or document.get("status") != ResponseStatus.COMPLETED:
        raise InvalidInput(
            "submit a response with status completed",
            [FieldProblem("/status", "must be completed to submit")],
        )
    recorded = record_response(
        session,
        client_id=visitor.client_id,
        instrument=load_instrument(session, assignment.instrument_id),
        questionnaire_response=document,
        assignment_id=assignment.id,
        progress=_progress(session, assignment),
    )
    mark(session, assignment, AssignmentStatus.COMPLETED)
    return PortalSubmitted(status="completed", response_id=recorded.response.id)


def _own(
    session: Session, visitor: PortalVisitor, assignment_id: uuid.UUID, for_update: bool = False
) -> Assignment:
    statement = select(Assignment).where(
        Assignment.id == assignment_id,
        Assignment.client_id == visitor.client_id,
        Assignment.status != AssignmentStatus.CANCELLED,
    )
    if for_update:
        statement = statement.with_for_update()
    assignment = session.exec(statement).first()
    if assignment is None:
        raise NotFound(f"no assignment {assignment_id} for you")
    return assignment


def _still_open(assignment: Assignment) -> None:
    if assignment.status == AssignmentStatus.COMPLETED:
        raise Conflict("this assignment is already completed")


def _progress(session: Session, assignment: Assignment) -> Response | None:
    return session.exec(
        select(Response).where(
            Response.assignment_id == assignment.id,
            Response.status == ResponseStatus.IN_PROGRESS,
        )
    ).first()
