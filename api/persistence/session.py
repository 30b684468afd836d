"""One session per request, committed or rolled back in one place."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request

from api.persistence.engine import WRITE
from api.persistence.tenancy import ClinicSession

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_session(request: Request) -> Iterator[ClinicSession]:
    """The request's session: committed when the handler returns, rolled back if it raises.

    Requests that may write open their transaction for writing (on SQLite:
    BEGIN IMMEDIATE). Declared with `scope="function"` (see `DbSession`) so the commit happens
    before the response is sent: a client never sees success for a write that
    did not land.
    """
    with ClinicSession(request.app.state.engine, expire_on_commit=False) as session:
        if request.method not in SAFE_METHODS:
            session.connection(execution_options={WRITE: True})
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


DbSession = Annotated[ClinicSession, Depends(get_session, scope="function")]
