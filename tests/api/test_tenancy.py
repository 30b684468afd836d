"""Clinic scoping: a session sees and writes only its own clinic's rows, whatever the query."""

from __future__ import annotations

import pytest
from sqlalchemy import func, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from api.persistence import (
    ClinicSession,
    TenancyError,
    across_clinics,
    acting_for,
    scope_to_clinic,
)
from schemas import Assignment, Client, Clinic, CoupleMember, Instrument
from tests.api.factories import clinic_session, make_client, make_couple


@pytest.fixture
def two_clinics(engine, session):
    """`session` (clinic A) and a second clinic B, each with two clients."""
    ours = [make_client(session, "A1"), make_client(session, "A2")]
    session.commit()
    with clinic_session(engine) as other:
        theirs = [make_client(other, "B1"), make_client(other, "B2")]
        other.commit()
        yield session, ours, other, theirs


def test_queries_return_only_the_sessions_clinic(two_clinics):
    session, ours, _, theirs = two_clinics
    assert {c.id for c in session.exec(select(Client))} == {c.id for c in ours}
    assert session.exec(select(func.count()).select_from(Client)).one() == 2
    assert session.exec(select(func.count(Client.id))).one() == 2
    assert session.get(Client, theirs[0].id) is None


def test_filters_and_joins_stay_inside_the_clinic(two_clinics):
    session, ours, other, theirs = two_clinics
    make_couple(session, *ours)
    session.commit()
    make_couple(other, *theirs)
    other.commit()
    joined = session.exec(
        select(CoupleMember, Client).join(Client, Client.id == CoupleMember.client_id)
    )
    assert {client.name for _, client in joined} == {"A1", "A2"}
    named = session.exec(select(Client).where(Client.name == "B1")).all()
    assert named == []


def test_bulk_updates_touch_only_the_sessions_clinic(two_clinics):
    session, _, other, theirs = two_clinics
    session.execute(update(Client).values(name="renamed"))
    session.commit()
    other.expire_all()
    assert {other.get(Client, c.id).name for c in theirs} == {"B1", "B2"}


@pytest.mark.parametrize(
    "statement",
    [
        select(Client),
        select(func.count()).select_from(Client),
        select(Clinic.name).join(Client, Client.clinic_id == Clinic.id),
    ],
    ids=["entity", "select-from", "join"],
)
def test_a_session_without_a_clinic_refuses_clinic_rows(engine, statement):
    with ClinicSession(engine) as unscoped, pytest.raises(TenancyError, match="no clinic"):
        unscoped.exec(statement).all()


def test_a_session_without_a_clinic_may_read_clinics(engine, clinic):
    with ClinicSession(engine) as unscoped:
        assert unscoped.get(Clinic, clinic.id).name == "Test Clinic"


def test_a_session_without_a_clinic_cannot_write_clinic_rows(engine):
    with ClinicSession(engine) as unscoped:
        unscoped.add(Client(name="orphan"))
        with pytest.raises(TenancyError, match="no clinic to belong to"):
            unscoped.flush()


def test_new_rows_are_stamped_with_the_clinic(session):
    client = Client(name="stamped")
    session.add(client)
    session.flush()
    assert client.clinic_id == session.clinic_id


def test_a_row_for_another_clinic_is_refused(two_clinics):
    session, _, other, _ = two_clinics
    session.add(Client(name="intruder", clinic_id=other.clinic_id))
    with pytest.raises(TenancyError, match="belongs to another clinic"):
        session.flush()


def test_a_row_cannot_move_to_another_clinic(two_clinics):
    session, ours, other, _ = two_clinics
    ours[0].clinic_id = other.clinic_id
    with pytest.raises(TenancyError, match="cannot move"):
        session.flush()


def test_a_session_cannot_be_rescoped(two_clinics):
    session, _, other, _ = two_clinics
    with pytest.raises(TenancyError, match="already scoped"):
        scope_to_clinic(session, other.clinic_id)


def test_the_database_refuses_references_across_clinics(engine, two_clinics):
    """Composite foreign keys: even code that lifts the filter cannot link two clinics."""
    session, _ours, _other, theirs = two_clinics
    instrument_id = session.exec(select(Instrument.id)).first()
    with ClinicSession(engine) as system, across_clinics(system):
        system.add(
            Assignment(
                clinic_id=session.clinic_id, client_id=theirs[0].id, instrument_id=instrument_id
            )
        )
        with pytest.raises(IntegrityError):
            system.flush()


def test_across_clinics_is_explicit_and_ends_with_its_block(engine, two_clinics):
    _session, ours, _other, theirs = two_clinics
    with ClinicSession(engine) as system:
        with across_clinics(system):
            everyone = {c.id for c in system.exec(select(Client))}
        assert {c.id for c in ours + theirs} <= everyone
        with pytest.raises(TenancyError):
            system.exec(select(Client)).all()


def test_acting_for_scopes_a_system_session_for_one_block(engine, two_clinics):
    session, ours, other, theirs = two_clinics
    with ClinicSession(engine) as system:
        with acting_for(system, other.clinic_id):
            assert {c.id for c in system.exec(select(Client))} == {c.id for c in theirs}
            system.add(Client(name="B3"))
        assert system.clinic_id is None
        system.commit()
    assert session.exec(select(func.count()).select_from(Client)).one() == len(ours)
