"""Empty databases for tests: a new SQLite file, or a new PostgreSQL schema.

PostgreSQL is used when TANDEM_TEST_DATABASE_URL names a server; each database
is a schema of its own, dropped afterwards, so runs never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import create_engine, text


def postgres_url() -> str | None:
    return os.environ.get("TANDEM_TEST_DATABASE_URL") or None


@contextmanager
def fresh_database(directory: Path, postgres: str | None = None) -> Iterator[str]:
    """An empty database's URL; PostgreSQL (`postgres`, else the environment) in a new schema."""
    base = postgres or postgres_url()
    if base is None:
        yield f"sqlite:///{directory / f'tandem-{uuid.uuid4().hex[:8]}.db'}"
        return
    schema = f"tandem_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
