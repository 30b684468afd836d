"""PostgreSQL's connections, kept out of psycopg's pools between requests
(`connection.KeptConnections`): a kept connection carries nothing from one request to the
next, and one that might is given back to the pool."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from fastapi.testclient import TestClient
from psycopg.pq import TransactionStatus
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import bindparam, select

from api.app import create_app
from api.persistence.connection import (
    DriverBind,
    KeptConnections,
    PostgresPools,
    clinic_connection,
)
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
    """`await work(pools)` with the pools open, their first connections made (so the pool
    lends without growing), in an event loop of its own."""

    async def main():
        pools = PostgresPools(url)
        await pools.open()
        await pools.read.pool.wait()
        await pools.write.pool.wait()
        try:
            return await work(pools)
        finally:
            await pools.close()

    return asyncio.run(main())


def _kept(kept: KeptConnections) -> list[object]:
    """The connections waiting in `kept`, the last given back last."""
    return [driver for *_, driver in kept._idle]


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
    assert stats["pool_available"] == stats["pool_size"]  # back in the pool: none lent


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


def test_connections_go_back_to_the_pool_when_traffic_stops(url):
    async def work(pools):
        pools.read.pool.max_idle = 0.1
        kept = KeptConnections(pools.read)
        kept.start()  # it sweeps every max_idle of the pool's
        try:
            async with kept.connection():
                pass
            before = len(kept._idle)
            await asyncio.sleep(0.5)  # no request takes one: the sweeping gives it back
            return before, len(kept._idle), pools.read.pool.get_stats()
        finally:
            await kept.close()

    before, after, stats = _with_pools(url, work)
    assert (before, after) == (1, 0)
    assert stats["pool_available"] == stats["pool_size"]


def test_a_request_waiting_for_the_pool_gets_the_next_connection_given_back(url):
    """Kept connections never starve a request the pool has none left for."""

    async def work(pools):
        pool = AsyncConnectionPool(
            kwargs=pools.read.pool.kwargs, min_size=1, max_size=1, timeout=2, open=False
        )
        await pool.open()
        kept = KeptConnections(DriverBind(pool, pools.read.dialect))
        try:
            async with kept.connection() as first:
                waiter = asyncio.create_task(_take_and_give_back(kept))
                await asyncio.sleep(0.1)  # it waits for the pool's only connection
            second = await waiter  # within the pool's 2 s, not a PoolTimeout
            return first, second, _kept(kept)
        finally:
            await kept.close()
            await pool.close()

    first, second, waiting = _with_pools(url, work)
    assert second is first  # handed on through the pool
    assert waiting == [first]  # and kept once no one waited


async def _take_and_give_back(kept: KeptConnections) -> object:
    async with kept.connection() as driver:
        return driver


def test_a_connection_the_pool_lent_longer_ago_than_its_max_lifetime_goes_back(url):
    async def work(pools):
        kept = KeptConnections(pools.read)
        pools.read.pool.max_lifetime = 0.1
        async with kept.connection() as driver:
            await asyncio.sleep(0.2)
        return _kept(kept), driver

    waiting, driver = _with_pools(url, work)
    assert waiting == []
    assert driver.closed  # the pool found it past its lifetime and replaced it


def test_the_app_gives_its_kept_read_connections_back_when_it_stops(settings, credentials):
    """On either database: PostgreSQL's here, SQLite's (`SQLiteReads`) too."""
    app = create_app(settings)
    with TestClient(app) as http:
        token = access_token(http, credentials)
        listed = http.get("/v1/assignments", headers={"Authorization": f"Bearer {token}"})
        assert listed.status_code == 200
        kept = list(app.state.connection_binds.read._idle)
        assert len(kept) == 1  # kept for the next read
    if settings.is_sqlite:
        assert app.state.engine.pool.checkedout() == 0  # back in SQLAlchemy's pool
    else:
        ((*_, driver),) = kept
        assert driver.closed  # given back to psycopg's pool, which closed as the app stopped


def test_a_kept_write_connection_holds_no_transaction_and_sees_later_commits(url, session):
    """A write committed, and one that raised rolled back: each leaves its connection
    idle; the raised one's goes back to the pool all the same."""

    async def count(connection) -> int:
        return len((await connection.execute(_CLIENTS)).all())

    async def work(pools):
        async with clinic_connection(pools.writes) as connection:
            connection.scope_to(session.clinic_id)
            first, before = connection._connection, await count(connection)
        kept_after_commit = _kept(pools.writes)
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
    (kept,) = _kept(binds.write)
    assert kept.info.transaction_status == TransactionStatus.IDLE
