"""FHIR Bulk Data export over HTTP: kick-off (GET and POST, system, Patient and Group),
polling, the manifest, the ndjson files (every line checked with fhir.resources' R4B
models), cancelling, tenancy and scopes; the worker's lease, hand-back and failures;
and one client's record through Patient/$everything."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B import get_fhir_model_class
from sqlalchemy import select, update

from api.app import create_app
from api.cli import main
from api.persistence import ClinicSession, across_clinics
from api.services import bulk_export
from api.services.bulk_export import ExportWorker
from api.services.fhir_search import TARGETS
from api.settings import Settings, get_settings
from integrations.fhir.ndjson import EXPORT_TYPES
from schemas import ExportJob, ExportStatus
from tests.api.http import Integrator, PortalClient, access_token, new_clinic
from tests.api.test_fhir_search import FHIR, bundle_of, valid
from tests.assessments.builders import STATEMENTS, balance_response

PUBLIC = "http://127.0.0.1:8000"
ASYNC = {"Prefer": "respond-async"}
NDJSON = "application/fhir+ndjson"
WRITTEN = ["Patient", "Group", "Questionnaire", "QuestionnaireResponse", "Observation", "Task"]


@pytest.fixture
def settings(database_url, tmp_path) -> Settings:
    return Settings(
        database_url=database_url, auto_migrate=False, export_dir=str(tmp_path / "exports")
    )


@pytest.fixture(autouse=True)
def no_job_left_behind(engine) -> Iterator[None]:
    """Every job still waiting when a test ends is cancelled: no later test's worker (in
    this file or another) picks it up."""
    yield
    with ClinicSession(engine) as session, across_clinics(session):
        session.execute(
            update(ExportJob)
            .where(ExportJob.status.in_([ExportStatus.QUEUED, ExportStatus.RUNNING]))
            .values(status=ExportStatus.CANCELLED)
        )
        session.commit()


@pytest.fixture
def manual(settings) -> Iterator[TestClient]:
    """The app without its background worker: the test runs the worker's steps itself."""
    with TestClient(create_app(settings.model_copy(update={"export_worker": False}))) as client:
        yield client


def local(url: str) -> str:
    assert url.startswith(PUBLIC + "/fhir/"), url
    return url.removeprefix(PUBLIC)


def outcome(answer: Any, status: int) -> list[dict[str, Any]]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(FHIR)
    return valid(answer.json())["issue"]


def kick_off(integrator: Integrator, path: str = "/fhir/$export", **options: Any) -> str:
    """The status path of a new export (the kick-off answered 202, Content-Location absolute)."""
    method = integrator.post if options.pop("post", False) else integrator.get
    answer = method(path, headers=ASYNC | options.pop("headers", {}), **options)
    assert answer.status_code == 202, answer.text
    assert outcome(answer, 202)[0]["severity"] == "information"
    return local(answer.headers["content-location"])


def finished(integrator: Integrator, status_path: str, seconds: float = 20) -> dict[str, Any]:
    """Poll the status until the manifest comes (202 with X-Progress until then)."""
    deadline = time.monotonic() + seconds
    while True:
        answer = integrator.get(status_path)
        if answer.status_code == 200:
            break
        assert answer.status_code == 202, answer.text
        assert answer.headers["x-progress"] and answer.headers["retry-after"] == "2"
        assert time.monotonic() < deadline, "the export did not finish"
        time.sleep(0.02)
    assert answer.headers["content-type"].startswith("application/json")
    expires = datetime.strptime(answer.headers["expires"], "%a, %d %b %Y %H:%M:%S GMT")
    hours = (expires.replace(tzinfo=UTC) - datetime.now(UTC)) / timedelta(hours=1)
    assert 23.9 < hours <= 24
    manifest = answer.json()
    assert manifest["requiresAccessToken"] is True
    assert manifest["error"] == []
    return manifest


def files(integrator: Integrator, manifest: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Every resource of the manifest's files, by type; each line valid for its R4B model."""
    found: dict[str, list[dict[str, Any]]] = {}
    for entry in manifest["output"]:
        answer = integrator.get(local(entry["url"]))
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith(NDJSON)
        lines = answer.text.splitlines()
        assert answer.text.endswith("\n") and len(lines) == entry["count"]
        for line in lines:
            resource = json.loads(line)
            get_fhir_model_class(resource["resourceType"]).model_validate(resource)
            assert resource["resourceType"] == entry["type"]
            found.setdefault(entry["type"], []).append(resource)
    return found


def ids(found: dict[str, list[dict[str, Any]]], kind: str) -> set[str]:
    return {resource["id"] for resource in found.get(kind, [])}


def submit(http: TestClient, assignment: dict[str, Any], level: int) -> str:
    answers = balance_response({lid: level for lid in STATEMENTS}, gap_now=3, gap_wanted=5)
    done = PortalClient(http, assignment["portal_url"]).submit(assignment["id"], answers)
    assert done.status_code == 200, done.text
    return done.json()["response_id"]


def practice_of(http: TestClient, integrator: Integrator) -> dict[str, Any]:
    """Robin and Sam, a couple, each with a completed balance assessment (scored); Lee and
    Kim, another couple, Lee with one still open. What an export should hold is counted
    from what was made here."""
    robin, sam = integrator.client("C-1", name="Robin Ash"), integrator.client("C-2")
    lee, kim = integrator.client("C-3", name="Lee Ash"), integrator.client("C-4")
    first = integrator.couple(robin["id"], sam["id"])
    second = integrator.couple(lee["id"], kim["id"])
    made = integrator.assign("balance-assessment", couple_id=first["id"])
    responses = {
        a["client_id"]: submit(http, a, level) for a, level in zip(made, (4, 2), strict=True)
    }
    open_one = integrator.assign("balance-assessment", client_id=lee["id"])[0]
    scores = {
        response_id: len(integrator.get(f"/v1/responses/{response_id}").json()["scores"])
        for response_id in responses.values()
    }
    instruments = integrator.get("/v1/instruments").json()
    return {
        "robin": robin["id"], "sam": sam["id"], "lee": lee["id"], "kim": kim["id"],
        "couple": first["id"], "other_couple": second["id"], "responses": responses,
        "tasks": {a["id"] for a in made} | {open_one["id"]},
        "counts": {
            "Patient": 4, "Group": 2, "Questionnaire": len(instruments),
            "QuestionnaireResponse": 2, "Observation": sum(scores.values()), "Task": 3,
        },
    }  # fmt: skip


@pytest.fixture
def practice(http, integrator) -> dict[str, Any]:
    return practice_of(http, integrator)


def draft_plan(integrator: Integrator, couple_id: str) -> str:
    """A draft intervention plan for the couple (both partners assessed): a CarePlan."""
    drafted = integrator.post(f"/v1/couples/{couple_id}/plans/draft")
    assert drafted.status_code == 201, drafted.text
    return drafted.json()["id"]


# Kick-off, progress, manifest, files -----------------------------------------------------


def test_the_whole_clinic_through_the_servers_own_worker(http, integrator, practice):
    status_path = kick_off(integrator)
    assert http.app.state.export_worker.running  # the lifespan's background worker runs it
    manifest = finished(integrator, status_path)
    assert manifest["request"] == f"{PUBLIC}/fhir/$export"
    datetime.fromisoformat(manifest["transactionTime"])
    assert [entry["type"] for entry in manifest["output"]] == WRITTEN  # no CarePlan: no plans
    found = files(integrator, manifest)
    assert {kind: len(found[kind]) for kind in found} == practice["counts"]
    assert ids(found, "Patient") == {practice[p] for p in ("robin", "sam", "lee", "kim")}
    assert ids(found, "QuestionnaireResponse") == set(practice["responses"].values())
    assert ids(found, "Task") == practice["tasks"]
    assert {e["type"]: e["count"] for e in manifest["output"]} == practice["counts"]


def test_progress_while_queued_and_running_then_the_manifest(manual, engine, settings):
    integrator = Integrator(manual, access_token(manual, new_clinic(engine)))
    practice = practice_of(manual, integrator)
    status_path = kick_off(integrator)
    waiting = integrator.get(status_path)
    assert waiting.status_code == 202
    assert waiting.headers["x-progress"] == "queued, 0 of 7 types"
    assert waiting.headers["retry-after"] == "2"
    worker = ExportWorker(engine, settings, batch_size=2)
    claimed = worker.claim()
    assert claimed is not None
    running = integrator.get(status_path)
    assert (running.status_code, running.headers["x-progress"]) == (
        202, "0 of 7 types, 0 resources"
    )  # fmt: skip
    worker.run_job(claimed)
    found = files(integrator, finished(integrator, status_path))
    assert {kind: len(found[kind]) for kind in found} == practice["counts"]


def test_kick_off_by_post_with_a_parameters_body_and_by_query(http, integrator, practice):
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "_type", "valueString": "Patient,Group"},
            {"name": "_outputFormat", "valueString": "application/fhir+ndjson"},
        ],
    }
    headers = {"Content-Type": FHIR}
    status_path = kick_off(integrator, post=True, content=json.dumps(body), headers=headers)
    manifest = finished(integrator, status_path)
    assert [(e["type"], e["count"]) for e in manifest["output"]] == [("Patient", 4), ("Group", 2)]
    by_query = kick_off(integrator, "/fhir/Patient/$export", post=True, params={"_type": "Task"})
    manifest = finished(integrator, by_query)
    assert [(e["type"], e["count"]) for e in manifest["output"]] == [("Task", 3)]
    assert manifest["request"] == f"{PUBLIC}/fhir/Patient/$export?_type=Task"
    # a body that is not a Parameters resource
    bad = integrator.post("/fhir/$export", json={"resourceType": "Patient"}, headers=ASYNC)
    assert "Parameters" in outcome(bad, 400)[0]["diagnostics"]


@pytest.mark.parametrize("spelling", ["application/fhir+ndjson", "application/ndjson", "ndjson"])
def test_the_three_spellings_of_ndjson(integrator, spelling):
    status_path = kick_off(integrator, params={"_outputFormat": spelling, "_type": "Group"})
    assert finished(integrator, status_path)["output"] == []  # no couples: no files


def test_what_the_kick_off_refuses(integrator):
    issues = outcome(integrator.get("/fhir/$export"), 400)
    assert "Prefer: respond-async" in issues[0]["diagnostics"]
    for params, named in (
        ({"_type": "Patient,Encounter"}, "_type"),
        ({"_type": "Foo"}, "_type"),
        ({"_outputFormat": "text/csv"}, "_outputFormat"),
        ({"_outputFormat": "application/fhir+json"}, "_outputFormat"),
        ({"_since": "last tuesday"}, "_since"),
        ({"_since": "2026-11-01"}, "_since"),  # an instant has a time and a zone
        ({"_typeFilter": "Patient?name=Ash"}, "_typeFilter"),
        ({"_since": "2026-11-01T00:00:00Z", "_outputFormat": "ndjson", "x": "1"}, "x"),
    ):
        issues = outcome(integrator.get("/fhir/$export", params=params, headers=ASYNC), 400)
        assert issues[1]["expression"] == [named], params
    issues = outcome(
        integrator.get("/fhir/$export", params={"_type": "Group,Encounter"}, headers=ASYNC), 400
    )
    assert "'Encounter'" in issues[0]["diagnostics"]
    # lenient handling leaves out what it does not support
    lenient = {"Prefer": "respond-async, handling=lenient"}
    status_path = kick_off(
        integrator, params={"_typeFilter": "x", "_type": "Group,Encounter"}, headers=lenient
    )
    assert finished(integrator, status_path)["output"] == []


def test_type_narrows_and_since_leaves_out_what_did_not_change(integrator, practice):
    manifest = finished(
        integrator, kick_off(integrator, params={"_type": "Observation,QuestionnaireResponse"})
    )
    assert [e["type"] for e in manifest["output"]] == ["QuestionnaireResponse", "Observation"]
    cut = datetime.now(UTC)
    newcomer = integrator.client("C-9")
    task = integrator.assign("weekly-check-in", client_id=newcomer["id"])[0]
    since = cut.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    found = files(integrator, finished(integrator, kick_off(integrator, params={"_since": since})))
    assert {kind: ids(found, kind) for kind in found} == {
        "Patient": {newcomer["id"]},
        "Task": {task["id"]},
    }


def test_a_couples_export_holds_that_couple_only(integrator, practice):
    plan = draft_plan(integrator, practice["couple"])
    path = f"/fhir/Group/{practice['couple']}/$export"
    found = files(integrator, finished(integrator, kick_off(integrator, path)))
    assert ids(found, "Patient") == {practice["robin"], practice["sam"]}
    assert ids(found, "CarePlan") == {plan}
    assert ids(found, "Group") == {practice["couple"]}
    assert ids(found, "QuestionnaireResponse") == set(practice["responses"].values())
    assert len(found["Observation"]) == practice["counts"]["Observation"]
    assert {o["subject"]["reference"] for o in found["Observation"]} == {
        f"Patient/{practice['robin']}", f"Patient/{practice['sam']}"
    }  # fmt: skip
    assert len(found["Task"]) == 2 and practice["lee"] not in json.dumps(found)
    assert [q["url"] for q in found["Questionnaire"]] == [
        "https://tandem.dev/fhir/Questionnaire/balance-assessment"
    ]
    # Lee and Kim: one open task, nothing answered
    other = f"/fhir/Group/{practice['other_couple']}/$export"
    found = files(integrator, finished(integrator, kick_off(integrator, other)))
    assert {kind: len(found[kind]) for kind in found} == {
        "Patient": 2, "Group": 1, "Questionnaire": 1, "Task": 1
    }  # fmt: skip
    unknown = integrator.get(
        "/fhir/Group/00000000-0000-4000-8000-000000000000/$export", headers=ASYNC
    )
    outcome(unknown, 404)
    outcome(integrator.get("/fhir/Group/not-an-id/$export", headers=ASYNC), 404)


def test_a_big_type_is_split_into_files_and_paged_without_gaps(manual, engine, settings):
    integrator = Integrator(manual, access_token(manual, new_clinic(engine)))
    practice = practice_of(manual, integrator)
    status_path = kick_off(integrator)
    small = settings.model_copy(update={"export_file_resources": 3})
    assert ExportWorker(engine, small, batch_size=2).step()
    manifest = finished(integrator, status_path)
    patients = [e for e in manifest["output"] if e["type"] == "Patient"]
    assert [(e["url"].rsplit("/", 1)[1], e["count"]) for e in patients] == [
        ("Patient-1.ndjson", 3), ("Patient-2.ndjson", 1)
    ]  # fmt: skip
    assert all(e["count"] <= 3 for e in manifest["output"])
    found = files(integrator, manifest)
    for kind, count in practice["counts"].items():
        assert len(ids(found, kind)) == len(found[kind]) == count, kind


# Cancel, tenancy, scopes -----------------------------------------------------------------


def test_cancel_removes_the_job_and_its_files(manual, engine, settings):
    integrator = Integrator(manual, access_token(manual, new_clinic(engine)))
    practice_of(manual, integrator)
    worker = ExportWorker(engine, settings)
    # a finished job
    status_path = kick_off(integrator)
    assert worker.step()
    manifest = finished(integrator, status_path)
    job_id = status_path.rsplit("/", 1)[1]
    assert (Path(settings.export_dir) / job_id).is_dir()
    assert outcome(integrator.http.delete(status_path, headers=integrator.headers), 202)
    outcome(integrator.get(status_path), 404)
    outcome(integrator.get(local(manifest["output"][0]["url"])), 404)
    outcome(integrator.http.delete(status_path, headers=integrator.headers), 404)
    assert not (Path(settings.export_dir) / job_id).exists()
    # a queued one: no worker takes it
    queued = kick_off(integrator)
    outcome(integrator.http.delete(queued, headers=integrator.headers), 202)
    assert not worker.step()
    # a running one: the worker drops it after its batch
    running = kick_off(integrator)
    runner = ExportWorker(engine, settings, batch_size=1)
    claimed = runner.claim()
    assert claimed is not None
    outcome(integrator.http.delete(running, headers=integrator.headers), 202)
    runner.run_job(claimed)
    outcome(integrator.get(running), 404)
    assert not (Path(settings.export_dir) / str(claimed.job_id)).exists()


def claimed_name(engine, job_id) -> str | None:
    with ClinicSession(engine) as session, across_clinics(session):
        job = session.get(ExportJob, job_id)
        return None if job is None else job.worker


def test_another_clinics_token_finds_nothing_and_no_token_is_401(
    http, engine, integrator, practice
):
    status_path = kick_off(integrator)
    manifest = finished(integrator, status_path)
    file_path = local(manifest["output"][0]["url"])
    stranger = Integrator(http, access_token(http, new_clinic(engine, "Elsewhere")))
    outcome(stranger.get(status_path), 404)
    outcome(stranger.get(file_path), 404)
    outcome(stranger.http.delete(status_path, headers=stranger.headers), 404)
    outcome(stranger.get(f"/fhir/Group/{practice['couple']}/$export", headers=ASYNC), 404)
    outcome(stranger.get(f"/fhir/Patient/{practice['robin']}/$everything"), 404)
    for path in (status_path, file_path, "/fhir/$export"):
        outcome(http.get(path, headers=ASYNC), 401)
    outcome(http.delete(status_path), 401)
    assert integrator.get(file_path).status_code == 200  # still there for its own clinic


def test_scopes_cover_every_type_exported(http, credentials, integrator):
    patients_only = Integrator(http, access_token(http, credentials, "system/Patient.rs"))
    refused = patients_only.get("/fhir/$export", headers=ASYNC)
    assert "system/Group.r" in outcome(refused, 403)[0]["diagnostics"]
    status_path = kick_off(patients_only, params={"_type": "Patient"})
    finished(patients_only, status_path)
    read_only = Integrator(http, access_token(http, credentials, "system/Patient.r"))
    outcome(read_only.get("/fhir/$export", params={"_type": "Patient"}, headers=ASYNC), 403)
    # the status of a job of every type needs every type's scopes too
    everything = kick_off(integrator)
    outcome(patients_only.get(everything), 403)


# The worker: leases, hand-back, failures -------------------------------------------------


def test_a_job_whose_worker_died_is_taken_again(manual, engine, settings):
    integrator = Integrator(manual, access_token(manual, new_clinic(engine)))
    practice = practice_of(manual, integrator)
    status_path = kick_off(integrator)
    dead = ExportWorker(engine, settings, name="dead", lease=timedelta(0))
    claimed = dead.claim()  # ... and it never renews its lease
    assert claimed is not None and claimed.attempt == 1
    assert integrator.get(status_path).status_code == 202
    assert ExportWorker(engine, settings, name="alive").step()
    manifest = finished(integrator, status_path)
    assert claimed_name(engine, claimed.job_id) == "alive"
    # the first worker comes back to life: its attempt is dropped, the files stay
    dead.run_job(claimed)
    job_dir = Path(settings.export_dir) / str(claimed.job_id)
    assert sorted(p.name for p in job_dir.iterdir()) == ["2"]
    found = files(integrator, manifest)
    assert {kind: len(found[kind]) for kind in found} == practice["counts"]


def test_tandem_worker_once_runs_what_is_waiting(manual, engine, settings, monkeypatch):
    integrator = Integrator(manual, access_token(manual, new_clinic(engine)))
    status_path = kick_off(integrator, params={"_type": "Questionnaire"})
    monkeypatch.setenv("TANDEM_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TANDEM_EXPORT_DIR", settings.export_dir)
    get_settings.cache_clear()
    try:
        assert main(["worker", "--once"]) == 0
    finally:
        get_settings.cache_clear()
    assert finished(integrator, status_path)["output"][0]["type"] == "Questionnaire"


def test_a_job_held_by_one_worker_is_skipped_by_another(manual, engine, settings):
    """PostgreSQL: a claim skips the row another worker's claim has locked."""
    if engine.dialect.name != "postgresql":
        pytest.skip("FOR UPDATE SKIP LOCKED is PostgreSQL's; SQLite claims take turns")
    integrator = Integrator(manual, access_token(manual, new_clinic(engine)))
    kick_off(integrator, params={"_type": "Questionnaire"})
    jobs = ExportJob.__table__  # a plain connection, outside any clinic session
    with engine.connect() as other, other.begin():
        other.execute(select(jobs.c.id).where(jobs.c.status == "queued").with_for_update())
        assert ExportWorker(engine, settings).claim() is None
    assert ExportWorker(engine, settings).step()


def test_a_job_interrupted_again_and_again_fails(manual, engine, settings):
    integrator = Integrator(manual, access_token(manual, new_clinic(engine)))
    status_path = kick_off(integrator)
    for attempt in range(1, bulk_export.MAX_ATTEMPTS + 1):
        claimed = ExportWorker(engine, settings, lease=timedelta(0)).claim()
        assert claimed is not None and claimed.attempt == attempt
    assert ExportWorker(engine, settings).claim() is None
    issues = outcome(integrator.get(status_path), 500)
    assert issues[0]["code"] == "exception"
    assert "interrupted 3 times" in issues[0]["diagnostics"]


def test_a_stopping_worker_hands_its_job_back(manual, engine, settings):
    integrator = Integrator(manual, access_token(manual, new_clinic(engine)))
    practice_of(manual, integrator)
    status_path = kick_off(integrator)
    worker = ExportWorker(engine, settings, batch_size=1)
    claimed = worker.claim()
    assert claimed is not None
    worker.stop(timeout=0)  # as the server's shutdown does, mid-job
    worker.run_job(claimed)
    again = integrator.get(status_path)
    assert (again.status_code, again.headers["x-progress"]) == (202, "queued, 0 of 7 types")
    assert not (Path(settings.export_dir) / str(claimed.job_id) / "1").exists()
    assert ExportWorker(engine, settings).step()
    finished(integrator, status_path)


def test_a_row_that_cannot_be_mapped_goes_to_the_error_file(manual, engine, settings, monkeypatch):
    integrator = Integrator(manual, access_token(manual, new_clinic(engine)))
    practice = practice_of(manual, integrator)
    broken = practice["robin"]
    mapping = bulk_export.resources_of

    def failing(session, search, rows):
        if any(str(row[0].id) == broken for row in rows):
            raise ValueError("a broken row")
        return mapping(session, search, rows)

    monkeypatch.setattr(bulk_export, "resources_of", failing)
    status_path = kick_off(integrator, params={"_type": "Patient"})
    assert ExportWorker(engine, settings).step()
    answer = integrator.get(status_path)
    assert answer.status_code == 200
    manifest = answer.json()
    assert [(e["type"], e["count"]) for e in manifest["output"]] == [("Patient", 3)]
    assert [(e["type"], e["count"]) for e in manifest["error"]] == [("OperationOutcome", 1)]
    line = integrator.get(local(manifest["error"][0]["url"])).text
    issue = valid(json.loads(line))["issue"][0]
    assert f"Patient/{broken}" in issue["diagnostics"]
    assert "a broken row" not in line  # the exception's text never leaves


def test_a_failed_job_answers_500_with_an_outcome(manual, engine, settings, monkeypatch):
    integrator = Integrator(manual, access_token(manual, new_clinic(engine)))
    status_path = kick_off(integrator)

    def broken(*_arguments):
        raise RuntimeError("Robin's answers")

    monkeypatch.setattr(ExportWorker, "_write", broken)
    assert ExportWorker(engine, settings).step()
    issues = outcome(integrator.get(status_path), 500)
    assert "RuntimeError" in issues[0]["diagnostics"]
    assert "Robin" not in json.dumps(issues)
    job_id = status_path.rsplit("/", 1)[1]
    assert not (Path(settings.export_dir) / job_id / "1").exists()


def test_expired_files_are_removed(manual, engine, settings):
    integrator = Integrator(manual, access_token(manual, new_clinic(engine)))
    status_path = kick_off(integrator, params={"_type": "Questionnaire"})
    worker = ExportWorker(engine, settings)
    assert worker.step()
    manifest = finished(integrator, status_path)
    job_id = status_path.rsplit("/", 1)[1]
    with ClinicSession(engine) as session, across_clinics(session):
        session.execute(
            update(ExportJob)
            .where(ExportJob.id == uuid.UUID(job_id))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        session.commit()
    outcome(integrator.get(status_path), 404)
    assert worker.purge() >= 1
    assert not (Path(settings.export_dir) / job_id).exists()
    outcome(integrator.get(local(manifest["output"][0]["url"])), 404)


# $everything and the CapabilityStatement ---------------------------------------------------


def test_everything_about_one_client(http, integrator, practice):
    robin = practice["robin"]
    plan = draft_plan(integrator, practice["couple"])
    bundle = bundle_of(integrator.get(f"/fhir/Patient/{robin}/$everything"))
    kinds: dict[str, list[dict[str, Any]]] = {}
    for entry in bundle["entry"]:
        assert entry["search"]["mode"] == "match"
        kinds.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    assert bundle["total"] == len(bundle["entry"])
    scores = practice["counts"]["Observation"] // 2
    assert {kind: len(found) for kind, found in kinds.items()} == {
        "Patient": 1, "Group": 1, "Questionnaire": 1, "QuestionnaireResponse": 1,
        "Observation": scores, "Task": 1, "CarePlan": 1,
    }  # fmt: skip
    assert kinds["Patient"][0]["id"] == robin
    assert kinds["QuestionnaireResponse"][0]["id"] == practice["responses"][robin]
    assert kinds["CarePlan"][0]["id"] == plan
    assert practice["sam"] not in {o["subject"]["reference"][8:] for o in kinds["Observation"]}
    narrowed = bundle_of(
        integrator.get(f"/fhir/Patient/{robin}/$everything", params={"_type": "Observation,Task"})
    )
    assert {e["resource"]["resourceType"] for e in narrowed["entry"]} == {"Observation", "Task"}
    later = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert (
        bundle_of(integrator.get(f"/fhir/Patient/{robin}/$everything", params={"_since": later}))[
            "total"
        ]
        == 0
    )
    lee = bundle_of(integrator.get(f"/fhir/Patient/{practice['lee']}/$everything"))
    assert robin not in json.dumps(lee)
    outcome(integrator.get(f"/fhir/Patient/{robin}/$everything", params={"_type": "Foo"}), 400)
    outcome(integrator.get("/fhir/Patient/00000000-0000-4000-8000-000000000000/$everything"), 404)


def test_everything_needs_read_on_every_type_it_holds(http, credentials, practice):
    patients_only = Integrator(http, access_token(http, credentials, "system/Patient.r"))
    path = f"/fhir/Patient/{practice['robin']}/$everything"
    assert "system/Group.r" in outcome(patients_only.get(path), 403)[0]["diagnostics"]
    only_patient = bundle_of(patients_only.get(path, params={"_type": "Patient"}))
    assert only_patient["total"] == 1


def test_every_searchable_type_is_exported():
    assert tuple(TARGETS) == EXPORT_TYPES


def test_the_capability_statement_names_the_operations(http):
    statement = bundle_of(http.get("/fhir/metadata"))
    rest = statement["rest"][0]
    assert rest["operation"] == [
        {
            "name": "export",
            "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export",
        }
    ]
    resources = {r["type"]: r for r in rest["resource"]}
    assert [o["name"] for o in resources["Patient"]["operation"]] == ["export", "everything"]
    assert resources["Group"]["operation"][0]["definition"].endswith("/group-export")
