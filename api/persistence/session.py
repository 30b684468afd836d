"""One session per request, committed or rolled back in one place."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import anyio.to_thread
from anyio import CancelScope, CapacityLimiter
from fastapi import Depends, Request
from sqlalchemy import Engine

from api.persistence.engine import WRITE
from api.persistence.tenancy import ClinicSession

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class WriteTurns:
    """The queue of requests that may write: `at_once` hold a turn, the rest wait as
    coroutines, and `waiting` tells how many do (SQLite's group commit asks)."""

    def __init__(self, at_once: int) -> None:
        self._semaphore = asyncio.Semaphore(at_once)
        self.waiting = 0

    async def __aenter__(self) -> None:
        self.waiting += 1
        try:
            await self._semaphore.acquire()
        finally:
            self.waiting -= 1

    async def __aexit__(self, *_: object) -> None:
        self._semaphore.release()


def write_turns(state: Any) -> WriteTurns:
    """The app's turns: one writer at a time on SQLite, `write_concurrency` on PostgreSQL."""
    if getattr(state, "write_turns", None) is None:
        settings = state.settings
        state.write_turns = WriteTurns(1 if settings.is_sqlite else settings.write_concurrency)
    return state.write_turns


@asynccontextmanager
async def taking_turns(request: Request, writes: bool | None = None) -> AsyncIterator[None]:
    """Requests that may write take turns, waiting as coroutines.

    Whether a request writes is told by its method, unless `writes` says
    (a GET that brings derived rows up to date writes too).

    SQLite has one writer at a time. Waiting for it inside worker threads
    would hold threads (and let SQLite's busy handler poll with sleeps); here
    writers queue on an asyncio semaphore of one instead, and each is woken
    the moment the previous one has committed. A writer that takes its turn
    here (an ORM session) first commits any group of clinic-connection writes
    still open (`GroupCommit`), so it never waits on SQLite's lock.

    On PostgreSQL `write_concurrency` writers run at once (8 by default). Every
    change ends holding the clinic's change counter until its commit returns;
    with every writer let in, the holder waited behind all the others' work on
    the event loop, and a few requests waited very long (bench: p99 456 ms at
    265 submits/s; with 8, p99 148 ms at 268/s).
    """
    state = request.app.state
    if not (request.method not in SAFE_METHODS if writes is None else writes):
        yield
        return
    async with write_turns(state):
        group = getattr(getattr(state, "connection_binds", None), "group", None)
        if group is not None:
            group.settle()
        yield


async def write_turn(request: Request) -> AsyncIterator[None]:
    """`taking_turns` as a dependency."""
    async with taking_turns(request):
        yield


async def get_session(
    request: Request, _turn: Annotated[None, Depends(write_turn, scope="function")]
) -> AsyncIterator[ClinicSession]:
    """The request's session: committed when the handler returns, rolled back if it raises.

    Making a session does no I/O (it connects on its first statement), so it
    is made on the event loop; the commit or rollback runs in a worker thread.
    A request cancelled between dependencies then holds no connection.
    Requests that may write use the write engine, whose transactions begin
    IMMEDIATE on SQLite. Declared with `scope="function"` (see `DbSession`) so
    the commit happens before the response is sent: a client never sees
    success for a write that did not land.
    """
    state = request.app.state
    bind = state.engine if request.method in SAFE_METHODS else state.write_engine
    session = ClinicSession(bind, expire_on_commit=False)
    try:
        yield session
    except BaseException:
        with CancelScope(shield=True):
            await _in_own_thread(_finish, session, False)
        raise
    with CancelScope(shield=True):
        await _in_own_thread(_finish, session, True)


async def _in_own_thread(function: Callable[..., None], *arguments: Any) -> None:
    """Run a commit or rollback in a worker thread outside the shared thread limit.

    Handlers blocked on a row lock hold threads from the shared pool; if the
    transaction holding that lock had to wait for one of those threads to
    commit, nothing would move again (seen under load on PostgreSQL). Like
    FastAPI's own dependency exits, finishing therefore never waits for capacity.
    """
    await anyio.to_thread.run_sync(function, *arguments, limiter=CapacityLimiter(1))


def _finish(session: ClinicSession, commit: bool) -> None:
    """Commit (or roll back) and close, in one trip to a worker thread."""
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


DbSession = Annotated[ClinicSession, Depends(get_session, scope="function")]


def write_engine_of(engine: Engine) -> Engine:
    """The engine whose connections are opened for writing (BEGIN IMMEDIATE on SQLite)."""
    return engine.execution_options(**{WRITE: True})
