"""Portal links: each opens only its own client's homework, and stops when it should."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlmodel import select

from api.persistence import ClinicSession, across_clinics
from schemas import Response
from schemas.base import utcnow
from tests.api.factories import link_row
from tests.api.http import PortalClient
from tests.assessments.builders import checkin_response

LINK_GONE = "This link does not work any more. Ask your counsellor to send you a new one."


@pytest.fixture
def couple_assignments(integrator):
    robin, sam = integrator.client("C-1"), integrator.client("C-2")
    couple = integrator.couple(robin["id"], sam["id"])
    return integrator.assign("weekly-check-in", couple_id=couple["id"])


def test_a_partners_link_does_not_open_the_other_partners_assignment(http, couple_assignments):
    robins, sams = couple_assignments
    robin = PortalClient(http, robins["portal_url"])
    assert [a["id"] for a in robin.assignments().json()] == [robins["id"]]
    for answer in (
        robin.questionnaire(sams["id"]),
        robin.save(sams["id"], checkin_response(status="in-progress")),
        robin.submit(sams["id"], checkin_response()),
    ):
        assert answer.status_code == 404


def test_the_partners_answers_never_reach_the_portal(http, couple_assignments):
    robins, sams = couple_assignments
    sam = PortalClient(http, sams["portal_url"])
    assert (
        sam.submit(
            sams["id"], checkin_response(need="I need you to stop reading my messages", safety=True)
        ).status_code
        == 200
    )
    robin = PortalClient(http, robins["portal_url"])
    seen = robin.assignments().text + robin.questionnaire(robins["id"]).text
    assert "reading my messages" not in seen and sams["id"] not in seen
    # nor Sam's safety flag: its message, its code as a flag, or anything of Sam's response
    assert "Reported feeling afraid" not in seen and '"flags"' not in seen
    own = robin.submit(robins["id"], checkin_response(safety=False))
    assert own.status_code == 200 and set(own.json()) == {"status", "response_id"}


@pytest.mark.parametrize("how", ["revoked", "expired", "cancelled", "unknown", "missing"])
def test_a_link_that_stopped_working_says_so_and_nothing_more(
    http, engine, integrator, couple_assignments, how
):
    mine = couple_assignments[0]
    client = PortalClient(http, mine["portal_url"])
    if how == "revoked":
        assert integrator.post(f"/v1/assignments/{mine['id']}/revoke-link").json() == {
            "assignment_id": mine["id"],
            "revoked": 1,
        }
    elif how == "expired":
        link_row(engine, mine["portal_url"], expires_at=utcnow() - timedelta(seconds=1))
    elif how == "cancelled":
        assert (
            integrator.patch(f"/v1/assignments/{mine['id']}", json={"status": "cancelled"}).json()[
                "status"
            ]
            == "cancelled"
        )
    elif how == "unknown":
        client = PortalClient(http, "http://x/portal/not-a-real-token")
    else:
        client.headers = {}
    answer = client.assignments()
    assert answer.status_code == 401
    if how != "missing":
        assert answer.json()["detail"] == LINK_GONE


def test_a_new_link_replaces_the_old_one(http, integrator, couple_assignments):
    mine = couple_assignments[0]
    issued = integrator.post(f"/v1/assignments/{mine['id']}/new-link")
    assert issued.status_code == 201
    assert PortalClient(http, mine["portal_url"]).assignments().status_code == 401
    assert PortalClient(http, issued.json()["portal_url"]).assignments().status_code == 200


def test_a_submitted_response_with_problems_writes_nothing(http, engine, couple_assignments):
    mine = couple_assignments[0]
    client = PortalClient(http, mine["portal_url"])
    bad = checkin_response(balance_rating=14)
    bad["item"] = [i for i in bad["item"] if i["linkId"] != "safety"]
    answer = client.submit(mine["id"], bad)
    assert answer.status_code == 422
    assert [(e["pointer"], e["code"]) for e in answer.json()["errors"]] == [
        ("#/item/0/answer/0/valueInteger", "out-of-range"),
        ("#/item", "required"),
    ]
    with ClinicSession(engine) as system, across_clinics(system):
        stored = system.exec(
            select(Response.id).where(Response.assignment_id == uuid.UUID(mine["id"]))
        ).all()
        assert stored == []
    assert client.assignments().json()[0]["status"] == "requested"


def test_saving_progress_needs_in_progress_and_submitting_needs_completed(http, couple_assignments):
    mine = couple_assignments[0]
    client = PortalClient(http, mine["portal_url"])
    saved_as_done = client.save(mine["id"], checkin_response(status="completed"))
    assert (saved_as_done.status_code, saved_as_done.json()["errors"][0]["pointer"]) == (
        422,
        "#/status",
    )
    submitted_unfinished = client.submit(mine["id"], checkin_response(status="in-progress"))
    assert submitted_unfinished.status_code == 422


def test_a_completed_assignment_cannot_be_saved_to_or_cancelled(
    http, integrator, couple_assignments
):
    mine = couple_assignments[0]
    client = PortalClient(http, mine["portal_url"])
    assert client.submit(mine["id"], checkin_response()).status_code == 200
    assert client.save(mine["id"], checkin_response(status="in-progress")).status_code == 409
    cancel = integrator.patch(f"/v1/assignments/{mine['id']}", json={"status": "cancelled"})
    assert cancel.status_code == 409


def test_revoking_cuts_the_client_off_from_every_assignment(http, integrator):
    robin = integrator.client("C-7")
    first = integrator.assign("weekly-check-in", client_id=robin["id"])[0]
    second = integrator.assign("balance-assessment", client_id=robin["id"])[0]
    other_link = PortalClient(http, first["portal_url"])
    assert {a["id"] for a in other_link.assignments().json()} == {first["id"], second["id"]}
    revoked = integrator.post(f"/v1/assignments/{second['id']}/revoke-link").json()
    assert revoked == {"assignment_id": second["id"], "revoked": 2}
    assert other_link.questionnaire(second["id"]).status_code == 401
    assert PortalClient(http, second["portal_url"]).assignments().status_code == 401
