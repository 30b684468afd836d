"""Clinic connections: the hot paths' way to the database, without the ORM or worker threads.

A portal submission, reading a response and polling assignments run a few
prebuilt Core statements each (checked by `tenancy.scoped`), on a
`ClinicConnection` that supplies the clinic itself. They run on the event
loop:

- SQLite: the statements run inline. They take microseconds; a request that
  may write first takes its turn (`write_turn`), so no statement waits on
  SQLite's lock inside the loop, unless another process (a `tandem` command)
  holds it, when the busy timeout applies. Writers share commits
  (`GroupCommit`).
- PostgreSQL: the statements are awaited on psycopg's asyncio connections,
  from psycopg's own pool (`PostgresPools`), so many requests wait on the
  server at once. Every statement runs prepared on the driver
  (`api.persistence.prepared`): SQLAlchemy compiles it, once, with the
  dialect of an asyncio engine that holds no connection. Taking a connection
  from SQLAlchemy's asyncio engine, beginning, committing and giving it back
  cost about 430 us of CPU a request on this project's machine, more than
  the statement itself; from psycopg's pool about 100 us; kept out of the
  pool between requests (`KeptConnections`), less again (README,
  performance).

Doing without worker threads and ORM units of work is what makes these paths
fast (see the README's performance section); everything else keeps the
`ClinicSession`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
from time import monotonic
from typing import Any

import psycopg
from anyio import CancelScope
from fastapi import Request
from psycopg.pq import TransactionStatus
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Connection, CursorResult, Dialect, Engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from api.persistence import json_codec
from api.persistence.engine import POOL, READ_ONLY, WRITE
from api.persistence.prepared import Prepared
from api.persistence.session import SAFE_METHODS, WriteTurns, taking_turns, write_turns
from api.persistence.tenancy import CLINIC_PARAMETER, Scoped, TenancyError

Parameters = dict[str, Any] | list[dict[str, Any]] | None


class ClinicConnection:
    """One request's transaction, confined to one clinic.

    It runs only `Scoped` statements and fills in `:for_clinic` itself (and the
    `clinic_id` of every inserted row), so a statement cannot reach another
    clinic's rows. Until `scope_to` names the clinic, only statements marked
    `across_clinics` (lookups by a secret) run.
    """

    def __init__(
        self, connection: Connection | psycopg.AsyncConnection, dialect: Dialect | None = None
    ) -> None:
        # SQLite: SQLAlchemy's connection. PostgreSQL: psycopg's own, with the `dialect`
        # that compiles the statements run on it.
        self._connection = connection
        self._dialect = dialect if dialect is not None else connection.dialect  # type: ignore[union-attr]
        self._clinic_id: uuid.UUID | None = None
        self._later: list[tuple[Prepared, Any, int]] = []  # driver values, sent with the COMMIT

    @property
    def clinic_id(self) -> uuid.UUID:
        if self._clinic_id is None:
            raise TenancyError("this connection is not scoped to a clinic")
        return self._clinic_id

    @property
    def dialect(self) -> Dialect:
        return self._dialect

    def scope_to(self, clinic_id: uuid.UUID) -> None:
        if self._clinic_id is not None and self._clinic_id != clinic_id:
            raise TenancyError("this connection is already scoped to another clinic")
        self._clinic_id = clinic_id

    async def execute(self, statement: Scoped, parameters: Parameters = None) -> CursorResult:
        if self._later:  # something runs after them after all: they run first
            await self._run_later()
        bound = self._bound(statement, parameters)
        connection = self._connection
        if isinstance(connection, psycopg.AsyncConnection):
            prepared = self._on_driver(statement, _keys(statement, bound))
            return await prepared.run_async(connection, bound or {})  # type: ignore[return-value]
        prepared = self._prepared(statement, keys=_keys(statement, bound))
        if prepared is None:
            return connection.execute(statement.statement, bound)
        driver = connection.connection.driver_connection
        return prepared.run(driver, bound or {})  # type: ignore[arg-type,return-value]

    async def execute_both(
        self, first: tuple[Scoped, dict[str, Any]], second: tuple[Scoped, dict[str, Any]]
    ) -> tuple[CursorResult, CursorResult]:
        """Run two statements, one after the other; on PostgreSQL in one round trip
        (psycopg's pipeline). The server still runs `second` only once `first` is done,
        and under READ COMMITTED with a snapshot of its own: a lock `first` waited for
        is held, and what its holder committed is seen, by then."""
        if not isinstance(self._connection, psycopg.AsyncConnection):
            return await self.execute(*first), await self.execute(*second)
        if self._later:
            await self._run_later()
        runs = []
        for statement, parameters in (first, second):
            prepared = self._on_driver(statement)
            runs.append((prepared, prepared.driver_values(self._bound(statement, parameters))))
        async with self._one_trip(runs) as cursors:
            return (
                await runs[0][0].result_of(cursors[0]),  # type: ignore[return-value]
                await runs[1][0].result_of(cursors[1]),
            )

    async def execute_later(self, statement: Scoped, parameters: Parameters, rows: int) -> None:
        """Run `statement` later in the transaction, expecting it to change `rows` rows
        (an INSERT's list of rows: as many): before any statement that follows, or else
        with the COMMIT. For writes whose outcome the request needs no more of.

        On PostgreSQL all that waits travels with the COMMIT, in order, in one round
        trip (psycopg's pipeline): a submission's response, its scores and the change
        numbering. A lock one takes (the clinic's change counter) is then held only
        while the server runs them, never while this request waits for its turn on
        the event loop. On SQLite it runs at once. The parameters become the
        driver's values here (a bad one is refused at once), but psycopg writes a
        JSON document when it sends it: the caller must not change one afterwards.

        The count must be certain: rows the transaction holds locked, or an INSERT
        without ON CONFLICT. Another count is a bug and raises once known, at once
        or before the commit, but when sent with the COMMIT only after it: the
        database's own errors (a broken key) still take the whole transaction back.
        """
        if not isinstance(self._connection, psycopg.AsyncConnection):
            _expect(rows, (await self.execute(statement, parameters)).rowcount)
            return
        bound = self._bound(statement, parameters)
        prepared = self._on_driver(statement, _keys(statement, bound))
        self._later.append((prepared, prepared.driver_values(bound or {}), rows))

    async def commit(self) -> None:
        """Commit a PostgreSQL transaction, with the statements that waited for it."""
        driver = self._connection
        assert isinstance(driver, psycopg.AsyncConnection)
        if not self._later:
            if not driver.autocommit:  # each statement of a read committed as it ran
                await driver.commit()
            return
        await self._run_later(driver.commit)

    async def _run_later(self, then: Callable[[], Awaitable[None]] | None = None) -> None:
        """Run the statements that waited, and `then` (the COMMIT), in one round trip."""
        later, self._later = self._later, []
        async with self._one_trip([(p, values) for p, values, _ in later], then) as cursors:
            for cursor, (_, _, rows) in zip(cursors, later, strict=True):
                _expect(rows, cursor.rowcount)

    @asynccontextmanager
    async def _one_trip(
        self,
        runs: list[tuple[Prepared, Any]],
        then: Callable[[], Awaitable[None]] | None = None,
    ) -> AsyncIterator[list[psycopg.AsyncCursor]]:
        """PostgreSQL: `runs` (statements with their driver values; an INSERT's list of rows
        as one `executemany`), then `then`, sent in one pipeline; the cursors that ran
        them, answered."""
        driver = self._connection
        assert isinstance(driver, psycopg.AsyncConnection)
        cursors = [Prepared.cursor(driver) for _ in runs]
        try:
            async with driver.pipeline():  # leaving it sends them all and reads every answer
                for cursor, (prepared, values) in zip(cursors, runs, strict=True):
                    await prepared.send(cursor, values)
                if then is not None:
                    await then()
            yield cursors
        finally:
            for cursor in cursors:
                await cursor.close()

    def _bound(self, statement: Scoped, parameters: Parameters) -> Parameters:
        if not isinstance(statement, Scoped) or not statement.checked:
            raise TenancyError("a clinic connection runs only statements checked by scoped()")
        return parameters if statement.across_clinics else self._confine(statement, parameters)

    def _on_driver(self, statement: Scoped, keys: tuple[str, ...] = ()) -> Prepared:
        """PostgreSQL: the statement prepared from its first run; one the driver cannot
        run is refused, never run some other way."""
        prepared = self._prepared(statement, at_once=True, keys=keys)
        if prepared is None:
            raise TenancyError(f"not a statement the driver can run: {statement.statement}")
        return prepared

    def _prepared(
        self, statement: Scoped, at_once: bool = False, keys: tuple[str, ...] = ()
    ) -> Prepared | None:
        """The statement's `Prepared` form (an INSERT's for rows naming `keys`): from its
        first run if `at_once` (PostgreSQL), else from its second; None until then, or if
        it cannot be prepared."""
        dialect = self._dialect
        form = (dialect.name, keys) if keys else dialect.name
        known = statement.prepared.get(form)
        if isinstance(known, Prepared):
            return known
        if known is None and not at_once:  # its first run: SQLAlchemy runs it
            statement.prepared[form] = _RAN_ONCE
            return None
        if known is None or known is _RAN_ONCE:
            known = Prepared.of(statement.statement, dialect, keys) or _NOT_PREPARED
            statement.prepared[form] = known
        return known if isinstance(known, Prepared) else None

    def _confine(self, statement: Scoped, parameters: Parameters) -> Parameters:
        clinic_id = self.clinic_id
        rows = parameters if isinstance(parameters, list) else [parameters or {}]
        for row in rows:
            for key in _CLINIC_KEYS:
                named = row.get(key, clinic_id)
                if named is not clinic_id and named != clinic_id:  # `is`: no UUID.__eq__ call
                    raise TenancyError("parameters name another clinic")
        if statement.inserts:
            if not isinstance(parameters, list):
                raise TenancyError("an INSERT on a clinic connection takes a list of rows")
            return [{**row, "clinic_id": clinic_id} for row in rows]
        confined = [{**row, CLINIC_PARAMETER: clinic_id} for row in rows]
        return confined if isinstance(parameters, list) else confined[0]


def _keys(statement: Scoped, parameters: Parameters) -> tuple[str, ...]:
    """The columns the rows to insert name, sorted; () for one statement's parameters.
    A list of parameters is for an INSERT of at least one row, each naming the same
    columns: on both databases, else TenancyError."""
    if not isinstance(parameters, list):
        return ()
    if not statement.inserts or not parameters:
        raise TenancyError("a list of parameters is for an INSERT of one row or more")
    keys = set(parameters[0])
    if any(set(row) != keys for row in parameters):
        raise TenancyError("the rows to insert name different columns")
    return tuple(sorted(keys))


def _expect(rows: int, changed: int) -> None:
    """A statement run later changed `changed` rows; other than `rows` is a bug."""
    if changed != rows:
        raise RuntimeError(f"a statement run later changed {changed} rows, not {rows}")


_CLINIC_KEYS = (CLINIC_PARAMETER, "clinic_id")
_RAN_ONCE, _NOT_PREPARED = "ran once", "not prepared"


def make_async_engine(url: str) -> AsyncEngine:
    """An asyncio engine for PostgreSQL (the same URL: psycopg serves both). The server's
    clinic connections do not use it; `PostgresPools` takes its dialect and connection
    arguments, and tests compare prepared statements with what it runs."""
    return create_async_engine(url, hide_parameters=True, **(POOL | json_codec.ENGINE_OPTIONS))


@dataclass(frozen=True)
class DriverBind:
    """Where PostgreSQL clinic connections come from: psycopg's pool, and the dialect that
    compiles the statements they run."""

    pool: AsyncConnectionPool
    dialect: Dialect


class PostgresPools:
    """PostgreSQL's clinic connections: psycopg's own pools, one in autocommit for reads
    (each statement a transaction of its own), one for writes.

    Connections are made as SQLAlchemy's asyncio engine would make them (its
    dialect's connection arguments: the same server, options and JSON codec),
    and that engine's dialect, learnt from the server on `open`, compiles the
    statements; the engine holds no connection after that. Between them the
    pools hold at most as many connections as the asyncio engine did (40):
    the write pool as many as may write at once (`writers`, at least 2), the
    read pool the rest (at least 10). Idle connections beyond one a pool are
    closed once unused in it for ten minutes; those kept out of it between
    requests (`KeptConnections`) go back to it within twenty.
    """

    def __init__(self, url: str, writers: int = 8) -> None:
        self.engine = make_async_engine(url)
        _, arguments = self.engine.dialect.create_connect_args(self.engine.url)
        most = POOL["pool_size"] + POOL["max_overflow"]
        writing = max(writers, 2)

        def pool(name: str, size: int, **extra: Any) -> AsyncConnectionPool:
            return AsyncConnectionPool(
                kwargs=arguments | extra, min_size=1, max_size=size, open=False,
                timeout=POOL["pool_timeout"], name=f"tandem-{name}",
            )  # fmt: skip

        reading = max(most - writing, 10)
        self.read = DriverBind(pool("read", reading, autocommit=True), self.engine.dialect)
        self.write = DriverBind(pool("write", writing), self.engine.dialect)
        self.reads, self.writes = KeptConnections(self.read), KeptConnections(self.write)

    async def open(self) -> None:
        async with self.engine.connect():  # the dialect learns the server's version
            pass
        await self.engine.dispose()  # and the engine keeps no connection for it
        await self.read.pool.open()
        await self.write.pool.open()
        self.reads.start()
        self.writes.start()

    async def close(self) -> None:
        await self.reads.close()
        await self.writes.close()
        await self.read.pool.close()
        await self.write.pool.close()
        await self.engine.dispose()


_IDLE = TransactionStatus.IDLE


class KeptConnections:
    """PostgreSQL: one of psycopg's pools, whose connections are kept out of it between
    requests.

    Taking a connection from the pool and giving it back (its asyncio lock
    twice, its bookkeeping, a commit on each side) was about 9% of reading a
    response in `py-spy` (README, performance). A connection a request leaves
    idle carries nothing to the next: a read's statements each committed as
    they ran (the read pool is in autocommit), a write's transaction
    committed. So a request takes the connection given back last, and gives
    it back here. It goes back to the pool instead:

    - when the request's block raised through it, or left it not idle (closed,
      or inside a transaction);
    - when a request is waiting for a pool that has lent all it may: the pool
      hands it on. While the pool may still make one, it makes one and the
      kept ones stay kept (handing them on kept the pool from growing and cost
      reads 16% of their instructions). If the server refuses new connections
      before the pool reaches its size, a waiting request waits on the pool's
      retries, not on these;
    - when the pool lent it longer ago than its `max_lifetime` (the pool then
      replaces it);
    - when unused for the pool's `max_idle`: a task of their own (`start`)
      gives those back every `max_idle`, so the pool still closes idle
      connections beyond its minimum when traffic stops. Requests take from
      the other end.

    No more are out of the pool than it lends.
    """

    def __init__(self, bind: DriverBind) -> None:
        self.bind = bind
        # (given back at, lent by the pool at, connection): the last given back on the right
        self._idle: deque[tuple[float, float, psycopg.AsyncConnection]] = deque()
        self._waiting = 0  # requests waiting for the pool to lend one
        self._closed = False
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def dialect(self) -> Dialect:
        return self.bind.dialect

    def start(self) -> None:
        """Give idle connections back to the pool from a task of their own, on the running
        event loop, until `close`."""
        self._sweeper = asyncio.get_running_loop().create_task(
            self._sweep(), name=f"{self.bind.pool.name}-kept"
        )

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection]:
        if self._idle:
            _, lent_at, driver = self._idle.pop()
        else:
            self._waiting += 1
            try:
                driver = await self.bind.pool.getconn()
            finally:
                self._waiting -= 1
            lent_at = monotonic()
        try:
            yield driver
        except BaseException:
            await self._give_back(driver)
            raise
        now = monotonic()
        if (
            self._closed
            or (self._waiting and self._pool_lent_out())
            or driver.closed
            or driver.info.transaction_status != _IDLE
            or now - lent_at > self.bind.pool.max_lifetime
        ):
            await self._give_back(driver)
        else:
            self._idle.append((now, lent_at, driver))

    def _pool_lent_out(self) -> bool:
        """Whether the pool has lent as many connections as it may: a request waiting for
        it then waits for one given back, as no new one will be made."""
        stats = self.bind.pool.get_stats()
        return stats["pool_size"] - stats["pool_available"] >= stats["pool_max"]

    async def _sweep(self) -> None:
        """Every `max_idle`, give back to the pool those unused for as long."""
        idle = self._idle
        while True:
            max_idle = self.bind.pool.max_idle
            await asyncio.sleep(max_idle)
            unused_since = monotonic() - max_idle
            while idle and idle[0][0] < unused_since:
                await self._give_back(idle.popleft()[2])

    async def _give_back(self, driver: psycopg.AsyncConnection) -> None:
        """To the pool, which resets it, or replaces it if broken or too old."""
        with CancelScope(shield=True):
            await self.bind.pool.putconn(driver)

    async def close(self) -> None:
        """Stop the sweeping and give every kept connection back to the pool (before it
        closes); one a request gives back after this goes back too, not kept."""
        self._closed = True
        if self._sweeper is not None:
            self._sweeper.cancel()
            with suppress(asyncio.CancelledError):
                await self._sweeper
        while self._idle:
            await self._give_back(self._idle.pop()[2])


class GroupCommit:
    """SQLite: requests that write on clinic connections, one after another, share a commit.

    A commit writes the transaction's pages to the write-ahead log, and on this
    project's machine that costs more than all of a submission's statements
    (see the README's performance section). So each writer, in its turn, runs
    its statements inside a SAVEPOINT of one open transaction: a writer that
    fails is rolled back to its savepoint alone, the others' work stays. The
    commit runs once the event loop has run every request that was ready to
    run when the first writer finished (a callback queued behind them), or at
    once when `most` writers are in the group; never while a writer is inside
    its savepoint. Every writer answers only after the commit that holds its
    work has returned (or with that commit's error): no client hears of a write
    that has not landed, as without the group.

    A writer of another kind (an ORM session) commits the open group as it
    takes its turn (`settle`, from `taking_turns`); a writer left waiting
    `patience` seconds takes a turn and commits itself.
    """

    def __init__(self, engine: Engine, most: int = 32, patience: float = 0.05) -> None:
        self._engine = engine
        self._connection: Connection | None = None
        self._members: list[asyncio.Future[None]] = []
        self._writing = False  # a writer is inside its savepoint
        self._queued = False  # a commit is queued on the event loop
        self.most = most
        self.patience = patience

    @asynccontextmanager
    async def member(self, turns: WriteTurns) -> AsyncIterator[ClinicConnection]:
        """One writer's part: a clinic connection whose work commits with the group's."""
        async with turns:
            connection = self._open()
            self._driver("SAVEPOINT tandem_writer")
            self._writing = True
            try:
                yield ClinicConnection(connection)
            except BaseException:
                self._writing = False
                self._driver("ROLLBACK TO tandem_writer", "RELEASE tandem_writer")
                self._commit_soon()
                raise
            self._writing = False
            self._driver("RELEASE tandem_writer")
            committed = asyncio.get_running_loop().create_future()
            self._members.append(committed)
            self._commit_soon()
        while not committed.done():
            try:
                await asyncio.wait_for(asyncio.shield(committed), self.patience)
            except TimeoutError:
                async with turns:
                    self.settle()
        committed.result()

    def settle(self) -> None:
        """Commit the open group, if any, and tell its writers how it went."""
        if self._connection is None:
            return
        try:
            self._connection.commit()
        except Exception as error:
            self._close(error)
        else:
            self._close(None)

    def _open(self) -> Connection:
        if self._connection is None:
            connection = self._engine.connect()
            connection.begin()  # BEGIN IMMEDIATE: the engine is the write engine
            self._connection = connection
        return self._connection

    def _driver(self, *statements: str) -> None:
        """Savepoints, straight to the driver (like BEGIN; see `engine._sqlite_begin`).
        If one fails the transaction cannot be trusted: the whole group is rolled back."""
        assert self._connection is not None
        driver = self._connection.connection.driver_connection
        try:
            for statement in statements:
                driver.execute(statement)  # type: ignore[union-attr]
        except Exception as error:
            self._close(error)
            raise

    def _close(self, error: Exception | None) -> None:
        """Close the group's connection (rolled back after an `error`) and tell its writers."""
        assert self._connection is not None
        connection, members = self._connection, self._members
        self._connection, self._members = None, []
        if error is not None:
            with suppress(Exception):  # closing drops the transaction anyway
                connection.rollback()
        connection.close()
        for member in members:
            if member.done():
                continue
            if error is None:
                member.set_result(None)
            else:
                failed = GroupCommitFailed("the shared commit failed")
                failed.__cause__ = error
                member.set_exception(failed)

    def _commit_soon(self) -> None:
        if self._connection is None:
            return
        if len(self._members) >= self.most:
            self.settle()
        elif not self._queued:
            self._queued = True
            asyncio.get_running_loop().call_soon(self._queued_commit)

    def _queued_commit(self) -> None:
        self._queued = False
        if not self._writing:  # else the writer queues it again when it leaves
            self.settle()


class GroupCommitFailed(RuntimeError):
    """The commit a writer's work waited for failed: its work did not land."""


class SQLiteReads:
    """SQLite: the connections read-only clinic connections run on, kept open between requests.

    The read engine's driver is in autocommit and a read begins no transaction
    (`engine._sqlite_begin`): each statement sees what was committed when it
    ran, so a connection carries nothing from one request to the next. Taking
    one from SQLAlchemy's pool and giving it back, with the begin and commit
    SQLAlchemy does around it, cost 13% of a read of a response's instructions.
    A request takes one from here and gives it back when done; one its block
    raised through, or left inside a transaction, is closed instead (back to
    the pool, which resets it), and at most `keep` wait here. They are the
    event loop's alone, and its clinic connections run inline, so few are
    ever out at once.
    """

    def __init__(self, engine: Engine, keep: int = 8) -> None:
        self.engine = engine
        self._idle: list[Connection] = []
        self._keep = keep
        self._closed = False

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        idle = self._idle
        connection = idle.pop() if idle else self.engine.connect()
        try:
            yield connection
        except BaseException:
            connection.close()
            raise
        if self._reusable(connection) and len(idle) < self._keep:
            idle.append(connection)
        else:
            connection.close()

    def _reusable(self, connection: Connection) -> bool:
        """Open, and in no transaction SQLite began (none should be: reads never BEGIN)."""
        if self._closed or connection.invalidated:
            return False
        return not connection.connection.driver_connection.in_transaction  # type: ignore[union-attr]

    def close(self) -> None:
        """Give every kept connection back to the pool (before the engine is disposed); one
        a request gives back after this is closed, not kept."""
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


@dataclass(frozen=True)
class ConnectionBinds:
    """Where a request's clinic connection comes from: one bind for reads, one for writes,
    and on SQLite the group commit writers share."""

    read: SQLiteReads | KeptConnections
    write: Engine | KeptConnections
    group: GroupCommit | None = None

    @classmethod
    def of(cls, engine: Engine, pools: PostgresPools | None) -> ConnectionBinds:
        """SQLite: `engine` itself, run inline (writes begin IMMEDIATE, in groups). PostgreSQL:
        psycopg's `pools`. Reads run each statement in a transaction of its own."""
        if pools is None:  # SQLite's driver is in autocommit; Tandem issues BEGIN
            write = engine.execution_options(**{WRITE: True})
            return cls(
                read=SQLiteReads(engine.execution_options(**{READ_ONLY: True})),
                write=write,
                group=GroupCommit(write),
            )
        return cls(read=pools.reads, write=pools.writes)

    def close(self) -> None:
        """Commit SQLite's open group and close the reads' kept connections."""
        if self.group is not None:
            self.group.settle()
        if isinstance(self.read, SQLiteReads):
            self.read.close()


@asynccontextmanager
async def clinic_connection(
    bind: Engine | SQLiteReads | KeptConnections,
) -> AsyncIterator[ClinicConnection]:
    """One transaction on `bind` (a SQLite engine, run inline, or psycopg's pool):
    committed when the block ends, rolled back if it raises. Reads (`SQLiteReads`,
    and PostgreSQL's read pool, in autocommit) begin none: each statement is a
    transaction of its own."""
    if isinstance(bind, SQLiteReads):
        with bind.connection() as connection:
            yield ClinicConnection(connection)
        return
    if isinstance(bind, Engine):
        with bind.connect() as connection:
            connection.begin()
            try:
                yield ClinicConnection(connection)
            except BaseException:
                connection.rollback()
                raise
            connection.commit()
        return
    async with bind.connection() as driver:
        clinic = ClinicConnection(driver, bind.dialect)
        try:
            yield clinic
        except BaseException:
            # A query cut short may have closed the connection: the error that did that is
            # the one to raise (the pool replaces a broken connection).
            with CancelScope(shield=True), suppress(psycopg.Error):
                if not driver.closed:
                    await driver.rollback()
            raise
        # A statement sent with the COMMIT may fail it: the connection then goes back to
        # the pool, which rolls it back, as the error leaves it.
        with CancelScope(shield=True):
            await clinic.commit()


@asynccontextmanager
async def request_connection(request: Request) -> AsyncIterator[ClinicConnection]:
    """The request's clinic connection, after its turn to write on SQLite (`taking_turns`).

    On SQLite, a request that may write uses the write engine (BEGIN IMMEDIATE)
    and shares its commit with the writers around it (`GroupCommit`).
    A request that only reads runs each statement in a transaction of its own
    (no BEGIN and COMMIT to pay for): a read that needs one consistent view
    asks for it in one statement.
    Dependencies that yield it are declared with `scope="function"`, so the
    commit happens before the response is sent.
    """
    if request.method in SAFE_METHODS:
        async with clinic_connection(request.app.state.connection_binds.read) as connection:
            yield connection
    else:
        async with _write_transaction(request) as connection:
            yield connection


@asynccontextmanager
async def reading_connection(
    request: Request, clinic_id: uuid.UUID
) -> AsyncIterator[ClinicConnection]:
    """A read-only clinic connection for `clinic_id` (each statement its own transaction),
    for a route that opens it itself instead of through a dependency."""
    async with clinic_connection(request.app.state.connection_binds.read) as connection:
        connection.scope_to(clinic_id)
        yield connection


@asynccontextmanager
async def writing_connection(
    request: Request, clinic_id: uuid.UUID
) -> AsyncIterator[ClinicConnection]:
    """A write transaction of its own for `clinic_id`, in a turn to write, whatever the
    request's method: for a read that first brings derived rows up to date."""
    async with _write_transaction(request) as connection:
        connection.scope_to(clinic_id)
        yield connection


@asynccontextmanager
async def _write_transaction(request: Request) -> AsyncIterator[ClinicConnection]:
    """A writer's clinic connection, in its turn: on SQLite a member of the group commit,
    on PostgreSQL a transaction of its own."""
    binds = request.app.state.connection_binds
    if binds.group is not None:
        async with binds.group.member(write_turns(request.app.state)) as connection:
            yield connection
        return
    async with taking_turns(request, writes=True), clinic_connection(binds.write) as connection:
        yield connection
