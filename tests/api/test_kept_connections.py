"""PostgreSQL's connections, kept out of psycopg's pools between requests
(`connection.KeptConnections`): a kept connection carries nothing from one request to the
next, and one that might is given back to the pool."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from fastapi.testclient import TestClient
from psycopg.pq import TransactionStatus
from sqlalchemy import bindparam, select

from api.app import create_app
from api.persistence.connection import PostgresPools, clinic_connection
from api.persistence.tenancy import CLINIC_PARAMETER, scoped
from schemas import Client
from tests.api.factories import make_client
from tests.api.http import PortalClient, access_token
from tests.assessments.builders import STATEMENTS, balance_response

_CLIENTS = scoped(
    select(Client.__table__.c.id).where(Client.clinic_id == bindparam(CLINIC_PARAMETER))
)


@pytest.fixture
def url(database_url):
    if database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL's pools; SQLite's reads are kept by SQLiteReads")
    return database_url


def _with_pools(url: str, work):
    """`await work(pools)` with the pools open, in an event loop of its own."""

    async def main():
        pools = PostgresPools(url)
        await pools.open()
        try:
            return await work(pools)
        finally:
            await pools.close()

    return asyncio.run(main())


async def _clients(pools: PostgresPools, clinic_id: uuid.UUID) -> tuple[object, int]:
    """The connection a read ran on, and how many clients of `clinic_id` it saw."""
    async with clinic_connection(pools.reads) as connection:
        connection.scope_to(clinic_id)
        return connection._connection, len((await connection.execute(_CLIENTS)).all())


def test_a_kept_connection_sees_what_was_committed_after_its_last_request(url, session):
    async def work(pools):
        first, before = await _clients(pools, session.clinic_id)
        make_client(session)
        session.commit()
        again, after = await _clients(pools, session.clinic_id)
        return first, before, again, after, pools.read.pool.get_stats()

    first, before, again, after, stats = _with_pools(url, work)
    assert again is first  # the same connection, kept
    assert (before, after) == (0, 1)  # and no snapshot kept with it
    assert stats.get("requests_num", 0) == 1  # the pool lent it once


def test_a_connection_a_request_raised_through_goes_back_to_the_pool(url, session):
    async def work(pools):
        first, _ = await _clients(pools, session.clinic_id)
        with pytest.raises(LookupError):
            async with clinic_connection(pools.reads) as connection:
                assert connection._connection is first
                raise LookupError("a read that fails")
        return len(pools.reads._idle), pools.read.pool.get_stats()

    kept, stats = _with_pools(url, work)
    assert kept == 0
    assert stats.get("returns_bad", 0) == 0 and stats["pool_available"] >= 1  # back, healthy


def test_a_connection_left_inside_a_transaction_goes_back_to_the_pool(url):
    async def work(pools):
        async with pools.reads.connection() as driver:
            await driver.execute("BEGIN")
        given_back = len(pools.reads._idle)
        async with pools.reads.connection() as fresh:
            status = fresh.info.transaction_status
        return given_back, status

    given_back, status = _with_pools(url, work)
    assert given_back == 0  # the pool took it, and rolled it back
    assert status == TransactionStatus.IDLE


def test_a_connection_unused_for_the_pools_max_idle_goes_back_to_it(url):
    async def work(pools):
        pools.read.pool.max_idle = 0.25
        async with pools.reads.connection() as a, pools.reads.connection() as b:
            pass  # both kept: `b` given back first, then `a`
        kept = [driver for _, driver in pools.reads._idle]
        await asyncio.sleep(0.5)  # both are stale now
        async with pools.reads.connection() as again:
            pass
        return a, b, kept, again, len(pools.reads._idle), pools.read.pool.get_stats()

    a, b, kept, again, left, stats = _with_pools(url, work)
    assert kept == [b, a]
    assert again is a  # the stale `b` (given back first) went to the pool; `a` was taken
    assert left == 1 and stats["pool_available"] >= 1


def test_the_app_gives_its_kept_connections_back_when_it_stops(settings, credentials):
    if settings.is_sqlite:
        pytest.skip("SQLite's reads are kept by SQLiteReads")
    app = create_app(settings)
    with TestClient(app) as http:
        token = access_token(http, credentials)
        listed = http.get("/v1/assignments", headers={"Authorization": f"Bearer {token}"})
        assert listed.status_code == 200
        kept = [driver for _, driver in app.state.connection_binds.read._idle]
        assert len(kept) == 1  # kept for the next read
    assert kept[0].closed  # given back to the pool, which closed as the app stopped


def test_a_kept_write_connection_holds_no_transaction_and_sees_later_commits(url, session):
    """A write committed, and one that raised rolled back: each leaves its connection
    idle; the raised one's goes back to the pool all the same."""

    async def count(connection) -> int:
        return len((await connection.execute(_CLIENTS)).all())

    async def work(pools):
        async with clinic_connection(pools.writes) as connection:
            connection.scope_to(session.clinic_id)
            first, before = connection._connection, await count(connection)
        kept_after_commit = [driver for _, driver in pools.writes._idle]
        status_kept = first.info.transaction_status
        make_client(session)
        session.commit()
        with pytest.raises(LookupError):
            async with clinic_connection(pools.writes) as connection:
                connection.scope_to(session.clinic_id)
                again, after = connection._connection, await count(connection)
                raise LookupError("a write that fails")
        return (
            first,
            before,
            (kept_after_commit, status_kept),
            again,
            after,
            len(pools.writes._idle),
        )

    first, before, (kept, status), again, after, kept_after_error = _with_pools(url, work)
    assert kept == [first] and status == TransactionStatus.IDLE  # committed, nothing held
    assert again is first and (before, after) == (0, 1)  # no snapshot kept with it
    assert kept_after_error == 0  # rolled back and given back to the pool


def test_the_app_keeps_its_write_connections_as_well(settings, integrator):
    if settings.is_sqlite:
        pytest.skip("SQLite's writes share the group commit")
    client = integrator.client("K-1")
    (assignment,) = integrator.assign("balance-assessment", client_id=client["id"])
    document = balance_response({lid: 2 for lid in STATEMENTS}, gap_now=1, gap_wanted=2)
    portal = PortalClient(integrator.http, assignment["portal_url"])
    assert portal.submit(assignment["id"], document).status_code == 200  # a clinic connection's
    binds = integrator.http.app.state.connection_binds
    (kept,) = [driver for _, driver in binds.write._idle]
    assert kept.info.transaction_status == TransactionStatus.IDLE
