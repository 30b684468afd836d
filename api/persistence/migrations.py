"""Running Alembic from code: `tandem db upgrade`, start-up upgrades, and the tests."""

from __future__ import annotations

from functools import cache
from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text


def alembic_config(engine: Engine | None = None) -> Config:
    """Alembic's configuration for the scripts in api/migrations, bound to `engine` if given."""
    config = Config()
    config.set_main_option("script_location", str(resources.files("api") / "migrations"))
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(engine), revision)


@cache
def head_revision() -> str | None:
    """The newest revision among the migration scripts shipped with this version."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None for an empty database. Quiet: health checks call it."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def is_current(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()
