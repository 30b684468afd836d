"""Clinic scoping on the hot paths: Core statements are checked when built, and a clinic
connection runs only checked statements, confined to its own clinic."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import bindparam, delete, insert, or_, select, update

from api.persistence import TenancyError, make_engine
from api.persistence.connection import clinic_connection, make_async_engine
from api.persistence.session import write_engine_of
from api.persistence.tenancy import CLINIC_PARAMETER, by_secret, scoped
from api.services import assignments, portal, responses
from schemas import Client, Clinic, Response, Score
from schemas.base import utcnow
from tests.api.factories import clinic_session, make_client
from tests.databases import run_on_connection

CLIENT = Client.__table__  # type: ignore[attr-defined]
RESPONSE = Response.__table__  # type: ignore[attr-defined]
SCORE = Score.__table__  # type: ignore[attr-defined]
CLINIC = Clinic.__table__  # type: ignore[attr-defined]
OURS = bindparam(CLINIC_PARAMETER)


def refused(statement, table: str) -> None:
    with pytest.raises(TenancyError) as raised:
        scoped(statement)
    assert table in str(raised.value)


def test_a_select_without_the_clinic_term_is_refused():
    refused(select(CLIENT.c.id).where(CLIENT.c.id == bindparam("id")), "client")


def test_a_clinic_term_inside_an_or_confines_nothing():
    statement = select(CLIENT.c.id).where(
        or_(CLIENT.c.clinic_id == OURS, CLIENT.c.id == bindparam("id"))
    )
    refused(statement, "client")


def test_a_clinic_term_on_another_parameter_confines_nothing():
    refused(select(CLIENT.c.id).where(CLIENT.c.clinic_id == bindparam("clinic")), "client")


def test_every_joined_table_needs_its_own_clinic_term():
    joined = CLIENT.join(RESPONSE, RESPONSE.c.client_id == CLIENT.c.id)
    refused(select(RESPONSE.c.id).select_from(joined).where(CLIENT.c.clinic_id == OURS), "response")


def test_an_outer_join_confines_each_side_where_it_filters_that_side():
    # a term on the preserved (left) side in ON filters nothing: left rows all come back
    loose = CLIENT.outerjoin(
        RESPONSE,
        (RESPONSE.c.client_id == CLIENT.c.id)
        & (RESPONSE.c.clinic_id == OURS)
        & (CLIENT.c.clinic_id == OURS),
    )
    refused(select(CLIENT.c.id, RESPONSE.c.id).select_from(loose), "client")
    # the joined side, unconfined anywhere
    open_right = CLIENT.outerjoin(RESPONSE, RESPONSE.c.client_id == CLIENT.c.id)
    refused(
        select(CLIENT.c.id, RESPONSE.c.id)
        .select_from(open_right)
        .where(CLIENT.c.clinic_id == OURS),
        "response",
    )
    # confined in its ON clause, or by a WHERE term (which drops every other row)
    in_on = CLIENT.outerjoin(
        RESPONSE, (RESPONSE.c.client_id == CLIENT.c.id) & (RESPONSE.c.clinic_id == OURS)
    )
    scoped(select(CLIENT.c.id, RESPONSE.c.id).select_from(in_on).where(CLIENT.c.clinic_id == OURS))
    scoped(
        select(CLIENT.c.id, RESPONSE.c.id)
        .select_from(open_right)
        .where(CLIENT.c.clinic_id == OURS, RESPONSE.c.clinic_id == OURS)
    )


def test_a_subquery_is_checked_on_its_own():
    inner = select(SCORE.c.response_id).where(SCORE.c.scale == "closeness").scalar_subquery()
    statement = select(RESPONSE.c.id).where(RESPONSE.c.clinic_id == OURS, RESPONSE.c.id == inner)
    refused(statement, "score")


def test_a_correlated_subquery_names_what_it_correlates():
    inner = (
        select(SCORE.c.scale)
        .where(SCORE.c.clinic_id == OURS, SCORE.c.response_id == RESPONSE.c.id)
        .limit(1)
    )
    outer = select(RESPONSE.c.id).where(RESPONSE.c.clinic_id == OURS)
    # correlated implicitly, the response table counts as the subquery's own and is open
    refused(outer.add_columns(inner.scalar_subquery()), "response")
    scoped(outer.add_columns(inner.correlate(RESPONSE).scalar_subquery()))


def test_updates_and_deletes_need_the_clinic_term():
    refused(update(CLIENT).where(CLIENT.c.id == bindparam("id")).values(name="x"), "client")
    refused(delete(CLIENT).where(CLIENT.c.id == bindparam("id")), "client")
    refused(update(CLINIC).where(CLINIC.c.id == bindparam("id")).values(name="x"), "clinic")
    scoped(update(CLINIC).where(CLINIC.c.id == OURS).values(name=bindparam("new_name")))


def test_inserts_take_rows_as_parameters_into_clinic_owned_tables_only():
    with pytest.raises(TenancyError):
        scoped(insert(CLIENT).values(name="x"))
    with pytest.raises(TenancyError):
        scoped(insert(CLIENT).from_select(["id"], select(CLIENT.c.id)))
    with pytest.raises(TenancyError):
        scoped(insert(CLINIC))


def test_the_services_statements_pass_the_check():
    # built (and checked) at import; a failing check would fail the import
    assert portal._OPEN_ASSIGNMENTS.statement is not None
    assert responses._VIEW["postgresql"].statement is not None
    assert assignments._NUMBER_STATUS.statement is not None
    assert assignments._views_statement(filters=frozenset({"updated_since", "status"}))


def test_a_connection_runs_only_checked_statements(database_url, session):
    session.commit()
    unchecked = select(CLIENT.c.id).where(CLIENT.c.clinic_id == OURS)
    with pytest.raises(TenancyError, match="only statements checked"):
        run_on_connection(database_url, session.clinic_id, lambda c: c.execute(unchecked))


def test_a_connection_without_a_clinic_runs_only_lookups_by_secret(database_url):
    statement = scoped(select(CLIENT.c.id).where(CLIENT.c.clinic_id == OURS))
    lookup = by_secret(select(CLIENT.c.id).where(CLIENT.c.id == bindparam("id")))
    sqlite = database_url.startswith("sqlite")
    engine = make_engine(database_url) if sqlite else make_async_engine(database_url)

    async def work() -> None:
        async with clinic_connection(write_engine_of(engine) if sqlite else engine) as c:
            assert (await c.execute(lookup, {"id": uuid.uuid4()})).first() is None
            with pytest.raises(TenancyError, match="not scoped"):
                await c.execute(statement)
        disposed = engine.dispose()
        if disposed is not None:
            await disposed

    asyncio.run(work())


def test_parameters_cannot_name_another_clinic(database_url, session):
    session.commit()
    statement = scoped(select(CLIENT.c.id).where(CLIENT.c.clinic_id == OURS))
    for key in (CLINIC_PARAMETER, "clinic_id"):
        with pytest.raises(TenancyError, match="another clinic"):
            run_on_connection(
                database_url,
                session.clinic_id,
                lambda c, key=key: c.execute(statement, {key: uuid.uuid4()}),
            )


def test_an_insert_is_stamped_with_the_connections_clinic(database_url, session):
    session.commit()
    new_id = uuid.uuid4()
    row = {"id": new_id, "name": None, "birth_date": None, "created_at": utcnow(),
           "updated_at": utcnow()}  # fmt: skip
    add = scoped(insert(CLIENT))
    with pytest.raises(TenancyError, match="list of rows"):
        run_on_connection(database_url, session.clinic_id, lambda c: c.execute(add, row))
    run_on_connection(database_url, session.clinic_id, lambda c: c.execute(add, [row]))
    stored = session.get(Client, new_id)
    assert stored is not None and stored.clinic_id == session.clinic_id


def test_a_connection_never_reads_another_clinics_rows(database_url, engine, session):
    ours = make_client(session)
    session.commit()
    with clinic_session(engine) as other:
        theirs = make_client(other)
        other.commit()
    by_id = scoped(
        select(CLIENT.c.id).where(CLIENT.c.clinic_id == OURS, CLIENT.c.id == bindparam("id"))
    )

    async def read(connection, client_id):
        return (await connection.execute(by_id, {"id": client_id})).first()

    assert run_on_connection(database_url, session.clinic_id, lambda c: read(c, ours.id))
    assert run_on_connection(database_url, session.clinic_id, lambda c: read(c, theirs.id)) is None
