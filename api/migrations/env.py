"""Alembic environment: migrates the engine handed over by `api.persistence.migrations`."""

from typing import Any

from alembic import context
from sqlalchemy import JSON, Connection
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

import schemas  # noqa: F401  (registers every table on SQLModel.metadata)
from schemas.base import UTCDateTime


def render_item(kind: str, item: Any, autogen_context: Any) -> str | bool:
    """Write Tandem's column types as plain SQLAlchemy types in generated migrations,
    so a migration never imports the application code it outlives."""
    if kind != "type":
        return False
    if isinstance(item, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if isinstance(item, JSON):
        autogen_context.imports.add("from sqlalchemy.dialects import postgresql")
        return 'sa.JSON().with_variant(postgresql.JSONB(), "postgresql")'
    if isinstance(item, AutoString):
        return f"sa.String(length={item.length})" if item.length else "sa.String()"
    return False


def sqlite_keys(connection: Connection, on: bool) -> None:
    """Turn SQLite's foreign keys on or off: on the driver's own connection, since the
    pragma does nothing inside a transaction and SQLAlchemy would begin one."""
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute(f"PRAGMA foreign_keys = {'ON' if on else 'OFF'}")


def broken_keys(connection: Connection) -> list[str]:
    """SQLite: the tables holding rows whose foreign keys point at no row."""
    return sorted({row[0] for row in connection.exec_driver_sql("PRAGMA foreign_key_check")})


config = context.config
engine = config.attributes["engine"]

with engine.connect() as connection:
    # SQLite alters a table by rebuilding it (batch mode: a new table, the rows copied, the
    # old one dropped). With foreign keys on, dropping the old table deletes every row that
    # references it ON DELETE CASCADE (a response's scores). So the keys are off while the
    # migrations run, as Alembic's documentation advises, and every key is checked before
    # the commit: a migration that leaves one pointing nowhere is rolled back whole.
    sqlite = connection.dialect.name == "sqlite"
    if sqlite:
        sqlite_keys(connection, on=False)
    try:
        with connection.begin():
            context.configure(
                connection=connection,
                target_metadata=SQLModel.metadata,
                render_as_batch=sqlite,
                compare_type=True,
                render_item=render_item,
            )
            migrations = context.get_context()
            before = migrations.get_current_heads()
            with context.begin_transaction():
                context.run_migrations()
            # Only when a migration ran: the check reads every table, and a start-up finding
            # nothing to migrate (each `tandem serve`) has nothing of its own to check.
            ran = migrations.get_current_heads() != before
            broken = broken_keys(connection) if sqlite and ran else []
            if broken:
                raise RuntimeError(
                    f"the migration left foreign keys pointing at no row in {', '.join(broken)}"
                )
    finally:
        if sqlite:
            sqlite_keys(connection, on=True)
