"""Clinic scoping, in one place.

A `ClinicSession` knows the clinic it works for. Every ORM query it runs on a
clinic-owned table is filtered by that clinic automatically (SQLAlchemy's
`with_loader_criteria`, added for every statement in `do_orm_execute`), and
every clinic-owned row it writes is stamped with that clinic. A session with
no clinic refuses to touch clinic-owned tables at all, unless the caller says
explicitly that it works across clinics (`across_clinics`), as system jobs
such as installing built-in instruments do. Forgetting the clinic therefore
cannot leak rows: the query either is scoped or fails.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import ORMExecuteState, with_loader_criteria
from sqlalchemy.sql.util import find_tables
from sqlmodel import Session
from sqlmodel.main import default_registry

from schemas.base import ClinicOwned

_CLINIC = "clinic_id"
_ACROSS = "across_clinics"


class TenancyError(RuntimeError):
    """Code tried to read or write clinic-owned rows without (or outside) its clinic."""


class ClinicSession(Session):
    @property
    def clinic_id(self) -> uuid.UUID | None:
        return self.info.get(_CLINIC)


def scope_to_clinic(session: Session, clinic_id: uuid.UUID) -> None:
    """From now on `session` reads and writes only `clinic_id`'s rows."""
    current = session.info.get(_CLINIC)
    if current is not None and current != clinic_id:
        raise TenancyError("this session is already scoped to another clinic")
    session.info[_CLINIC] = clinic_id


@contextmanager
def acting_for(session: Session, clinic_id: uuid.UUID) -> Iterator[Session]:
    """Scope an unscoped session to one clinic for a block (system jobs visiting each clinic).

    Pending rows are flushed on leaving, while the clinic is still in scope.
    """
    if session.info.get(_CLINIC) is not None:
        raise TenancyError("this session is already scoped to a clinic")
    session.info[_CLINIC] = clinic_id
    try:
        yield session
        session.flush()
    finally:
        session.info.pop(_CLINIC, None)


@contextmanager
def across_clinics(session: Session) -> Iterator[Session]:
    """Lift the clinic filter for a system job. Never use it on a request's behalf."""
    session.info[_ACROSS] = True
    try:
        yield session
    finally:
        session.info.pop(_ACROSS, None)


@cache
def _clinic_owned_tables(_mapper_count: int) -> tuple[type[ClinicOwned], ...]:
    """Every mapped clinic-owned class (recomputed only when a class is mapped).

    The criteria name each class rather than the `ClinicOwned` mixin because a
    SQLModel mixin has no class-level column for the lambda to reach.
    """
    return tuple(
        mapper.class_
        for mapper in default_registry.mappers
        if issubclass(mapper.class_, ClinicOwned)
    )


def _touches_clinic_rows(state: ORMExecuteState) -> bool:
    """Whether the statement reads any clinic-owned table, in its columns, FROM or joins."""
    owned = {table.__table__ for table in _clinic_owned_tables(len(default_registry.mappers))}
    if any(issubclass(mapper.class_, ClinicOwned) for mapper in state.all_mappers):
        return True
    found = find_tables(
        state.statement, check_columns=True, include_aliases=True, include_joins=True
    )
    return any(table in owned for table in found)


@event.listens_for(ClinicSession, "do_orm_execute")
def _scope_queries(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.is_column_load or state.is_relationship_load:
        return  # the criteria of the parent statement already travel with these
    session = state.session
    if session.info.get(_ACROSS):
        return
    clinic_id = session.info.get(_CLINIC)
    if clinic_id is None:
        if _touches_clinic_rows(state):
            raise TenancyError("query on clinic-owned rows from a session with no clinic")
        return
    # Criteria for every clinic-owned class: each applies wherever its table appears
    # (selected, in select_from, joined, aliased, or lazily loaded) and is a no-op elsewhere.
    state.statement = state.statement.options(
        *(
            with_loader_criteria(
                table, lambda cls: cls.clinic_id == clinic_id, include_aliases=True
            )
            for table in _clinic_owned_tables(len(default_registry.mappers))
        )
    )


@event.listens_for(ClinicSession, "before_flush")
def _stamp_writes(session: Session, _context: Any, _instances: Any) -> None:
    if session.info.get(_ACROSS):
        return
    clinic_id = session.info.get(_CLINIC)
    for row in session.new:
        if not isinstance(row, ClinicOwned):
            continue
        if row.clinic_id is None:
            if clinic_id is None:
                raise TenancyError(f"new {type(row).__name__} with no clinic to belong to")
            row.clinic_id = clinic_id
        elif row.clinic_id != clinic_id:
            raise TenancyError(f"new {type(row).__name__} belongs to another clinic")
    for row in session.dirty:
        if isinstance(row, ClinicOwned) and inspect(row).attrs.clinic_id.history.has_changes():
            raise TenancyError(f"{type(row).__name__} cannot move to another clinic")
