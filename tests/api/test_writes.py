"""The rules every /v1 write keeps: idempotency keys, strict bodies, size and page limits,
and polling that never skips a change."""

from __future__ import annotations

import sqlite3
import threading
import uuid

import psycopg
import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from api.persistence import ClinicSession, scope_to_clinic
from api.persistence.tenancy import scoped
from api.services.assignments import number_status_change
from schemas import Assignment, AssignmentStatus, Score
from tests.api.factories import make_assignment, make_client
from tests.api.http import Integrator, PortalClient, access_token, new_clinic
from tests.assessments.builders import checkin_response
from tests.databases import run_on_connection

IDENTIFIER = {"system": "https://pm.example/clients", "value": "C-9"}


def test_a_retried_post_with_the_same_key_replays_the_first_answer(integrator):
    robin = integrator.client("C-1")
    body = {"instrument": "weekly-check-in", "client_id": robin["id"]}
    first = integrator.post("/v1/assignments", json=body, headers={"Idempotency-Key": "assign-1"})
    again = integrator.post("/v1/assignments", json=body, headers={"Idempotency-Key": "assign-1"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    listed = integrator.get("/v1/assignments", params={"client_id": robin["id"]}).json()["items"]
    assert len(listed) == 1  # one assignment, not two


def test_the_same_key_with_another_body_is_refused(integrator):
    robin = integrator.client("C-1")
    integrator.post(
        "/v1/assignments",
        json={"instrument": "weekly-check-in", "client_id": robin["id"]},
        headers={"Idempotency-Key": "k"},
    )
    other = integrator.post(
        "/v1/assignments",
        json={"instrument": "balance-assessment", "client_id": robin["id"]},
        headers={"Idempotency-Key": "k"},
    )
    assert other.status_code == 422
    assert other.json()["errors"] == [
        {"parameter": "Idempotency-Key", "detail": "already used with another request"}
    ]


def test_a_failed_request_leaves_its_key_free(integrator):
    bad = integrator.post(
        "/v1/clients",
        json={"identifier": {"system": "", "value": "x"}},
        headers={"Idempotency-Key": "c"},
    )
    assert bad.status_code == 422
    good = integrator.post(
        "/v1/clients", json={"identifier": IDENTIFIER}, headers={"Idempotency-Key": "c"}
    )
    assert good.status_code == 201


def test_keys_belong_to_one_clinic(http, engine, integrator):
    other = Integrator(http, access_token(http, new_clinic(engine, "Other")))
    mine = integrator.post(
        "/v1/clients", json={"identifier": IDENTIFIER}, headers={"Idempotency-Key": "shared"}
    )
    theirs = other.post(
        "/v1/clients", json={"identifier": IDENTIFIER}, headers={"Idempotency-Key": "shared"}
    )
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["id"] != theirs.json()["id"]


@pytest.mark.parametrize(
    ("path", "body", "pointer"),
    [
        (
            "/v1/clients",
            {"identifier": IDENTIFIER, "id": "00000000-0000-0000-0000-000000000000"},
            "#/id",
        ),
        ("/v1/clients", {"identifier": IDENTIFIER, "clinic_id": "x"}, "#/clinic_id"),
        (
            "/v1/assignments",
            {
                "instrument": "weekly-check-in",
                "client_id": "00000000-0000-0000-0000-000000000000",
                "status": "completed",
            },
            "#/status",
        ),
        (
            "/v1/couples",
            {"members": ["00000000-0000-0000-0000-000000000000"] * 2, "scores": []},
            "#/scores",
        ),
    ],
)
def test_unknown_body_fields_are_refused(integrator, path, body, pointer):
    answer = integrator.post(path, json=body)
    assert answer.status_code == 422
    assert pointer in [e.get("pointer") for e in answer.json()["errors"]]


def test_a_patch_cannot_set_what_it_does_not_own(integrator):
    robin = integrator.client("C-1")
    assignment = integrator.assign("weekly-check-in", client_id=robin["id"])[0]
    for body in ({"status": "completed"}, {"client_id": robin["id"]}, {}):
        assert integrator.patch(f"/v1/assignments/{assignment['id']}", json=body).status_code == 422


def test_patch_changes_the_due_date(integrator):
    robin = integrator.client("C-1")
    assignment = integrator.assign("weekly-check-in", client_id=robin["id"])[0]
    changed = integrator.patch(f"/v1/assignments/{assignment['id']}", json={"due": "2026-12-24"})
    assert (changed.status_code, changed.json()["due"]) == (200, "2026-12-24")


def test_an_oversize_body_gets_413(integrator):
    huge = {"identifier": IDENTIFIER, "name": "x" * (1024 * 1024)}
    answer = integrator.post("/v1/clients", json=huge)
    assert answer.status_code == 413
    assert answer.headers["content-type"] == "application/problem+json"


def test_an_oversize_body_without_a_length_gets_413(integrator):
    def chunks():
        yield b'{"identifier": {"system": "s", "value": "v"}, "name": "'
        for _ in range(40):
            yield b"x" * 32768
        yield b'"}'

    answer = integrator.post(
        "/v1/clients", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 413


def test_list_limits_are_capped(integrator):
    assert integrator.get("/v1/assignments", params={"limit": 201}).status_code == 422
    assert integrator.get("/v1/assignments", params={"limit": 200}).status_code == 200
    bad_cursor = integrator.get("/v1/assignments", params={"cursor": "not-ours"})
    assert bad_cursor.status_code == 422
    assert bad_cursor.json()["errors"] == [
        {"parameter": "cursor", "detail": "not a cursor from this list"}
    ]


def test_polling_with_the_cursor_returns_each_change_once_in_commit_order(http, integrator):
    clients = [integrator.client(f"C-{n}") for n in range(3)]
    made = [integrator.assign("weekly-check-in", client_id=c["id"])[0] for c in clients]
    first = integrator.get("/v1/assignments", params={"limit": 2}).json()
    assert [a["id"] for a in first["items"]] == [made[0]["id"], made[1]["id"]] and first["has_more"]
    rest = integrator.get("/v1/assignments", params={"cursor": first["next_cursor"]}).json()
    assert [a["id"] for a in rest["items"]] == [made[2]["id"]] and not rest["has_more"]
    quiet = integrator.get("/v1/assignments", params={"cursor": rest["next_cursor"]}).json()
    assert quiet["items"] == [] and quiet["next_cursor"] == rest["next_cursor"]

    # A client submits the first one: polling from where we stopped shows just that change.
    assert (
        PortalClient(http, made[0]["portal_url"])
        .submit(made[0]["id"], checkin_response())
        .status_code
        == 200
    )
    later = integrator.get("/v1/assignments", params={"cursor": quiet["next_cursor"]}).json()
    assert [(a["id"], a["status"]) for a in later["items"]] == [(made[0]["id"], "completed")]


def test_updated_since_is_inclusive_and_ordered(integrator):
    robin = integrator.client("C-1")
    first = integrator.assign("weekly-check-in", client_id=robin["id"])[0]
    second = integrator.assign("weekly-check-in", client_id=robin["id"])[0]
    since = integrator.get("/v1/assignments", params={"updated_since": second["updated_at"]}).json()
    assert [a["id"] for a in since["items"]] == [second["id"]]
    everything = integrator.get(
        "/v1/assignments", params={"updated_since": first["updated_at"]}
    ).json()
    assert [a["id"] for a in everything["items"]] == [first["id"], second["id"]]


def test_change_numbers_follow_commit_order_under_concurrency(database_url, engine, session):
    """A change numbered first but committed last would be skipped by a poller walking the
    numbers. A first writer has moved its assignment but not committed; a second writer
    moves another and commits if it can. A poll now, and a poll after the first commits
    (from where the first poll stopped), must see both changes between them.

    SQLite: the second writer waits for the first (one writer at a time). PostgreSQL:
    the number is taken with the COMMIT under the clinic's counter lock, so the second
    writer's number is the lower one and the later commit numbers later."""
    client = make_client(session)
    first, second = make_assignment(session, client), make_assignment(session, client)
    session.commit()
    moved, release = threading.Event(), threading.Event()
    done: list = []

    def writer(assignment_id, pause: bool) -> None:
        async def work(connection):
            await number_status_change(connection, assignment_id, AssignmentStatus.IN_PROGRESS)
            if pause:  # moved, not committed
                moved.set()
                release.wait(10)

        run_on_connection(database_url, session.clinic_id, work)
        done.append(assignment_id)

    def poll(after: int) -> list[tuple[uuid.UUID, int]]:
        with ClinicSession(engine) as poller:
            scope_to_clinic(poller, session.clinic_id)
            return [
                (row.id, row.change_seq)
                for row in poller.exec(
                    select(Assignment.id, Assignment.change_seq)
                    .where(Assignment.id.in_([first.id, second.id]))
                    .where(Assignment.change_seq > after)
                    .order_by(Assignment.change_seq)
                )
            ]

    start = max((seq for _, seq in poll(-1)), default=0)
    slow = threading.Thread(target=writer, args=(first.id, True))
    slow.start()
    assert moved.wait(10)
    racer = threading.Thread(target=writer, args=(second.id, False))
    racer.start()
    racer.join(0.5)  # done by now, or waiting for the first writer
    seen_first = poll(start)
    assert first.id not in {i for i, _ in seen_first}  # not committed yet
    release.set()
    slow.join(10)
    racer.join(10)
    assert sorted(done) == sorted([first.id, second.id])
    after = seen_first[-1][1] if seen_first else start
    seen_later = poll(after)
    assert {i for i, _ in seen_first + seen_later} == {first.id, second.id}  # none skipped
    assert len(seen_first + seen_later) == 2


def test_a_statement_after_the_last_one_sees_it(database_url, session):
    """`execute_later` defers the numbering to the COMMIT on PostgreSQL; a read that follows
    after all (a portal page shown after logging homework) makes it run first."""
    from api.services.portal import own_assignment

    client = make_client(session)
    assignment = make_assignment(session, client)
    session.commit()

    async def work(connection):
        await number_status_change(connection, assignment.id, AssignmentStatus.COMPLETED)
        return (await own_assignment(connection, client.id, assignment.id)).status

    assert run_on_connection(database_url, session.clinic_id, work) == AssignmentStatus.COMPLETED
    session.expire_all()
    assert session.get(Assignment, assignment.id).status == AssignmentStatus.COMPLETED


def test_writes_kept_for_the_commit_land_with_it_or_not_at_all(database_url, session):
    """`execute_later` keeps writes for the COMMIT on PostgreSQL, in one round trip (on
    SQLite they run at once): the numbering and an INSERT that breaks a foreign key
    fail together, with the database's own error, and nothing lands."""
    client = make_client(session)
    assignment = make_assignment(session, client)
    session.commit()
    orphan = {"response_id": uuid.uuid4(), "client_id": client.id, "scale": "s", "label": "S"}

    async def work(connection):
        await number_status_change(connection, assignment.id, AssignmentStatus.COMPLETED)
        await connection.execute_later(scoped(insert(Score.__table__)), [orphan], rows=1)

    refused = (IntegrityError, sqlite3.IntegrityError, psycopg.errors.ForeignKeyViolation)
    with pytest.raises(refused):
        run_on_connection(database_url, session.clinic_id, work)
    session.expire_all()
    assert session.get(Assignment, assignment.id).status == AssignmentStatus.REQUESTED
