"""The application over real HTTP through ASGI: health, errors as problem+json, request ids."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from api.app import create_app
from api.errors import Conflict, FieldProblem, InvalidInput
from api.persistence import make_engine
from api.settings import Settings
from tests.api.http import Integrator, access_token, new_clinic
from tests.databases import fresh_database


@pytest.fixture
def app(settings):
    return create_app(settings)


@pytest.fixture
def http(app):
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_health_reports_the_database_and_schema(http):
    response = http.get("/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "version": "0.1.0",
        "database": "ok",
        "migrations": "current",
    }


def test_health_is_503_when_the_schema_is_behind(tmp_path):
    with fresh_database(tmp_path) as url:
        app = create_app(Settings(database_url=url, auto_migrate=False))
        # no lifespan: the app would refuse to start on an unmigrated database
        response = TestClient(app).get("/health")
        assert response.status_code == 503
        assert response.json()["migrations"] == "pending"
        app.state.engine.dispose()


def test_health_is_503_when_the_database_is_unreachable(tmp_path):
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/missing/dir/tandem.db"))
    response = TestClient(app).get("/health")
    assert response.status_code == 503
    assert response.json() | {"version": None} == {
        "status": "unavailable",
        "version": None,
        "database": "unreachable",
        "migrations": "unknown",
    }


def test_start_up_refuses_an_outdated_schema_without_auto_migrate(tmp_path):
    with fresh_database(tmp_path) as url:
        app = create_app(Settings(database_url=url, auto_migrate=False))
        with pytest.raises(RuntimeError, match="run `tandem db upgrade` first"), TestClient(app):
            pass
        app.state.engine.dispose()


def test_start_up_migrates_sqlite_by_default(tmp_path):
    url = f"sqlite:///{tmp_path}/first-start.db"
    with TestClient(create_app(Settings(database_url=url))) as client:
        assert client.get("/health").json()["migrations"] == "current"
    from api.persistence.migrations import is_current

    assert is_current(make_engine(url))


def test_unknown_routes_are_problem_json(http):
    response = http.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "https://tandem.dev/problems/not-found"
    assert body["detail"] == "nothing at /v1/nothing-here"
    assert body["request_id"] == response.headers["x-request-id"]


def test_wrong_method_is_405_problem_json(http):
    response = http.delete("/health")
    assert response.status_code == 405
    assert response.json()["title"] == "Method not allowed"


class Sample(BaseModel):
    name: str
    age: int


@pytest.fixture
def probe_app(app):
    """The real app plus routes that raise, to exercise the error edge."""

    @app.post("/probe/validate")
    def probe_validate(body: Sample, limit: int = 10) -> dict[str, int]:
        return {"limit": limit}

    @app.get("/probe/domain")
    def probe_domain() -> None:
        raise InvalidInput(
            "two things are wrong", [FieldProblem("/members/1", "not in this clinic", "not-found")]
        )

    @app.get("/probe/conflict")
    def probe_conflict() -> None:
        raise Conflict("already completed")

    @app.post("/probe/crash")
    def probe_crash(body: dict[str, str]) -> None:
        raise RuntimeError(f"could not store answer {body['answer']}")

    return app


def test_request_validation_names_each_bad_field(probe_app):
    with TestClient(probe_app) as client:
        response = client.post("/probe/validate?limit=many", json={"name": "x", "age": "old"})
    assert response.status_code == 422
    body = response.json()
    assert body["title"] == "Invalid input"
    assert [(e.get("pointer"), e.get("parameter")) for e in body["errors"]] == [
        (None, "limit"),
        ("#/age", None),
    ]


def test_domain_errors_carry_their_status_and_pointers(probe_app):
    with TestClient(probe_app) as client:
        invalid = client.get("/probe/domain")
        conflict = client.get("/probe/conflict")
    assert invalid.status_code == 422
    assert invalid.json()["errors"] == [
        {"pointer": "#/members/1", "detail": "not in this clinic", "code": "not-found"}
    ]
    assert conflict.status_code == 409
    assert conflict.json()["detail"] == "already completed"


def test_a_crash_is_a_generic_500_and_the_log_holds_no_answer_text(probe_app, caplog):
    caplog.set_level(logging.INFO, logger="tandem")
    with TestClient(probe_app, raise_server_exceptions=False) as client:
        response = client.post(
            "/probe/crash",
            json={"answer": "I feel unsafe at home"},
            headers={"X-Request-ID": "req-1234567890"},
        )
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "req-1234567890"
    body = response.json()
    assert body["detail"] == (
        "Something went wrong on our side. Quote request id req-1234567890 when reporting it."
    )
    assert "unsafe" not in response.text
    assert "unsafe" not in caplog.text
    assert "unhandled RuntimeError in request req-1234567890" in caplog.text


def access_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "tandem.access"]


def test_the_access_log_names_route_templates_not_paths(http, caplog):
    caplog.set_level(logging.INFO, logger="tandem.access")
    # The query's value holds letters a hex request id never does, so it cannot appear by chance.
    http.get("/health?token=quiet-sesame", headers={"X-Request-ID": "bad id with spaces"})
    line = access_lines(caplog)[-1]
    assert line.startswith("GET /health 200 ")
    assert "token" not in line and "sesame" not in line
    assert "bad id" not in line  # a malformed caller id is replaced, not echoed


def test_the_access_log_never_echoes_an_unmatched_path(http, caplog):
    caplog.set_level(logging.INFO, logger="tandem.access")
    http.get("/portal/s3cr3t-t0ken")
    http.get("/docs")
    lines = access_lines(caplog)[-2:]
    assert lines[0].startswith("GET (no route) 404 ")
    assert lines[1].startswith("GET /docs 200 ")
    assert "s3cr3t" not in caplog.text


def test_docs_are_served(http):
    assert http.get("/docs").status_code == 200
    assert http.get("/openapi.json").json()["info"]["title"] == "Tandem"


def test_sqlite_keeps_temporary_files_and_savepoint_journals_in_memory(settings, tmp_path):
    """Each writer in a group commit runs in a SAVEPOINT, whose journal of the pages it
    changes SQLite would otherwise write to a temporary file (strace: about 60 writes a
    submission). Every connection, the group's included, keeps them in memory."""
    if not settings.is_sqlite:
        pytest.skip("SQLite only")
    url = f"sqlite:///{tmp_path / 'temporary.db'}"
    with TestClient(create_app(Settings(database_url=url))) as http:
        group = http.app.state.connection_binds.group
        for engine in (http.app.state.engine, group._engine):
            with engine.connect() as connection:
                assert connection.exec_driver_sql("PRAGMA temp_store").scalar() == 2  # MEMORY


def test_the_server_checkpoints_sqlite_in_the_background_not_at_commit(settings, tmp_path):
    """Commits leave the write-ahead log alone; the checkpointer thread copies it back."""
    if not settings.is_sqlite:
        pytest.skip("SQLite only")
    url = f"sqlite:///{tmp_path / 'checkpoints.db'}"
    with TestClient(create_app(Settings(database_url=url))) as http:
        checkpointer = http.app.state.checkpointer
        assert checkpointer.running
        engine = http.app.state.engine
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
        credentials = new_clinic(engine)  # writes: the log grows, no commit checkpoints it
        integrator = Integrator(http, access_token(http, credentials))
        integrator.client("C-1")
        busy, logged, copied = checkpointer.checkpoint()
        assert (busy, copied) == (0, logged) and logged > 0
    assert not checkpointer.running
