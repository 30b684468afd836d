"""Creating engines for SQLite and PostgreSQL with the settings each needs."""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import SQLAlchemyError

from api.persistence import json_codec

logger = logging.getLogger("tandem.database")

WRITE = "tandem_write"
READ_ONLY = "tandem_read_only"


LOG_SIZE_LIMIT = 64 * 1024 * 1024
"""Bytes the SQLite write-ahead log's file is cut back to when the log starts again."""

POOL = {"pool_size": 20, "max_overflow": 20, "pool_timeout": 30, "pool_use_lifo": True}


def make_engine(url: str, *, background_checkpoints: bool = False, **options: Any) -> Engine:
    """An engine for `url`. Statement parameters never appear in error messages (no PHI in logs).

    The pool keeps 20 connections (and opens up to 20 more under load) so that
    a busy worker reuses connections instead of opening one per request; it
    hands out the most recently used one first, whose caches are warm.
    On SQLite, Tandem issues BEGIN itself (the sqlite3 module's own transaction
    handling breaks SAVEPOINT) and a connection opened for a write
    (`execution_options(tandem_write=True)`) begins IMMEDIATE: it takes the
    write lock at once instead of failing to upgrade a read snapshot later.
    With `background_checkpoints`, commits never copy the write-ahead log
    back into the database file: a `Checkpointer` does that (the server runs one).
    """
    if url.startswith("sqlite"):
        connect_args = {"check_same_thread": False, "isolation_level": None}
        engine = create_engine(
            url,
            hide_parameters=True,
            connect_args=connect_args,
            **(POOL | json_codec.ENGINE_OPTIONS | options),
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        if background_checkpoints:
            event.listen(engine, "connect", _no_checkpoints_on_commit)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    return create_engine(
        url,
        hide_parameters=True,
        pool_pre_ping=True,
        **(POOL | json_codec.ENGINE_OPTIONS | options),
    )


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute("PRAGMA busy_timeout = 10000")
    # A group-commit writer's SAVEPOINT journal (and any temporary table or sort) stays in
    # memory, not in a file under /var/tmp: about 60 writes a submission saved (strace).
    cursor.execute("PRAGMA temp_store = MEMORY")
    # When the write-ahead log starts again from its beginning, its file is cut back to
    # this size; without it the file keeps the largest size it ever had.
    cursor.execute(f"PRAGMA journal_size_limit = {LOG_SIZE_LIMIT}")
    cursor.close()


def _no_checkpoints_on_commit(connection: Any, _record: Any) -> None:
    connection.execute("PRAGMA wal_autocheckpoint = 0")


class Checkpointer:
    """Checkpoints a SQLite database's write-ahead log from a thread of its own.

    By default the commit that takes the log past 1,000 pages copies them into
    the database file, so every few dozen submissions one waits for that
    (measured: it doubled the average commit). Here a daemon thread does it
    every `interval` seconds (PASSIVE: it never blocks readers or the writer),
    and SQLite spends the time outside the GIL.
    """

    def __init__(self, engine: Engine, interval: float = 0.5) -> None:
        self._engine = engine
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="tandem-checkpoints", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self.checkpoint()  # leave the log copied in

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def checkpoint(self) -> tuple[int, int, int]:
        """One PASSIVE checkpoint: (busy, frames in the log, frames copied)."""
        connection = self._engine.raw_connection()  # outside any transaction, as it must be
        try:
            row = connection.driver_connection.execute(  # type: ignore[union-attr]
                "PRAGMA wal_checkpoint(PASSIVE)"
            ).fetchone()
        finally:
            connection.close()
        return row[0], row[1], row[2]

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.checkpoint()
            except Exception:  # the thread must outlive any one failure
                logger.warning("a background checkpoint failed; the next one will retry")


def _sqlite_begin(connection: Connection) -> None:
    options = connection.get_execution_options()
    if options.get(READ_ONLY):
        return  # each statement runs in a transaction of its own
    immediate = options.get(WRITE)
    # Straight to the driver: BEGIN needs none of SQLAlchemy's statement machinery,
    # and every transaction pays for it.
    connection.connection.driver_connection.execute(  # type: ignore[union-attr]
        "BEGIN IMMEDIATE" if immediate else "BEGIN"
    )


def database_reachable(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError:
        return False
    return True
