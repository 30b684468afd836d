"""Assignments: homework given to one client, with the portal link that opens it.

Every change to an assignment ends with `stamp_changes` (on a session) or
`number_status_change` (on a clinic connection), which take the next
numbers of the clinic's change sequence. Taking them locks the clinic's
counter row until the transaction commits, so sequence order is commit
order: a poller reading in sequence order, or by `updated_since` (stamped
from the database clock while the lock is held), never skips a change that
committed while it was reading.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson
from pydantic import Field
from sqlalchemy import bindparam, func, update
from sqlmodel import Session, select

from api.errors import Conflict, FieldProblem, InvalidInput, NotFound
from api.pagination import decode_cursor, encode_cursor, sequence_number
from api.persistence.connection import ClinicConnection
from api.persistence.tenancy import CLINIC_PARAMETER, Scoped, execute_scoped, one_of, scoped
from api.services.clients import couple_members
from api.services.instruments import resolve_instrument
from api.services.portal_links import issue_link, revoke_links
from api.settings import Settings
from assessments import WHOLE_STATUSES
from schemas import (
    Assignment,
    AssignmentStatus,
    ChangeCounter,
    Client,
    Instrument,
    Response,
)
from schemas.assignment import (
    AssignmentCreate,
    AssignmentPublic,
    AssignmentUpdate,
    LinksRevoked,
    PortalLinkIssued,
)
from schemas.base import utcnow
from schemas.instrument import InstrumentRef

FINISHED = frozenset({AssignmentStatus.COMPLETED, AssignmentStatus.CANCELLED})


def assign(session: Session, settings: Settings, body: AssignmentCreate) -> list[AssignmentPublic]:
    """One assignment per recipient (two for a couple), each with a fresh portal link."""
    problems = []
    try:
        instrument = resolve_instrument(session, body.instrument)
    except NotFound as error:
        problems.append(FieldProblem("/instrument", error.detail))
    if body.couple_id is not None:
        try:
            recipients = couple_members(session, body.couple_id)
        except NotFound:
            problems.append(
                FieldProblem("/couple_id", f"no couple {body.couple_id} in this clinic")
            )
    else:
        assert body.client_id is not None
        recipients = [body.client_id]
        if session.get(Client, body.client_id) is None:
            problems.append(
                FieldProblem("/client_id", f"no client {body.client_id} in this clinic")
            )
    if problems:
        raise InvalidInput("the assignment cannot be made", problems)

    assignments = [
        Assignment(
            client_id=client_id,
            couple_id=body.couple_id,
            instrument_id=instrument.id,
            due=body.due,
            note=body.note,
        )
        for client_id in recipients
    ]
    session.add_all(assignments)
    tokens = {a.id: issue_link(session, a, settings.portal_link_days)[0] for a in assignments}
    stamp_changes(session, assignments)
    ref = _ref(instrument)
    return [
        _public(a, ref, None, portal_url=portal_url(settings, tokens[a.id])) for a in assignments
    ]


def get_assignment(session: Session, assignment_id: uuid.UUID) -> AssignmentPublic:
    """One assignment's view, in a session (after a change made in the same transaction)."""
    rows = execute_scoped(session, _views_statement(by_id=True), {"assignment_id": assignment_id})
    return _one_view(rows.first(), assignment_id)


async def read_assignment(
    connection: ClinicConnection, assignment_id: uuid.UUID
) -> AssignmentPublic:
    rows = await connection.execute(_views_statement(by_id=True), {"assignment_id": assignment_id})
    return _one_view(rows.first(), assignment_id)


async def list_assignments(
    connection: ClinicConnection,
    *,
    status: AssignmentStatus | None,
    client_id: uuid.UUID | None,
    couple_id: uuid.UUID | None,
    updated_since: datetime | None,
    cursor: str | None,
    limit: int,
) -> bytes:
    """Assignments in the order their changes committed (see the module docstring): the
    `AssignmentPage` document as JSON, written straight from the rows (a page is fifty
    views; building fifty models to write them out was most of a page's time)."""
    position = decode_cursor(cursor, {"seq": sequence_number})
    after = position["seq"] if position else 0
    filters = {
        "status": status.value if status is not None else None,
        "client_id": client_id,
        "couple_id": couple_id,
        "updated_since": updated_since,
    }
    given = {name: value for name, value in filters.items() if value is not None}
    statement = _views_statement(filters=frozenset(given))
    rows = (
        await connection.execute(statement, {**given, "after": after, "limit": limit + 1})
    ).all()
    page = rows[:limit]
    return orjson.dumps(
        {
            "items": [_view_document(row) for row in page],
            "next_cursor": encode_cursor({"seq": page[-1].change_seq if page else after}),
            "has_more": len(rows) > limit,
        },
        option=orjson.OPT_UTC_Z,
    )


_assignment = Assignment.__table__.c  # type: ignore[attr-defined]
_instrument = Instrument.__table__.c  # type: ignore[attr-defined]
_response = Response.__table__.c  # type: ignore[attr-defined]
_clinic = bindparam(CLINIC_PARAMETER)
_FILTERS = {
    "status": _assignment.status,
    "client_id": _assignment.client_id,
    "couple_id": _assignment.couple_id,
}


@lru_cache(maxsize=64)
def _views_statement(*, by_id: bool = False, filters: frozenset[str] = frozenset()) -> Scoped:
    """Assignments as their public view, each with its completed response: one statement.

    One assignment (`by_id`), or a page in change order after `:after`, narrowed
    by the `filters` given. Built (and checked) once per shape.
    """
    completed = (
        select(_response.id)
        .where(
            _response.clinic_id == _clinic,
            _response.assignment_id == _assignment.id,
            one_of(_response.status, sorted(WHOLE_STATUSES)),
        )
        .order_by(_response.created_at.desc())
        .limit(1)
        .correlate(Assignment.__table__)  # type: ignore[attr-defined]
        .scalar_subquery()
        .label("response_id")
    )
    statement = (
        select(
            _assignment.id,
            _assignment.client_id,
            _assignment.couple_id,
            _assignment.status,
            _assignment.due,
            _assignment.note,
            _assignment.created_at,
            _assignment.updated_at,
            _assignment.change_seq,
            _instrument.slug,
            _instrument.url,
            _instrument.version,
            completed,
        )
        .select_from(
            Assignment.__table__.join(  # type: ignore[attr-defined]
                Instrument.__table__,  # type: ignore[attr-defined]
                (_instrument.id == _assignment.instrument_id) & (_instrument.clinic_id == _clinic),
            )
        )
        .where(_assignment.clinic_id == _clinic)
    )
    if by_id:
        return scoped(statement.where(_assignment.id == bindparam("assignment_id")))
    for name in sorted(filters - {"updated_since"}):
        statement = statement.where(_FILTERS[name] == bindparam(name))
    floor = bindparam("after") + 1
    if "updated_since" in filters:
        # Times follow change numbers (both are taken under the clinic's counter lock),
        # so the first change at or after the time bounds the walk along the sequence.
        first = (
            select(_assignment.change_seq)
            .where(
                _assignment.clinic_id == _clinic,
                _assignment.updated_at >= bindparam("updated_since"),
            )
            .order_by(_assignment.updated_at, _assignment.change_seq)
            .limit(1)
            .correlate(None)  # its own walk of assignments, not the outer row
            .scalar_subquery()
        )
        floor = func.coalesce(first, floor)
        statement = statement.where(_assignment.updated_at >= bindparam("updated_since"))
    return scoped(
        statement.where(_assignment.change_seq >= floor)
        .where(_assignment.change_seq > bindparam("after"))
        .order_by(_assignment.change_seq)
        .limit(bindparam("limit"))
    )


class _View(AssignmentPublic):
    change_seq: int = Field(exclude=True)


def _view_of(row: Any) -> _View:
    """The public view of a row of `_views_statement`, from the same document a page
    writes (`_view_document`), so the two cannot drift apart."""
    return _View.model_validate({**_view_document(row), "change_seq": row.change_seq})


def _view_document(row: Any) -> dict[str, Any]:
    """`AssignmentPublic` of a row of `_views_statement`, as orjson writes it (the page test
    holds it to the model, field for field)."""
    return {
        "id": row.id,
        "client_id": row.client_id,
        "couple_id": row.couple_id,
        "instrument": {"slug": row.slug, "url": row.url, "version": row.version},
        "status": row.status,
        "due": row.due,
        "note": row.note,
        "response_id": row.response_id,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "portal_url": None,
    }


def _one_view(row: Any, assignment_id: uuid.UUID) -> _View:
    if row is None:
        raise NotFound(f"no assignment {assignment_id}")
    return _view_of(row)


def update_assignment(
    session: Session, assignment_id: uuid.UUID, body: AssignmentUpdate
) -> AssignmentPublic:
    assignment = _load(session, assignment_id, for_update=True)
    changes = body.model_dump(exclude_unset=True)
    if changes.get("status", "") is None:
        del changes["status"]  # "no status change" said explicitly
    if not changes:
        raise InvalidInput("nothing to change: send due, note or status", [])
    if assignment.status in FINISHED:
        raise Conflict(f"the assignment is {assignment.status} and can no longer change")
    if "due" in changes:
        assignment.due = body.due
    if "note" in changes:
        assignment.note = body.note
    if body.status == "cancelled":
        assignment.status = AssignmentStatus.CANCELLED
        revoke_links(session, assignment_id=assignment.id)
    stamp_changes(session, [assignment])
    return get_assignment(session, assignment.id)


def revoke_assignment_links(session: Session, assignment_id: uuid.UUID) -> LinksRevoked:
    """Revoke every link of the assignment's client: any of them opens this assignment."""
    assignment = _load(session, assignment_id)
    revoked = revoke_links(session, client_id=assignment.client_id)
    return LinksRevoked(assignment_id=assignment.id, revoked=revoked)


def new_assignment_link(
    session: Session, settings: Settings, assignment_id: uuid.UUID
) -> PortalLinkIssued:
    """A fresh link for the assignment's client; earlier links of the assignment stop working."""
    assignment = _load(session, assignment_id)
    if assignment.status == AssignmentStatus.CANCELLED:
        raise Conflict("the assignment is cancelled: a new link would not open it")
    revoke_links(session, assignment_id=assignment.id)
    token, link = issue_link(session, assignment, settings.portal_link_days)
    return PortalLinkIssued(
        assignment_id=assignment.id,
        portal_url=portal_url(settings, token),
        expires_at=link.expires_at,
    )


def portal_url(settings: Settings, token: str) -> str:
    return f"{settings.public_url.rstrip('/')}/portal/{token}"


async def number_status_change(
    connection: ClinicConnection, assignment_id: uuid.UUID, status: AssignmentStatus
) -> None:
    """Move an assignment to `status` (portal save or submit) under the next change number.

    Called as the last statement before commit, so the clinic's counter stays
    locked only until the commit. On PostgreSQL one statement takes the number
    and stamps the assignment, and it travels with the COMMIT
    (`ClinicConnection.execute_later`): the lock is held only while the server
    runs the two (SQLite has one writer at a time and no such cost).
    """
    if connection.dialect.name == "postgresql":
        # Sent with the COMMIT: the counter stays locked only while the server runs both.
        await connection.execute_later(
            _NUMBER_STATUS, {"assignment_id": assignment_id, "new_status": status.value}, rows=1
        )
        return
    seq, stamped = await _next_changes_of(connection, 1)
    await connection.execute_later(
        _SET_STATUS,
        {"assignment_id": assignment_id, "new_status": status.value, "seq": seq, "at": stamped},
        rows=1,
    )


def stamp_changes(session: Session, assignments: list[Assignment]) -> None:
    """Number these changes from the clinic's sequence and stamp the database clock."""
    last, stamped = _next_changes(session, len(assignments))
    for offset, assignment in enumerate(assignments):
        assignment.change_seq = last - len(assignments) + 1 + offset
        assignment.updated_at = stamped
        assignment.version = (assignment.version or 0) + 1
    session.flush()


def _next_changes_statement(clock: Any) -> Scoped:
    """Take `:count` numbers of the clinic's change sequence: the last one, and the time.

    The UPDATE locks the clinic's counter row until commit (see the module
    docstring); on PostgreSQL the time is the database's clock, read under that lock.
    """
    counter = ChangeCounter.__table__.c  # type: ignore[attr-defined]
    return scoped(
        update(ChangeCounter.__table__)  # type: ignore[attr-defined]
        .where(counter.clinic_id == bindparam(CLINIC_PARAMETER))
        .values(seq=counter.seq + bindparam("count"))
        .returning(counter.seq, *([clock] if clock is not None else []))
    )


_NEXT_CHANGES = {
    "postgresql": _next_changes_statement(func.clock_timestamp()),
    "sqlite": _next_changes_statement(None),
}
_assignment = Assignment.__table__.c  # type: ignore[attr-defined]
_SET_STATUS = scoped(
    update(Assignment.__table__)  # type: ignore[attr-defined]
    .where(
        _assignment.clinic_id == bindparam(CLINIC_PARAMETER),
        _assignment.id == bindparam("assignment_id"),
    )
    .values(
        status=bindparam("new_status"),
        change_seq=bindparam("seq"),
        updated_at=bindparam("at"),
        version=_assignment.version + 1,
    )
)


_counter = ChangeCounter.__table__.c  # type: ignore[attr-defined]
_taken = (
    update(ChangeCounter.__table__)  # type: ignore[attr-defined]
    .where(_counter.clinic_id == bindparam(CLINIC_PARAMETER))
    .values(seq=_counter.seq + 1)
    .returning(_counter.clinic_id, _counter.seq, func.clock_timestamp().label("at"))
    .cte("taken")
)
_NUMBER_STATUS = scoped(  # PostgreSQL: number and stamp in one statement
    update(Assignment.__table__)  # type: ignore[attr-defined]
    .where(
        _assignment.clinic_id == bindparam(CLINIC_PARAMETER),
        _assignment.id == bindparam("assignment_id"),
        _assignment.clinic_id == _taken.c.clinic_id,
    )
    .values(
        status=bindparam("new_status"),
        change_seq=_taken.c.seq,
        updated_at=_taken.c.at,
        version=_assignment.version + 1,
    )
)


def _next_changes(session: Session, count: int) -> tuple[int, datetime]:
    dialect = session.get_bind().dialect.name
    row = execute_scoped(session, _NEXT_CHANGES[dialect], {"count": count}).one()
    return _numbered(row)


async def _next_changes_of(connection: ClinicConnection, count: int) -> tuple[int, datetime]:
    row = (await connection.execute(_NEXT_CHANGES[connection.dialect.name], {"count": count})).one()
    return _numbered(row)


def _numbered(row: Any) -> tuple[int, datetime]:
    return row[0], (row[1] if len(row) > 1 else utcnow())


def _load(session: Session, assignment_id: uuid.UUID, for_update: bool = False) -> Assignment:
    statement = select(Assignment).where(Assignment.id == assignment_id)
    if for_update:
        statement = statement.with_for_update()
    assignment = session.exec(statement).first()
    if assignment is None:
        raise NotFound(f"no assignment {assignment_id}")
    return assignment


def _ref(instrument: Instrument) -> InstrumentRef:
    return InstrumentRef(slug=instrument.slug, url=instrument.url, version=instrument.version)


def _public(
    assignment: Assignment,
    instrument: InstrumentRef,
    response_id: uuid.UUID | None,
    portal_url: str | None = None,
) -> AssignmentPublic:
    return AssignmentPublic(
        id=assignment.id,
        client_id=assignment.client_id,
        couple_id=assignment.couple_id,
        instrument=instrument,
        status=assignment.status,
        due=assignment.due,
        note=assignment.note,
        response_id=response_id,
        created_at=assignment.created_at,
        updated_at=assignment.updated_at,
        portal_url=portal_url,
    )
