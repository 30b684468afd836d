"""Clinic scoping: a session sees and writes only its own clinic's rows, whatever the query."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import exists, func, insert, text, union_all, update
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
from schemas.base import utcnow
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
    assert set(other.exec(select(Client.name))) == {"B1", "B2", "B3"}


def test_acting_for_forgets_rows_between_blocks_and_drops_a_failed_blocks_rows(engine, two_clinics):
    session, _ours, other, theirs = two_clinics
    with ClinicSession(engine) as system:
        with acting_for(system, other.clinic_id):
            system.exec(select(Client)).all()  # B's rows enter the identity map
        with acting_for(system, session.clinic_id):
            assert system.get(Client, theirs[0].id) is None
        with pytest.raises(ValueError), acting_for(system, session.clinic_id):
            system.add(Client(name="half-written"))
            raise ValueError("the job failed")
        with acting_for(system, other.clinic_id):
            system.flush()
        system.commit()
    assert "half-written" not in set(other.exec(select(Client.name)))
    assert "half-written" not in set(session.exec(select(Client.name)))


@pytest.mark.parametrize(
    "query",
    [
        lambda: select(exists(select(Client.id).where(Client.name == "B1"))),
        lambda: select(Client.name).where(
            Client.id.in_(select(Client.id).where(Client.name.like("B%")))
        ),
        lambda: union_all(select(Client.name), select(Client.name).where(Client.name.like("B%"))),
        lambda: select(select(Client.name).where(Client.name == "B1").scalar_subquery()),
        lambda: select(select(Client).cte("everyone").c.name),
    ],
    ids=["exists", "in-subquery", "union", "scalar-subquery", "cte"],
)
def test_subqueries_are_scoped_too(two_clinics, query):
    session, *_ = two_clinics
    found = [value for row in session.execute(query()) for value in row]
    assert not any(isinstance(v, str) and v.startswith("B") for v in found)
    assert True not in found  # exists() of B's client is False


def test_the_clinic_table_shows_only_the_sessions_clinic(two_clinics):
    session, _, other, _ = two_clinics
    assert list(session.exec(select(Clinic.id))) == [session.clinic_id]
    assert session.get(Clinic, other.clinic_id) is None
    session.execute(update(Clinic).values(name="renamed"))
    session.commit()
    assert other.get(Clinic, other.clinic_id).name == "Another Clinic"


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        (lambda: select(Client.__table__.c.name), "Core statements"),
        (lambda: text("SELECT name FROM client"), "raw SQL"),
        (lambda: insert(Client).values(name="planted"), "INSERT statement must give every row"),
        (lambda: update(Client).values(clinic_id=uuid.uuid4()), "cannot move"),
    ],
    ids=["core-table", "text", "insert", "update-clinic-id"],
)
def test_what_the_criteria_cannot_reach_is_refused(session, statement, message):
    with pytest.raises(TenancyError, match=message):
        session.execute(statement())


def test_bulk_save_is_refused(two_clinics):
    session, _, other, _ = two_clinics
    with pytest.raises(TenancyError, match="bulk_save_objects"):
        session.bulk_save_objects([Client(name="bulk", clinic_id=other.clinic_id)])


def test_a_row_of_another_clinic_cannot_be_changed_or_deleted_here(engine, two_clinics):
    session, _, other, theirs = two_clinics
    with ClinicSession(engine) as system, across_clinics(system):
        foreign = system.get(Client, theirs[0].id)
        system.expunge(foreign)
    session.add(foreign)  # a detached row of clinic B
    foreign.name = "renamed by A"
    with pytest.raises(TenancyError, match="of another clinic cannot be changed"):
        session.flush()
    session.rollback()
    session.delete(session.merge(foreign, load=False))
    with pytest.raises(TenancyError, match="of another clinic cannot be changed"):
        session.flush()
    session.rollback()
    assert other.get(Client, theirs[0].id).name == "B1"


def test_a_bulk_insert_must_name_the_sessions_clinic_in_every_row(two_clinics):
    session, _, other, _ = two_clinics
    rows = [
        {
            "id": uuid.uuid4(),
            "name": "bulk",
            "clinic_id": session.clinic_id,
            "created_at": utcnow(),
            "updated_at": utcnow(),
        }
    ]
    session.execute(insert(Client), rows)
    assert "bulk" in set(session.exec(select(Client.name)))
    planted = [dict(rows[0], id=uuid.uuid4(), clinic_id=other.clinic_id)]
    with pytest.raises(TenancyError, match="every row"):
        session.execute(insert(Client), rows + planted)
    with pytest.raises(TenancyError, match="every row"):
        session.execute(insert(Client), [{k: v for k, v in rows[0].items() if k != "clinic_id"}])
