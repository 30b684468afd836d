"""The FHIR face's reads and searches, over the same rows and services as /v1.

A read is a search by `_id`, so both go through one statement per resource
type (`api.services.fhir_search`) and one mapping (`integrations.fhir.resources`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from api.errors import BadRequest, FieldProblem, InvalidInput, NotFound
from api.pagination import aware_time, decode_cursor, encode_cursor, identifier
from api.services import fhir_search, plans
from integrations.careplan import care_plan
from integrations.fhir import resources
from integrations.fhir.bundle import searchset
from integrations.fhir.capability import INTERACTIONS
from integrations.fhir.search import (
    SEARCH_PARAMETERS,
    Clause,
    Search,
    SearchError,
    Token,
    parse_search,
)
from schemas import Assignment, ClientIdentifier, CoupleMember
from schemas.plan import PlanVersion


@dataclass(frozen=True)
class Page:
    matches: list[dict[str, Any]]
    includes: list[dict[str, Any]]
    total: int
    next_cursor: str | None


def check_type(resource_type: str, interaction: str) -> None:
    """NotFound unless this server does `interaction` on `resource_type`."""
    if interaction not in INTERACTIONS.get(resource_type, ()):
        supported = [kind for kind, done in INTERACTIONS.items() if interaction in done]
        raise NotFound(
            f"this server does not {interaction} {resource_type}; it does for "
            f"{', '.join(supported)}"
        )


def read(session: Session, resource_type: str, resource_id: str) -> dict[str, Any]:
    """One resource by its logical id, or NotFound (another clinic's ids are not found)."""
    check_type(resource_type, "read")
    by_id = SEARCH_PARAMETERS[resource_type].parameters["_id"]
    search = Search(resource_type, clauses=(Clause(by_id, (Token(None, resource_id),)),), count=1)
    page = run(session, search)
    if not page.matches:
        raise NotFound(f"no {resource_type}/{resource_id}")
    return page.matches[0]


def search(
    session: Session,
    resource_type: str,
    pairs: Iterable[tuple[str, str]],
    strict: bool,
    base: str,
) -> dict[str, Any]:
    """A searchset Bundle for the parameters, or BadRequest naming the bad one."""
    check_type(resource_type, "search-type")
    try:
        parsed = parse_search(resource_type, pairs, strict=strict)
    except SearchError as error:
        problem = FieldProblem.of_parameter(error.parameter, str(error))
        raise BadRequest(str(error), [problem]) from None
    page = run(session, parsed)
    return searchset(
        base, resource_type, parsed.given, page.matches, page.includes, page.total,
        page.next_cursor, parsed.ignored,
    )  # fmt: skip


def run(session: Session, search: Search) -> Page:
    """Count, order, page and map the rows the search matches."""
    target, statement = fhir_search.filtered(search)
    total = session.execute(statement.with_only_columns(func.count(target.id))).scalar_one()
    if search.summary_count:
        return Page([], [], total, None)
    key = fhir_search.sort_column(target, search.sort.parameter)
    sort = f"{'-' if search.sort.descending else ''}{search.sort.parameter}"
    try:
        position = decode_cursor(search.cursor, {"s": str, "v": aware_time, "id": identifier})
    except InvalidInput:
        position = {"s": None}
    if position is not None:
        if position["s"] != sort:
            raise BadRequest(
                "this _cursor is not one this search handed out",
                [FieldProblem.of_parameter("_cursor", "follow the Bundle's next link as given")],
            )
        before = search.sort.descending
        beyond = key < position["v"] if before else key > position["v"]
        after_id = target.id < position["id"] if before else target.id > position["id"]
        statement = statement.where(or_(beyond, and_(key == position["v"], after_id)))
    order = (key.desc(), target.id.desc()) if search.sort.descending else (key, target.id)
    rows = session.execute(
        statement.add_columns(key.label("sort_key")).order_by(*order).limit(search.count + 1)
    ).all()
    more = len(rows) > search.count
    rows = rows[: search.count]
    matches, includes = resources_of(session, search, rows)
    next_cursor = None
    if more and rows:
        last = rows[-1]
        next_cursor = encode_cursor(
            {"s": sort, "v": last.sort_key.isoformat(), "id": str(last[0].id)}
        )
    return Page(matches, includes, total, next_cursor)


def resources_of(
    session: Session, search: Search, rows: Sequence[Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The FHIR resources for rows of `fhir_search.filtered(search)`'s statement (each row
    ending with its sort key), and those the search's `_include`s bring."""
    kind = search.resource_type
    includes: list[dict[str, Any]] = []
    if kind == "Patient":
        clients = [row[0] for row in rows]
        found = session.execute(
            select(ClientIdentifier)
            .where(ClientIdentifier.client_id.in_([c.id for c in clients]))
            .order_by(ClientIdentifier.system, ClientIdentifier.value)
        ).scalars()
        identifiers: dict[uuid.UUID, list[ClientIdentifier]] = {}
        for row in found:
            identifiers.setdefault(row.client_id, []).append(row)
        return [resources.patient(c, identifiers.get(c.id, [])) for c in clients], includes
    if kind == "Group":
        couples = [row[0] for row in rows]
        members: dict[uuid.UUID, list[uuid.UUID]] = {}
        for member in session.execute(
            select(CoupleMember)
            .where(CoupleMember.couple_id.in_([c.id for c in couples]))
            .order_by(CoupleMember.position)
        ).scalars():
            members.setdefault(member.couple_id, []).append(member.client_id)
        return [resources.group(c, members.get(c.id, [])) for c in couples], includes
    if kind == "Questionnaire":
        return [resources.questionnaire(row[0]) for row in rows], includes
    if kind == "QuestionnaireResponse":
        matches = [resources.questionnaire_response(r, i, plan) for r, i, plan, _ in rows]
        if "QuestionnaireResponse:questionnaire" in search.includes:
            instruments = {row[1].id: row[1] for row in rows}
            includes = [resources.questionnaire(i) for i in instruments.values()]
        return matches, includes
    if kind == "Observation":
        matches = [resources.observation(s, r, i) for s, r, i, _, _ in rows]
        if "Observation:derived-from" in search.includes:
            answered = {row[1].id: row for row in rows}.values()
            includes = [resources.questionnaire_response(r, i, p) for _, r, i, p, _ in answered]
        return matches, includes
    if kind == "CarePlan":
        return [_care_plan_of(session, version) for _, version, _ in rows], includes
    assert kind == "Task"
    return [resources.task(a, i, response_id) for a, i, response_id, _ in rows], includes


def _care_plan_of(session: Session, version: PlanVersion) -> dict[str, Any]:
    """A plan's version as a CarePlan, its activities listing the Tasks its approval made."""
    tasks = session.execute(
        select(Assignment.id)
        .where(Assignment.plan_id == version.plan_id, Assignment.plan_version == version.version)
        .order_by(Assignment.created_at, Assignment.id)
    ).scalars()
    return care_plan(plans.public(session, version), list(tasks))
