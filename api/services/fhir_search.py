"""FHIR search in SQL: the one place a parsed `Search` becomes a statement.

Each resource type has a `Target`: the statement its rows come from (joined
to what its mapping needs), the column that orders it by default (when the
row was made, which never changes, so paging stays correct while rows are
added), and one condition builder per search parameter. Everything is
filtered, counted and paged by the database; nothing is filtered in Python.
The session's clinic scoping applies to every table here, joins and
subqueries included (`api.persistence.tenancy`).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, false, func, not_, or_, select, true
from sqlalchemy.sql import type_coerce

from integrations.careplan import CATEGORY, CATEGORY_SYSTEM
from integrations.fhir.resources import SDC_TEMP
from integrations.fhir.search import (
    SEARCH_PARAMETERS,
    Canonical,
    Clause,
    DateRange,
    Reference,
    Search,
    Text,
    Token,
    Value,
)
from schemas import (
    Assignment,
    Client,
    ClientIdentifier,
    Couple,
    CoupleMember,
    Instrument,
    Response,
    Score,
)
from schemas.base import UTCDateTime
from schemas.plan import Plan, PlanStatus, PlanVersion

Condition = Callable[[Value], ColumnElement[bool]]


@dataclass(frozen=True)
class Target:
    statement: Callable[[], Select[Any]]
    id: Any
    created: Any
    last_updated: Any
    conditions: dict[str, Condition]
    sorts: dict[str, Any]


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _is(column: Any) -> Condition:
    """A reference or `_id`: the row whose id it names (an id that is no UUID names none)."""

    def condition(value: Value) -> ColumnElement[bool]:
        wanted = _uuid(value.id if isinstance(value, Reference) else _code(value))
        return false() if wanted is None else column == wanted

    return condition


def _code(value: Value) -> str:
    assert isinstance(value, Token)
    return value.code or ""


def _token(column: Any, system: str | None = None) -> Condition:
    """A code of one code system (a status): `code`, `|code` or `system|code` with that
    system; `system|` is any code of it. Another system matches nothing."""

    def condition(value: Value) -> ColumnElement[bool]:
        assert isinstance(value, Token)
        if value.system not in (None, "", system):
            return false()
        return true() if value.code is None else column == value.code

    return condition


def _at(column: Any, as_date: bool = False) -> Condition:
    """A date search on a timestamp (or, `as_date`, a date) column; prefixes as FHIR says
    for a target that is a point: eq inside the range, gt/sa after it, lt/eb before it."""

    def condition(value: Value) -> ColumnElement[bool]:
        assert isinstance(value, DateRange)
        start: datetime | date = value.start
        end: datetime | date = value.end
        if as_date:
            start = value.start.date()
            end = max(value.end.date(), start + timedelta(days=1))
        inside = and_(column >= start, column < end)
        return {
            "eq": inside,
            "ne": not_(inside),
            "gt": column >= end,
            "sa": column >= end,
            "ge": column >= start,
            "lt": column < start,
            "eb": column < start,
            "le": column < end,
        }[value.prefix]

    return condition


def _text(column: Any) -> Condition:
    def condition(value: Value) -> ColumnElement[bool]:
        assert isinstance(value, Text)
        if value.match == "exact":
            return column == value.value
        escaped = value.value.lower().replace("\\", "\\\\").replace("%", "\\%")
        escaped = escaped.replace("_", "\\_")
        pattern = f"%{escaped}%" if value.match == "contains" else f"{escaped}%"
        return func.lower(column).like(pattern, escape="\\")

    return condition


def _identifier(system_column: Any, value_column: Any) -> Condition:
    def condition(value: Value) -> ColumnElement[bool]:
        assert isinstance(value, Token)
        terms = []
        if value.system == "":
            terms.append(system_column.is_(None))
        elif value.system is not None:
            terms.append(system_column == value.system)
        if value.code is not None:
            terms.append(value_column == value.code)
        return and_(true(), *terms)

    return condition


def _client_identifier(value: Value) -> ColumnElement[bool]:
    matches = _identifier(ClientIdentifier.system, ClientIdentifier.value)(value)
    return exists(
        select(ClientIdentifier.id).where(ClientIdentifier.client_id == Client.id, matches)
    )


def _member(value: Value) -> ColumnElement[bool]:
    wanted = _is(CoupleMember.client_id)(value)
    return exists(select(CoupleMember.id).where(CoupleMember.couple_id == Couple.id, wanted))


def _questionnaire(value: Value) -> ColumnElement[bool]:
    assert isinstance(value, Canonical)
    if value.version is None:
        return Instrument.url == value.url
    return and_(Instrument.url == value.url, Instrument.version == value.version)


def _scale(value: Value) -> ColumnElement[bool]:
    assert isinstance(value, Token)
    terms = [] if value.code is None else [Score.scale == value.code]
    if value.system == "":
        return false()
    if value.system is not None:
        terms.append(Instrument.url == value.system)
    return and_(true(), *terms)


def _partner_in_plan(value: Value) -> ColumnElement[bool]:
    wanted = _is(CoupleMember.client_id)(value)
    return exists(select(CoupleMember.id).where(CoupleMember.couple_id == Plan.couple_id, wanted))


_PLAN_STATUS = {
    "draft": PlanStatus.DRAFT,
    "active": PlanStatus.ACTIVE,
    "revoked": PlanStatus.SUPERSEDED,
}


def _plan_status(value: Value) -> ColumnElement[bool]:
    """CarePlan statuses as Tandem's: a superseded version is revoked."""
    assert isinstance(value, Token)
    if value.system not in (None, "", "http://hl7.org/fhir/request-status"):
        return false()
    if value.code is None:
        return true()
    status = _PLAN_STATUS.get(value.code)
    return false() if status is None else PlanVersion.status == status


def _plan_category(value: Value) -> ColumnElement[bool]:
    assert isinstance(value, Token)
    matches = value.system in (None, CATEGORY_SYSTEM) and value.code in (None, CATEGORY["code"])
    return true() if matches else false()


def _task_code(value: Value) -> ColumnElement[bool]:
    assert isinstance(value, Token)
    matches = value.system in (None, SDC_TEMP) and value.code in (None, "complete-questionnaire")
    return true() if matches else false()


_authored = type_coerce(func.coalesce(Response.authored, Response.created_at), UTCDateTime)

_plan_of_response = Assignment.plan_id.label("plan_id")


def _responses() -> Select[Any]:
    return (
        select(Response, Instrument, _plan_of_response)
        .join(Instrument, Instrument.id == Response.instrument_id)
        .outerjoin(Assignment, Assignment.id == Response.assignment_id)
    )


def _observations() -> Select[Any]:
    return (
        select(Score, Response, Instrument, _plan_of_response)
        .join(Response, Response.id == Score.response_id)
        .join(Instrument, Instrument.id == Response.instrument_id)
        .outerjoin(Assignment, Assignment.id == Response.assignment_id)
    )


def _tasks() -> Select[Any]:
    latest = (
        select(Response.id)
        .where(Response.assignment_id == Assignment.id)
        .order_by(Response.created_at.desc())
        .limit(1)
        .correlate(Assignment)
        .scalar_subquery()
    )
    return select(Assignment, Instrument, latest.label("response_id")).join(
        Instrument, Instrument.id == Assignment.instrument_id
    )


TARGETS: dict[str, Target] = {
    "Patient": Target(
        statement=lambda: select(Client),
        id=Client.id,
        created=Client.created_at,
        last_updated=Client.updated_at,
        conditions={
            "identifier": _client_identifier,
            "name": _text(Client.name),
            "birthdate": _at(Client.birth_date, as_date=True),
        },
        sorts={},
    ),
    "Group": Target(
        statement=lambda: select(Couple),
        id=Couple.id,
        created=Couple.created_at,
        last_updated=Couple.updated_at,
        conditions={
            "identifier": _identifier(Couple.identifier_system, Couple.identifier_value),
            "member": _member,
        },
        sorts={},
    ),
    "Questionnaire": Target(
        statement=lambda: select(Instrument),
        id=Instrument.id,
        created=Instrument.created_at,
        last_updated=Instrument.created_at,
        conditions={
            "url": _text(Instrument.url),
            "version": _token(Instrument.version),
            "title": _text(Instrument.title),
        },
        sorts={},
    ),
    "QuestionnaireResponse": Target(
        statement=_responses,
        id=Response.id,
        created=Response.created_at,
        last_updated=Response.updated_at,
        conditions={
            "subject": _is(Response.client_id),
            "patient": _is(Response.client_id),
            "questionnaire": _questionnaire,
            "authored": _at(Response.authored),
            "status": _token(Response.status, "http://hl7.org/fhir/questionnaire-answers-status"),
            "based-on": _is(Assignment.plan_id),
            "identifier": _identifier(Response.identifier_system, Response.identifier_value),
        },
        sorts={"authored": _authored},
    ),
    "Observation": Target(
        statement=_observations,
        id=Score.id,
        created=Score.created_at,
        last_updated=Score.created_at,
        conditions={
            "subject": _is(Score.client_id),
            "patient": _is(Score.client_id),
            "code": _scale,
            "date": _at(Response.authored),
            "derived-from": _is(Score.response_id),
        },
        sorts={"date": _authored},
    ),
    "Task": Target(
        statement=_tasks,
        id=Assignment.id,
        created=Assignment.created_at,
        last_updated=Assignment.updated_at,
        conditions={
            "patient": _is(Assignment.client_id),
            "subject": _is(Assignment.client_id),
            "status": _token(Assignment.status, "http://hl7.org/fhir/task-status"),
            "code": _task_code,
            "authored-on": _at(Assignment.created_at),
            "modified": _at(Assignment.updated_at),
            "based-on": _is(Assignment.plan_id),
            "owner": _is(Assignment.client_id),
            "focus": _is(Assignment.instrument_id),
        },
        sorts={"authored-on": Assignment.created_at, "modified": Assignment.updated_at},
    ),
    "CarePlan": Target(
        statement=lambda: select(Plan, PlanVersion).join(
            PlanVersion,
            and_(PlanVersion.plan_id == Plan.id, PlanVersion.version == Plan.latest_version),
        ),
        id=Plan.id,
        created=Plan.created_at,
        last_updated=PlanVersion.updated_at,
        conditions={
            "subject": _is(Plan.couple_id),
            "patient": _partner_in_plan,
            "status": _plan_status,
            "category": _plan_category,
        },
        sorts={},
    ),
}


def condition_of(target: Target, clause: Clause) -> ColumnElement[bool]:
    name = clause.parameter.name
    if name == "_id":
        build = _is(target.id)
    elif name == "_lastUpdated":
        build = _at(target.last_updated)
    else:
        build = target.conditions[name]
    return or_(*(build(value) for value in clause.values))


def sort_column(target: Target, name: str) -> Any:
    if name == "_default":
        return target.created
    if name == "_lastUpdated":
        return target.last_updated
    return target.sorts[name]


def filtered(search: Search) -> tuple[Target, Select[Any]]:
    """The target and its statement with every clause of the search applied (no paging)."""
    target = TARGETS[search.resource_type]
    statement = target.statement()
    for clause in search.clauses:
        statement = statement.where(condition_of(target, clause))
    return target, statement


def uncovered() -> list[str]:
    """Search parameters the parser accepts but this module cannot translate (none, or a bug)."""
    missing = []
    for kind, search in SEARCH_PARAMETERS.items():
        target = TARGETS[kind]
        for name in search.parameters:
            if not name.startswith("_") and name not in target.conditions:
                missing.append(f"{kind}.{name}")
        missing += [f"{kind}._sort={s}" for s in search.sorts if s not in target.sorts]
    return missing
