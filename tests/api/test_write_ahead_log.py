"""SQLite's write-ahead log does not keep the size of its largest burst."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from api.persistence import make_engine
from api.persistence.engine import LOG_SIZE_LIMIT


def test_the_log_file_is_cut_back_when_the_log_starts_again(settings, tmp_path):
    """A burst of writes grows the log past the limit; once a checkpoint has copied it
    all, the next write starts the log again and its commit cuts the file back."""
    if not settings.is_sqlite:
        pytest.skip("SQLite only: PostgreSQL keeps its own log")
    path = tmp_path / "burst.db"
    # background_checkpoints: no checkpoint inside commits, as `tandem serve` sets it up
    engine = make_engine(f"sqlite:///{path}", background_checkpoints=True)
    log = f"{path}-wal"
    try:
        with engine.connect() as connection:
            driver = connection.connection.driver_connection
            assert driver.execute("PRAGMA journal_size_limit").fetchone()[0] == LOG_SIZE_LIMIT
            driver.execute("CREATE TABLE burst (data BLOB)")
            megabyte = 1024 * 1024
            for _ in range(LOG_SIZE_LIMIT // megabyte + 8):  # 72 MiB of pages in the log
                driver.execute("INSERT INTO burst VALUES (zeroblob(?))", (megabyte,))
            assert os.path.getsize(log) > LOG_SIZE_LIMIT
            busy, logged, copied = driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            assert (busy, copied) == (0, logged)
            assert os.path.getsize(log) > LOG_SIZE_LIMIT  # copied, not yet started again
            driver.execute("INSERT INTO burst VALUES (zeroblob(10))")
        assert os.path.getsize(log) <= LOG_SIZE_LIMIT
    finally:
        engine.dispose()
        for written in (path, Path(log), Path(f"{path}-shm")):  # 130 MiB not to keep
            written.unlink(missing_ok=True)
