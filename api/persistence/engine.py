"""Creating engines for SQLite and PostgreSQL with the settings each needs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import SQLAlchemyError

WRITE = "tandem_write"


POOL = {"pool_size": 20, "max_overflow": 20, "pool_timeout": 30}


def make_engine(url: str, **options: Any) -> Engine:
    """An engine for `url`. Statement parameters never appear in error messages (no PHI in logs).

    The pool keeps 20 connections (and opens up to 20 more under load) so that
    a busy worker reuses connections instead of opening one per request.
    On SQLite, Tandem issues BEGIN itself (the sqlite3 module's own transaction
    handling breaks SAVEPOINT) and a connection opened for a write
    (`execution_options(tandem_write=True)`) begins IMMEDIATE: it takes the
    write lock at once instead of failing to upgrade a read snapshot later.
    """
    if url.startswith("sqlite"):
        connect_args = {"check_same_thread": False, "isolation_level": None}
        engine = create_engine(
            url, hide_parameters=True, connect_args=connect_args, **(POOL | options)
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(url, hide_parameters=True, pool_pre_ping=True, **(POOL | options))


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute("PRAGMA busy_timeout = 10000")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    immediate = connection.get_execution_options().get(WRITE)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def database_reachable(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return False
    return True
