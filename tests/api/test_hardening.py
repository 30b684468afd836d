"""Input that once made the API answer 500, and races that once left duplicates behind."""

from __future__ import annotations

import base64
import json
import threading
import uuid

import pytest
from sqlmodel import func, select

from api.persistence import ClinicSession, scope_to_clinic
from api.services.portal import save_progress
from api.services.portal_links import PortalVisitor
from schemas import Couple, Response, ResponseStatus
from tests.api.http import Integrator, PortalClient, access_token
from tests.assessments.builders import checkin_response
from tests.databases import run_on_connection


def cursor(position: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("path", "tampered"),
    [
        ("/v1/assignments", {"seq": "abc"}),
        ("/v1/assignments", {"seq": None}),
        ("/v1/assignments", {"seq": 10**30}),
        ("/v1/clients", {"t": 5, "id": str(uuid.uuid4())}),
        ("/v1/clients", {"t": "2026-01-01T00:00:00", "id": str(uuid.uuid4())}),
        ("/v1/clients", {"t": "2026-01-01T00:00:00+00:00", "id": "not-a-uuid"}),
    ],
)
def test_a_tampered_cursor_is_422(integrator, path, tampered):
    answer = integrator.get(path, params={"cursor": cursor(tampered)})
    assert answer.status_code == 422
    assert answer.json()["errors"] == [
        {"parameter": "cursor", "detail": "not a cursor from this list"}
    ]


@pytest.mark.parametrize(
    "since",
    [
        "2026-01-01",
        "2026-01-01T00:00:00",
        "0001-01-01T00:00:00+05:00",  # before year 1 once in UTC
        "9999-12-31T23:59:59-05:00",  # after year 9999 once in UTC
    ],
)
def test_updated_since_needs_a_time_zone(integrator, since):
    answer = integrator.get("/v1/assignments", params={"updated_since": since})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["parameter"] == "updated_since"


@pytest.mark.parametrize("field", ["system", "value"])
def test_control_characters_in_identifiers_are_refused(integrator, field):
    identifier = {"system": "https://pm.example/clients", "value": "C-1"} | {field: "C\x00-1"}
    answer = integrator.post("/v1/clients", json={"identifier": identifier})
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["pointer"] == f"#/identifier/{field}"


def test_control_characters_anywhere_in_a_response_are_refused(http, integrator):
    robin = integrator.client("C-1")
    assignment = integrator.assign("weekly-check-in", client_id=robin["id"])[0]
    response = checkin_response(need="more time\x00together")
    response["item"][0]["text"] = "bell\x07"
    answer = PortalClient(http, assignment["portal_url"]).submit(assignment["id"], response)
    assert answer.status_code == 422
    invalid = [
        (e["pointer"], e["code"]) for e in answer.json()["errors"] if e["code"] == "invalid-text"
    ]
    assert invalid == [
        ("#/item/0/text", "invalid-text"),
        ("#/item/6/answer/0/valueString", "invalid-text"),
    ]


def test_authored_in_the_future_is_refused(http, integrator):
    robin = integrator.client("C-1")
    assignment = integrator.assign("weekly-check-in", client_id=robin["id"])[0]
    response = checkin_response() | {"authored": "2999-01-01T00:00:00+00:00"}
    answer = PortalClient(http, assignment["portal_url"]).submit(assignment["id"], response)
    assert answer.status_code == 422
    assert answer.json()["errors"] == [
        {
            "pointer": "#/authored",
            "detail": "authored is in the future",
            "code": "invalid-structure",
        }
    ]


def test_a_create_only_token_cannot_read_an_existing_client_through_create(http, credentials):
    full = Integrator(http, access_token(http, credentials))
    full.client("C-1")
    create_only = Integrator(http, access_token(http, credentials, scope="system/Patient.c"))
    body = {"identifier": {"system": "https://pm.example/clients", "value": "C-1"}}
    answer = create_only.post("/v1/clients", json=body)
    assert answer.status_code == 403
    assert answer.json()["detail"] == "this token lacks the scope system/Patient.r"
    fresh = create_only.post(
        "/v1/clients", json={"identifier": {"system": "https://pm.example/clients", "value": "C-2"}}
    )
    assert fresh.status_code == 201


def test_patch_with_only_a_null_status_changes_nothing(integrator):
    robin = integrator.client("C-1")
    assignment = integrator.assign("weekly-check-in", client_id=robin["id"])[0]
    assert (
        integrator.patch(f"/v1/assignments/{assignment['id']}", json={"status": None}).status_code
        == 422
    )
    after = integrator.get(f"/v1/assignments/{assignment['id']}").json()
    assert after["updated_at"] == assignment["updated_at"]


def run_together(count: int, work) -> list:
    """Run `work(n)` in `count` threads released at once; returns results or exceptions."""
    start, results = threading.Barrier(count), [None] * count

    def runner(n: int) -> None:
        start.wait()
        try:
            results[n] = work(n)
        except Exception as error:
            results[n] = error

    threads = [threading.Thread(target=runner, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_concurrent_saves_keep_one_in_progress_response(
    engine, database_url, integrator, credentials
):
    robin = integrator.client("C-1")
    assignment = integrator.assign("weekly-check-in", client_id=robin["id"])[0]
    visitor = PortalVisitor(uuid.UUID(credentials.clinic_id), uuid.UUID(robin["id"]))

    def save(n: int) -> uuid.UUID:
        partial = checkin_response(balance_rating=n, status="in-progress")
        saved = run_on_connection(
            database_url,
            visitor.clinic_id,
            lambda c: save_progress(c, visitor, uuid.UUID(assignment["id"]), partial),
        )
        return saved.response_id

    results = run_together(4, save)
    assert all(isinstance(r, uuid.UUID) for r in results), results
    with ClinicSession(engine) as session:
        scope_to_clinic(session, visitor.clinic_id)
        in_progress = session.exec(
            select(func.count())
            .select_from(Response)
            .where(
                Response.assignment_id == uuid.UUID(assignment["id"]),
                Response.status == ResponseStatus.IN_PROGRESS,
            )
        ).one()
    assert in_progress == 1
    assert len(set(results)) == 1


def test_concurrent_couples_with_one_identifier_make_one_couple(
    http, engine, integrator, credentials
):
    robin, sam = integrator.client("C-1"), integrator.client("C-2")
    body = {
        "members": [robin["id"], sam["id"]],
        "identifier": {"system": "https://pm.example/couples", "value": "K-1"},
    }
    answers = run_together(4, lambda n: integrator.post("/v1/couples", json=body))
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(201) == 1 and set(statuses) <= {200, 201}, statuses
    assert len({a.json()["id"] for a in answers}) == 1
    with ClinicSession(engine) as session:
        scope_to_clinic(session, uuid.UUID(credentials.clinic_id))
        assert session.exec(select(func.count()).select_from(Couple)).one() == 1
