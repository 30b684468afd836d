"""/v1/alerts over HTTP: raised by the rules, stored once, listed by priority, acknowledged."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from api.app import create_app
from api.persistence import ClinicSession, scope_to_clinic
from schemas import Instrument, InstrumentSource
from tests.api.http import Integrator, PortalClient, access_token
from tests.api.test_hardening import run_together
from tests.assessments.builders import CHECK_IN, checkin_response


def days_ago(days: int) -> str:
    return (datetime.now(UTC).date() - timedelta(days=days)).isoformat()


def assign(integrator, instrument, client_id, due=None):
    body = {"instrument": instrument, "client_id": client_id} | ({"due": due} if due else {})
    answer = integrator.post("/v1/assignments", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()["assignments"][0]


def test_a_yes_to_safety_raises_one_alert_as_it_is_saved_and_again_never(http, integrator):
    robin, sam = integrator.client("C-1"), integrator.client("C-2")
    couple = integrator.couple(robin["id"], sam["id"])
    mine = next(
        a
        for a in integrator.assign("weekly-check-in", couple_id=couple["id"])
        if a["client_id"] == robin["id"]
    )
    portal = PortalClient(http, mine["portal_url"])
    saved = portal.save(mine["id"], checkin_response(safety=True, status="in-progress"))
    assert saved.status_code == 200, saved.text
    listed = integrator.get("/v1/alerts", params={"status": "open"}).json()["items"]
    assert [(a["rule"], a["priority"], a["client_id"], a["couple_id"]) for a in listed] == [
        ("safety", 1, robin["id"], couple["id"])
    ]
    assert listed[0]["evidence"] == {"response_id": saved.json()["response_id"], "item": "safety"}
    # submitting the same response, still yes: the same key, so no second alert
    assert portal.submit(mine["id"], checkin_response(safety=True)).status_code == 200
    assert len(integrator.get("/v1/alerts").json()["items"]) == 1


def test_overdue_homework_and_three_missed_check_ins_are_raised_when_listed(integrator):
    robin = integrator.client("C-1")
    overdue = assign(integrator, "balance-assessment", robin["id"], due=days_ago(3))
    assign(integrator, "balance-assessment", robin["id"], due=days_ago(2))  # within the grace
    for ago in (15, 8, 1):  # three weekly check-ins, all missed; the first two also overdue
        assign(integrator, "weekly-check-in", robin["id"], due=days_ago(ago))
    items = integrator.get("/v1/alerts").json()["items"]
    rules = [a["rule"] for a in items]
    assert rules.count("overdue") == 3  # the balance assessment and two check-ins
    assert overdue["id"] in [a["evidence"].get("assignment_id") for a in items]
    assert rules.count("missed-check-ins") == 1
    assert all(a["priority"] == 3 for a in items)
    # listing again raises nothing new
    assert len(integrator.get("/v1/alerts").json()["items"]) == len(items)


def test_acknowledging_records_who_and_when_and_moves_it_out_of_open(integrator, credentials):
    robin = integrator.client("C-1")
    assign(integrator, "balance-assessment", robin["id"], due=days_ago(5))
    alert = integrator.get("/v1/alerts").json()["items"][0]
    done = integrator.post(f"/v1/alerts/{alert['id']}/acknowledge")
    assert done.status_code == 200, done.text
    assert (done.json()["status"], done.json()["acknowledged_by"]) == (
        "acknowledged",
        credentials.client_id,
    )
    again = integrator.post(f"/v1/alerts/{alert['id']}/acknowledge")
    assert again.json()["acknowledged_at"] == done.json()["acknowledged_at"]
    assert integrator.get("/v1/alerts", params={"status": "open"}).json()["items"] == []
    missing = integrator.post("/v1/alerts/00000000-0000-4000-8000-000000000000/acknowledge")
    assert missing.status_code == 404


def test_concurrent_listings_each_answer_and_store_each_alert_once(integrator):
    """Listing writes (the sweep): four at once all answer 200 and store each key once."""
    robin, sam = integrator.client("C-1"), integrator.client("C-2")
    for client in (robin, sam):
        assign(integrator, "balance-assessment", client["id"], due=days_ago(4))
    answers = run_together(4, lambda n: integrator.get("/v1/alerts"))
    assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
    stored = integrator.get("/v1/alerts").json()["items"]
    assert sorted(a["client_id"] for a in stored) == sorted([robin["id"], sam["id"]])
    assert all(len(a.json()["items"]) == 2 for a in answers)


def test_reliable_deterioration_is_raised_as_the_later_response_is_recorded(
    http, engine, integrator, credentials
):
    """A clinic's own copy of the check-in whose spec gives balance-rating SD 2 and r 0.5:
    SE_diff = sqrt(2 x 2^2 x (1 - 0.5)) = 2. From 8 to 3: RCI = (3 - 8) / 2 = -2.5, beyond
    -1.96 on a higher-is-better scale: reliably deteriorated. From 8 to 6: -1.0, not."""
    url = "https://clinic.example/Questionnaire/check-in"
    spec = CHECK_IN.scoring.model_dump(mode="json", exclude_none=True)
    spec["instrument"] |= {"slug": "own-check-in", "url": url}
    rating = next(s for s in spec["scales"] if s["code"] == "balance-rating")
    rating.pop("reliability_note")
    rating["reliability"] = {"sd": "2", "r": "0.5", "source": "this test's own figures"}
    with ClinicSession(engine) as session:
        scope_to_clinic(session, uuid.UUID(credentials.clinic_id))
        session.add(
            Instrument(
                slug="own-check-in",
                url=url,
                version="1.0.0",
                title="Our check-in",
                source=InstrumentSource.IMPORTED,
                questionnaire=CHECK_IN.questionnaire | {"url": url},
                scoring=spec,
            )
        )
        session.commit()
    robin = integrator.client("C-1")

    def check_in(rating: int) -> str:
        [assignment] = integrator.assign("own-check-in", client_id=robin["id"])
        response = checkin_response(balance_rating=rating) | {"questionnaire": f"{url}|1.0.0"}
        answer = PortalClient(http, assignment["portal_url"]).submit(assignment["id"], response)
        assert answer.status_code == 200, answer.text
        return answer.json()["response_id"]

    check_in(8)
    check_in(6)  # from 8: RCI -1.0, no alert
    assert integrator.get("/v1/alerts").json()["items"] == []
    check_in(8)
    worse = check_in(3)  # from 8: RCI -2.5
    [alert] = integrator.get("/v1/alerts").json()["items"]
    assert (alert["rule"], alert["priority"], alert["client_id"]) == (
        "reliable-deterioration",
        2,
        robin["id"],
    )
    assert alert["evidence"] == {
        "response_id": worse,
        "scale": "balance-rating",
        "before": 8.0,
        "after": 3.0,
        "rci": -2.5,
    }


def test_the_clinic_sets_how_many_days_overdue_raise_an_alert(settings, credentials):
    """TANDEM_OVERDUE_AFTER_DAYS=0: homework one day past due alerts (by default, not yet)."""
    strict = settings.model_copy(update={"overdue_after_days": 0})
    with TestClient(create_app(strict)) as http:
        integrator = Integrator(http, access_token(http, credentials))
        robin = integrator.client("C-1")
        assign(integrator, "balance-assessment", robin["id"], due=days_ago(1))
        assert [a["rule"] for a in integrator.get("/v1/alerts").json()["items"]] == ["overdue"]
