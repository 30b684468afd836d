"""Empty databases for tests: a new SQLite file, or a new PostgreSQL schema.

PostgreSQL is used when TANDEM_TEST_DATABASE_URL names a server; each database
is a schema of its own, dropped afterwards, so runs never see each other's rows.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from sqlalchemy import create_engine, text

T = TypeVar("T")


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


def run_on_connection(
    url: str, clinic_id: uuid.UUID | None, work: Callable[[Any], Awaitable[T]]
) -> T:
    """`await work(connection)` in one committed transaction on a clinic connection to
    `clinic_id` (None: not scoped to any), as a request would run it, in an event loop
    of its own."""
    from api.persistence import make_engine
    from api.persistence.connection import PostgresPools, clinic_connection
    from api.persistence.session import write_engine_of

    async def main() -> T:
        if url.startswith("sqlite"):
            engine = make_engine(url)
            try:
                async with clinic_connection(write_engine_of(engine)) as connection:
                    return await scoped(connection)
            finally:
                engine.dispose()
        pools = PostgresPools(url)
        await pools.open()
        try:
            async with clinic_connection(pools.writes) as connection:
                return await scoped(connection)
        finally:
            await pools.close()

    async def scoped(connection: Any) -> T:
        if clinic_id is not None:
            connection.scope_to(clinic_id)
        return await work(connection)

    return asyncio.run(main())
