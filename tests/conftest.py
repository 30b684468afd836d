"""Shared fixtures: one migrated database per test run, a fresh clinic per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from api.persistence import ClinicSession, make_engine
from api.services.clinics import create_clinic
from api.services.maintenance import prepare_database
from api.settings import Settings
from schemas import Clinic
from tests.databases import fresh_database


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The run's database, migrated to head with the built-ins installed."""
    with fresh_database(tmp_path_factory.mktemp("db")) as url:
        engine = make_engine(url)
        prepare_database(engine)
        engine.dispose()
        yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, auto_migrate=False)


@pytest.fixture
def session(engine: Engine) -> Iterator[ClinicSession]:
    """A session scoped to a clinic created for this test alone."""
    with ClinicSession(engine, expire_on_commit=False) as session:
        create_clinic(session, "Test Clinic")
        session.commit()
        yield session
        session.rollback()


@pytest.fixture
def clinic(session: ClinicSession) -> Clinic:
    found = session.get(Clinic, session.clinic_id)
    assert found is not None
    return found
