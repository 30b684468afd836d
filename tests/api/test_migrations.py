"""The Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlmodel import SQLModel

import schemas  # noqa: F401  (registers the tables)
from api.persistence import make_engine
from api.persistence.migrations import current_revision, head_revision, is_current, upgrade
from tests.databases import fresh_database

TABLES = {
    "alembic_version", "alert", "assignment", "change_counter", "client", "client_identifier", "clinic", "couple",
    "couple_member", "export_job", "idempotency_record", "instrument", "integration", "plan", "plan_version",
    "portal_link", "response", "score",
}  # fmt: skip


def test_upgrade_from_empty_matches_the_models(tmp_path):
    with fresh_database(tmp_path) as url:
        engine = make_engine(url)
        assert current_revision(engine) is None
        upgrade(engine)
        assert is_current(engine)
        assert set(inspect(engine).get_table_names()) == TABLES
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, SQLModel.metadata) == []
        engine.dispose()


def test_downgrade_to_base_and_upgrade_again(tmp_path):
    from alembic import command

    from api.persistence.migrations import alembic_config

    with fresh_database(tmp_path) as url:
        engine = make_engine(url)
        upgrade(engine)
        command.downgrade(alembic_config(engine), "base")
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
        upgrade(engine)
        assert current_revision(engine) == head_revision()
        engine.dispose()


def test_the_run_database_is_at_head(engine):
    assert current_revision(engine) == head_revision()


def test_the_change_count_moves_to_its_own_table_and_back(tmp_path):
    """0004 carries each clinic's count into change_counter; its downgrade carries it back."""
    import uuid

    from alembic import command
    from sqlalchemy import text

    from api.persistence.migrations import alembic_config

    with fresh_database(tmp_path) as url:
        engine = make_engine(url)
        config = alembic_config(engine)
        command.upgrade(config, "0003")
        clinic_id = uuid.uuid4()
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO clinic (id, name, change_seq, created_at) "
                    "VALUES (:id, 'Harbour', 7, CURRENT_TIMESTAMP)"
                ),
                {"id": clinic_id.hex if url.startswith("sqlite") else clinic_id},
            )
        command.upgrade(config, "0004")
        with engine.connect() as connection:
            assert connection.execute(text("SELECT seq FROM change_counter")).scalar_one() == 7
        command.downgrade(config, "0003")
        with engine.connect() as connection:
            assert connection.execute(text("SELECT change_seq FROM clinic")).scalar_one() == 7
        engine.dispose()


def scored_database(url: str) -> Engine:
    """A database at head with one clinic's client and two scored check-ins."""
    from api.persistence import ClinicSession
    from api.services.clinics import create_clinic
    from api.services.instruments import InstrumentKey, resolve_instrument
    from api.services.maintenance import prepare_database
    from api.services.responses import record_response
    from tests.api.factories import make_client
    from tests.assessments.builders import checkin_response
    from tests.databases import run_on_connection

    engine = make_engine(url)
    prepare_database(engine)
    with ClinicSession(engine, expire_on_commit=False) as session:
        create_clinic(session, "Harbour")
        client = make_client(session)
        key = InstrumentKey.of(resolve_instrument(session, "weekly-check-in"))
        session.commit()
    for rating in (3, 8):
        run_on_connection(
            url,
            session.clinic_id,
            lambda c, rating=rating: record_response(
                c,
                client_id=client.id,
                instrument=key,
                questionnaire_response=checkin_response(balance_rating=rating),
            ),
        )
    return engine


def rows(engine: Engine, table: str) -> int:
    with engine.connect() as connection:
        return connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def a_score_of_no_response() -> str:
    """An INSERT of a score whose clinic, response and client are no rows at all."""
    import uuid

    named = ", ".join(f"'{uuid.uuid4().hex}'" for _ in range(4))
    return (
        "INSERT INTO score (clinic_id, id, response_id, client_id, scale, label, items_used, "
        f"created_at) VALUES ({named}, 'x', 'x', '[]', '2026-11-29 12:00:00+00:00')"
    )


def assert_keys_on_for_the_app(engine: Engine) -> None:
    """SQLite: a connection the engine hands out has its foreign keys on again."""
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_0012_keeps_the_scores_and_gives_them_one_key_down_and_up(tmp_path):
    """0012 trades a score's three keys (clinic, client, response) and its unreferenced
    unique (clinic_id, id) for one key to the response with its clinic and client; the
    rows stay, on the way down and up again."""
    from alembic import command

    from api.persistence.migrations import alembic_config

    def score_keys(engine) -> tuple[set[tuple[str, ...]], set[tuple[str, ...]]]:
        found = inspect(engine)
        keys = {tuple(k["constrained_columns"]) for k in found.get_foreign_keys("score")}
        unique = {tuple(u["column_names"]) for u in found.get_unique_constraints("score")}
        return keys, unique

    with fresh_database(tmp_path) as url:
        engine = scored_database(url)
        scored = rows(engine, "score")
        assert scored > 2
        assert score_keys(engine) == (
            {("clinic_id", "response_id", "client_id")},
            {("clinic_id", "response_id", "scale")},
        )

        config = alembic_config(engine)
        command.downgrade(config, "0011")
        assert score_keys(engine) == (
            {("clinic_id",), ("clinic_id", "client_id"), ("clinic_id", "response_id")},
            {("clinic_id", "id"), ("clinic_id", "response_id", "scale")},
        )
        assert rows(engine, "score") == scored
        command.upgrade(config, "head")
        assert score_keys(engine)[0] == {("clinic_id", "response_id", "client_id")}
        assert rows(engine, "score") == scored
        engine.dispose()


def test_rebuilding_a_table_keeps_the_rows_that_reference_it(tmp_path):
    """On SQLite, 0003 rebuilds `response` (batch mode: a new table, the rows copied, the
    old one dropped) both ways. With foreign keys on, going up across 0003 deleted every
    score (dropping the old table cascades to them), and going down stopped at 0009
    (SQLite would not drop a table other rows reference). The migrations run with the
    keys off, checked before the commit, and on again afterwards."""
    from alembic import command

    from api.persistence.migrations import alembic_config

    with fresh_database(tmp_path) as url:
        engine = scored_database(url)
        kept = {table: rows(engine, table) for table in ("response", "score")}
        assert kept["response"] == 2
        assert kept["score"] > 2
        config = alembic_config(engine)
        command.downgrade(config, "0002")
        assert {table: rows(engine, table) for table in kept} == kept
        command.upgrade(config, "head")
        assert {table: rows(engine, table) for table in kept} == kept
        assert_keys_on_for_the_app(engine)
        engine.dispose()


def test_a_migration_that_leaves_a_key_pointing_nowhere_is_rolled_back(tmp_path):
    """SQLite runs the migrations with foreign keys off, so `env.py` checks every key before
    the commit; PostgreSQL refuses the row at once. Either way nothing of it stays."""
    import shutil
    from importlib import resources

    from alembic import command
    from sqlalchemy.exc import IntegrityError

    from api.persistence.migrations import alembic_config

    scripts = tmp_path / "migrations"
    shutil.copytree(str(resources.files("api") / "migrations"), scripts)
    (scripts / "versions" / "0999_a_score_of_no_response.py").write_text(
        f"""from alembic import op

revision = "0999"
down_revision = "{head_revision()}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute({a_score_of_no_response()!r})


def downgrade() -> None:
    pass
"""
    )
    with fresh_database(tmp_path) as url:
        engine = make_engine(url)
        upgrade(engine)
        config = alembic_config(engine)
        config.set_main_option("script_location", str(scripts))
        with pytest.raises((RuntimeError, IntegrityError)) as refused:
            command.upgrade(config, "0999")
        if url.startswith("sqlite"):
            assert "pointing at no row in score" in str(refused.value)
        assert current_revision(engine) == head_revision()
        assert rows(engine, "score") == 0
        assert_keys_on_for_the_app(engine)
        engine.dispose()


def test_a_start_with_nothing_to_migrate_checks_no_keys(tmp_path):
    """The key check reads every table, so only a run that migrated makes it: a database
    at head starts (`upgrade`, as each `tandem serve` does) whatever its rows hold."""
    with fresh_database(tmp_path) as url:
        if not url.startswith("sqlite"):
            pytest.skip("SQLite only: PostgreSQL keeps its keys on and checks each row")
        engine = make_engine(url)
        upgrade(engine)
        with engine.connect() as connection:
            driver = connection.connection.driver_connection
            driver.execute("PRAGMA foreign_keys = OFF")
            driver.execute(a_score_of_no_response())
            driver.execute("PRAGMA foreign_keys = ON")
        upgrade(engine)  # nothing to migrate: no check, no error
        assert current_revision(engine) == head_revision()
        assert rows(engine, "score") == 1
        engine.dispose()
