"""One session per request, committed or rolled back in one place."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine

from api.persistence.engine import WRITE
from api.persistence.tenancy import ClinicSession

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def write_turn(request: Request) -> AsyncIterator[None]:
    """On SQLite, requests that may write take turns, waiting as coroutines.

    SQLite has one writer at a time. Waiting for it inside worker threads
    would hold threads (and let SQLite's busy handler poll with sleeps); here
    writers queue on an asyncio lock instead and each is woken the moment the
    previous one has committed. PostgreSQL needs no turns: row locks suffice.
    """
    state = request.app.state
    if not state.settings.is_sqlite or request.method in SAFE_METHODS:
        yield
        return
    if getattr(state, "write_lock", None) is None:
        state.write_lock = asyncio.Lock()
    async with state.write_lock:
        yield


def get_session(
    request: Request, _turn: Annotated[None, Depends(write_turn, scope="function")]
) -> Iterator[ClinicSession]:
    """The request's session: committed when the handler returns, rolled back if it raises.

    The session connects on its first statement, not here: a request cancelled
    between dependencies then holds no connection. Requests that may write use
    the write engine, whose transactions begin IMMEDIATE on SQLite. Declared
    with `scope="function"` (see `DbSession`) so the commit happens before the
    response is sent: a client never sees success for a write that did not land.
    """
    state = request.app.state
    bind = state.engine if request.method in SAFE_METHODS else state.write_engine
    with ClinicSession(bind, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


DbSession = Annotated[ClinicSession, Depends(get_session, scope="function")]


def write_engine_of(engine: Engine) -> Engine:
    """The engine whose connections are opened for writing (BEGIN IMMEDIATE on SQLite)."""
    return engine.execution_options(**{WRITE: True})
