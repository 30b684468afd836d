"""SQLite's read connections, kept open between requests (`connection.SQLiteReads`): a kept
connection carries nothing from one request to the next."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import bindparam, select

from api.persistence import make_engine
from api.persistence.connection import SQLiteReads, clinic_connection
from api.persistence.engine import READ_ONLY
from api.persistence.tenancy import CLINIC_PARAMETER, scoped
from schemas import Client
from tests.api.factories import make_client

_CLIENTS = scoped(
    select(Client.__table__.c.id).where(Client.clinic_id == bindparam(CLINIC_PARAMETER))
)


@pytest.fixture
def reads(database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's read connections are kept by KeptConnections")
    engine = make_engine(database_url)
    reads = SQLiteReads(engine.execution_options(**{READ_ONLY: True}), keep=2)
    yield reads
    reads.close()
    engine.dispose()


def _clients(reads: SQLiteReads, clinic_id: uuid.UUID) -> tuple[object, int]:
    """The connection a read ran on, and how many clients of `clinic_id` it saw."""

    async def read() -> tuple[object, int]:
        async with clinic_connection(reads) as connection:
            connection.scope_to(clinic_id)
            return connection._connection, len((await connection.execute(_CLIENTS)).all())

    return asyncio.run(read())


def test_a_kept_connection_sees_what_was_committed_after_its_last_request(reads, session):
    first, before = _clients(reads, session.clinic_id)
    make_client(session)
    session.commit()
    again, after = _clients(reads, session.clinic_id)
    assert again is first  # the same connection, kept
    assert (before, after) == (0, 1)  # and no snapshot kept with it


def test_a_connection_a_request_raised_through_is_not_kept(reads, session):
    first, _ = _clients(reads, session.clinic_id)

    async def failing() -> None:
        async with clinic_connection(reads) as connection:
            assert connection._connection is first
            raise LookupError("a read that fails")

    with pytest.raises(LookupError):
        asyncio.run(failing())
    assert first.closed  # given back to the pool
    replacement, _ = _clients(reads, session.clinic_id)
    assert replacement is not first


def test_at_most_keep_connections_wait_and_closing_gives_them_all_back(reads):
    pool = reads.engine.pool
    with reads.connection() as a, reads.connection() as b, reads.connection() as c:
        assert len({id(a), id(b), id(c)}) == 3
        assert pool.checkedout() == 3
    assert pool.checkedout() == 2  # two kept (keep=2); the last given back, `a`, closed
    assert (a.closed, b.closed, c.closed) == (True, False, False)
    with reads.connection() as again:
        assert again is b  # the last kept, first out
    reads.close()
    assert pool.checkedout() == 0
    with reads.connection() as late:  # a request that ends after the app closed them
        pass
    assert late.closed and pool.checkedout() == 0


def test_a_connection_left_inside_a_transaction_is_not_kept(reads):
    with reads.connection() as connection:
        connection.connection.driver_connection.execute("BEGIN")
    assert connection.closed  # given back to the pool, which rolls it back
    with reads.connection() as fresh:
        assert fresh is not connection
        assert not fresh.connection.driver_connection.in_transaction
