"""Alembic environment: migrates the engine handed over by `api.persistence.migrations`."""

from typing import Any

from alembic import context
from sqlalchemy import JSON
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


config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()
