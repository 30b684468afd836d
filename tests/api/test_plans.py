"""Plans over HTTP, the whole path: two partners assessed -> report -> draft -> edit ->
approve -> homework in each partner's portal -> logs -> adherence -> re-assessment ->
change shown; then a second version, and the privacy of each partner's log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fhir.resources.R4B.careplan import CarePlan

from tests.api.http import PortalClient
from tests.api.test_hardening import run_together
from tests.assessments.builders import STATEMENTS, balance_response


def leaning(detached: int, enmeshed: int, rest: int = 4) -> dict[str, int]:
    """Balance answers: detachment items at `detached`, enmeshment items at `enmeshed`
    (reverse-keyed items mirrored so every item scores the same), the rest at `rest`."""
    answers = {}
    for link_id in STATEMENTS:
        scale = link_id.rsplit("-", 1)[0]
        level = {"detachment": detached, "enmeshment": enmeshed}.get(scale, rest)
        reverse = link_id in ("detachment-6", "enmeshment-5", "closeness-5", "closeness-6",
                              "autonomy-5", "autonomy-6")  # fmt: skip
        answers[link_id] = 6 - level if reverse else level
    return answers


def submit(http, assignment, response) -> str:
    answer = PortalClient(http, assignment["portal_url"]).submit(assignment["id"], response)
    assert answer.status_code == 200, answer.text
    return answer.json()["response_id"]


@pytest.fixture
def couple(http, integrator):
    """Robin detached-leaning (detachment 100, enmeshment 0), Sam enmeshed-leaning (the
    reverse): mean of items all 5 -> (5 - 1) / 4 x 100 = 100; all 1 -> 0."""
    robin, sam = integrator.client("C-1"), integrator.client("C-2")
    couple = integrator.couple(robin["id"], sam["id"])
    balance = {
        a["client_id"]: a for a in integrator.assign("balance-assessment", couple_id=couple["id"])
    }
    baseline = {
        robin["id"]: submit(http, balance[robin["id"]], balance_response(leaning(5, 1))),
        sam["id"]: submit(http, balance[sam["id"]], balance_response(leaning(1, 5))),
    }
    return {"id": couple["id"], "robin": robin["id"], "sam": sam["id"], "baseline": baseline}


def draft(integrator, couple, **body):
    answer = integrator.post(f"/v1/couples/{couple['id']}/plans/draft", json=body or None)
    assert answer.status_code == 201, answer.text
    return answer


def test_the_whole_path_from_assessment_to_change(http, integrator, couple):
    robin, sam = couple["robin"], couple["sam"]
    today = datetime.now(UTC).date()
    report = integrator.get(f"/v1/couples/{couple['id']}/report").json()
    assert "pursue-withdraw" in [p["code"] for p in report["balance"]["patterns"]]

    # the draft: activities with their reasons, goals with their target bands
    drafted = draft(integrator, couple)
    plan = drafted.json()
    assert (plan["version"], plan["status"], plan["start"]) == (1, "draft", today.isoformat())
    assert plan["end"] == (today + timedelta(weeks=6, days=-1)).isoformat()
    assert plan["activities"] and all(a["reasons"] for a in plan["activities"])
    reasons = {a["activity_id"]: a["reasons"] for a in plan["activities"]}
    assert reasons["name-the-intent"][0] == "pattern: pursue-withdraw"
    assert "first partner: detachment 100 is many-signs (>= 60)" in reasons["micro-commitments"]
    goals = {(g["client_id"], g["scale"]): g for g in plan["goals"]}
    assert goals[(robin, "detachment")]["target_band"] == "few-signs"
    assert goals[(sam, "enmeshment")]["target_band"] == "few-signs"
    assert plan["review"] is None  # nothing approved yet
    assert integrator.get("/v1/assignments", params={"couple_id": couple["id"],
                                                     "status": "requested"}).json()["items"] == []  # fmt: skip

    # the counsellor's edit: two weeks, two activities of their choosing
    tag = drafted.headers["ETag"]
    end = today + timedelta(days=13)
    edit = {
        "end": end.isoformat(),
        "remove": [a["activity_id"] for a in plan["activities"]],
        "add": [
            {"activity_id": "daily-touchpoint", "note": "after dinner"},
            {"activity_id": "scheduled-solo-time", "partners": [robin]},
        ],
    }
    edited = integrator.patch(f"/v1/plans/{plan['id']}", json=edit, headers={"If-Match": tag})
    assert edited.status_code == 200, edited.text
    assert edited.headers["ETag"] != tag
    assert [
        (a["activity_id"], a["partners"], a["cadence"]) for a in edited.json()["activities"]
    ] == [
        ("daily-touchpoint", [robin, sam], "daily"),
        ("scheduled-solo-time", [robin], "weekly"),
    ]
    # a stale ETag changes nothing
    stale = integrator.patch(
        f"/v1/plans/{plan['id']}", json={"note": "late"}, headers={"If-Match": tag}
    )
    assert stale.status_code == 412
    assert integrator.get(f"/v1/plans/{plan['id']}").json()["note"] is None

    # approval: homework on its cadence, the review, one link per partner
    approved = integrator.post(
        f"/v1/plans/{plan['id']}/approve", headers={"If-Match": edited.headers["ETag"]}
    )
    assert approved.status_code == 200, approved.text
    body = approved.json()
    # daily-touchpoint: 14 days x 2 partners = 28; solo time weekly (today, today + 7) for
    # Robin = 2; the review on the last day, a balance assessment each = 2; 28 + 2 + 2 = 32
    assert body["assignments_made"] == 32
    assert body["status"] == "active"
    links = {link["client_id"]: link["portal_url"] for link in body["portal_links"]}
    robin_portal, sam_portal = PortalClient(http, links[robin]), PortalClient(http, links[sam])
    robin_list, sam_list = robin_portal.assignments().json(), sam_portal.assignments().json()
    assert len(robin_list) == 14 + 2 + 1 and len(sam_list) == 14 + 1
    touch = next(a for a in robin_list if a["homework"] and a["due"] == today.isoformat()
                 and a["homework"]["activity_id"] == "daily-touchpoint")  # fmt: skip
    assert touch["title"] == touch["homework"]["title"] == "A small daily ritual together"
    assert touch["homework"]["note"] == "after dinner"
    assert "scheduled-solo-time" not in [a["homework"] and a["homework"]["activity_id"]
                                         for a in sam_list]  # fmt: skip
    sam_touch = next(a for a in sam_list if a["homework"] and a["due"] == today.isoformat())

    # logs: Robin did it (15 minutes, with a private reflection); Sam did not
    logged = robin_portal.http.post(
        f"/portal/api/assignments/{touch['id']}/log",
        json={"done": True, "minutes": 15, "reflection": "I felt guarded at first"},
        headers=robin_portal.headers,
    )
    assert logged.status_code == 200, logged.text
    not_done = sam_portal.http.post(
        f"/portal/api/assignments/{sam_touch['id']}/log",
        json={"done": False},
        headers=sam_portal.headers,
    )
    assert not_done.status_code == 200, not_done.text
    again = robin_portal.http.post(
        f"/portal/api/assignments/{touch['id']}/log",
        json={"done": True},
        headers=robin_portal.headers,
    )
    assert again.status_code == 409

    # adherence: due so far is today's touchpoint (and Robin's solo time, due today)
    read = integrator.get(f"/v1/plans/{plan['id']}").json()
    adherence = {(a["activity_id"], p["client_id"]): p for a in read["activities"]
                 for p in a["adherence"]}  # fmt: skip
    assert [adherence[("daily-touchpoint", robin)][k] for k in ("expected", "logged", "done", "rate", "upcoming")] == [1, 1, 1, 1.0, 13]  # fmt: skip
    assert [adherence[("daily-touchpoint", sam)][k] for k in ("expected", "logged", "done", "rate")] == [1, 1, 0, 0.0]  # fmt: skip
    assert [adherence[("scheduled-solo-time", robin)][k] for k in ("expected", "logged", "rate", "upcoming")] == [1, 0, 0.0, 1]  # fmt: skip

    # the counsellor reads the log with its reflection
    counsellor = integrator.get(f"/v1/responses/{logged.json()['response_id']}").json()
    assert [s["value"] for s in counsellor["scores"] if s["scale"] in ("done", "minutes")] == [
        1,
        15,
    ]
    assert "I felt guarded at first" in str(counsellor["questionnaire_response"])

    # the re-assessment (done early): Robin's detachment falls from 100 to 50
    review = {
        who: next(a for a in listed if a["instrument"]["slug"] == "balance-assessment")
        for who, listed in ((robin, robin_list), (sam, sam_list))
    }
    assert review[robin]["due"] == review[sam]["due"] == end.isoformat()
    reassessed = robin_portal.submit(review[robin]["id"], balance_response(leaning(3, 1)))
    assert reassessed.status_code == 200, reassessed.text
    read = integrator.get(f"/v1/plans/{plan['id']}").json()
    assert read["review"]["baseline"] == couple["baseline"]
    assert read["review"]["latest"] == {robin: reassessed.json()["response_id"], sam: None}
    detachment = next(c for c in read["review"]["changes"] if c["scale"] == "detachment")
    # before: items all 5 -> 100; after: all 3 -> (3 - 1) / 4 x 100 = 50; 50 - 100 = -50
    assert (detachment["client_id"], detachment["before"], detachment["after"]) == (robin, 100, 50)
    assert detachment["difference"] == -50
    # the shipped spec has no SD and r for detachment: said, not invented
    assert (detachment["rci"], detachment["classification"]) == (None, "not-computable")


def test_an_edit_after_approval_is_a_new_version_and_its_approval_supersedes(
    http, integrator, couple
):
    today = datetime.now(UTC).date()
    plan = draft(integrator, couple).json()
    keep = plan["activities"][0]["activity_id"]
    integrator.patch(
        f"/v1/plans/{plan['id']}",
        json={"remove": [a["activity_id"] for a in plan["activities"][1:]],
              "change": [{"activity_id": keep, "cadence": "daily"}],
              "end": (today + timedelta(days=6)).isoformat()},
    )  # fmt: skip
    first = integrator.post(f"/v1/plans/{plan['id']}/approve").json()
    assert first["assignments_made"] == 7 * 2 + 2  # daily for a week, both; the review

    second = integrator.patch(
        f"/v1/plans/{plan['id']}", json={"change": [{"activity_id": keep, "cadence": "once"}]}
    )
    assert second.status_code == 200, second.text
    assert (second.json()["version"], second.json()["status"]) == (2, "draft")
    # version 1 is still the active one, unchanged
    old = integrator.get(f"/v1/plans/{plan['id']}/versions/1").json()
    assert (old["status"], old["activities"][0]["cadence"]) == ("active", "daily")
    assert [v["status"] for v in second.json()["versions"]] == ["active", "draft"]
    assert integrator.post(f"/v1/plans/{plan['id']}/approve").status_code == 200

    assert integrator.get(f"/v1/plans/{plan['id']}/versions/1").json()["status"] == "superseded"
    # version 1's open homework and review are cancelled; version 2's: once, today, both
    open_homework = integrator.get("/v1/assignments", params={"couple_id": couple["id"],
                                                              "status": "requested"}).json()["items"]  # fmt: skip
    slugs = sorted(a["instrument"]["slug"] for a in open_homework)
    assert slugs == ["balance-assessment"] * 2 + ["homework-log"] * 2
    assert {a["due"] for a in open_homework if a["instrument"]["slug"] == "homework-log"} == {
        today.isoformat()
    }
    cancelled = integrator.get("/v1/assignments", params={"couple_id": couple["id"],
                                                          "status": "cancelled"}).json()["items"]  # fmt: skip
    assert len(cancelled) == 7 * 2 + 2
    assert integrator.post(f"/v1/plans/{plan['id']}/approve").status_code == 409


def test_a_partners_log_and_reflection_never_reach_the_other(http, integrator, couple):
    plan = draft(integrator, couple).json()
    integrator.patch(
        f"/v1/plans/{plan['id']}",
        json={"remove": [a["activity_id"] for a in plan["activities"]],
              "add": [{"activity_id": "daily-touchpoint"}]},
    )  # fmt: skip
    links = {
        link["client_id"]: link["portal_url"]
        for link in integrator.post(f"/v1/plans/{plan['id']}/approve").json()["portal_links"]
    }
    robin = PortalClient(http, links[couple["robin"]])
    sam = PortalClient(http, links[couple["sam"]])
    mine = next(a for a in robin.assignments().json() if a["homework"])
    secret = "I keep thinking about leaving"
    assert robin.http.post(f"/portal/api/assignments/{mine['id']}/log",
                           json={"done": True, "reflection": secret},
                           headers=robin.headers).status_code == 200  # fmt: skip
    # Sam cannot open, read or log Robin's homework
    assert sam.questionnaire(mine["id"]).status_code == 404
    assert sam.http.post(f"/portal/api/assignments/{mine['id']}/log", json={"done": True},
                         headers=sam.headers).status_code == 404  # fmt: skip
    for theirs in sam.assignments().json():
        assert secret not in sam.questionnaire(theirs["id"]).text
    assert secret not in sam.assignments().text


def test_bad_plan_input_names_what_is_wrong_and_changes_nothing(integrator, couple):
    plan = draft(integrator, couple).json()
    before = integrator.get(f"/v1/plans/{plan['id']}").json()
    wrong = integrator.patch(
        f"/v1/plans/{plan['id']}",
        json={
            "remove": ["no-such-activity"],
            "add": [{"activity_id": "made-up"}],
            "end": "2000-01-01",
        },
    )
    assert wrong.status_code == 422, wrong.text
    assert sorted(e["pointer"] for e in wrong.json()["errors"]) == [
        "#/add/0/activity_id",  # no such activity in the library
        "#/end",  # before the start
        "#/remove/0",  # not in the plan
    ]
    together = integrator.patch(
        f"/v1/plans/{plan['id']}",
        json={"add": [{"activity_id": "weekly-date", "partners": [couple["robin"]]}]},
    )
    assert together.status_code == 422, together.text
    assert [e["pointer"] for e in together.json()["errors"]] == [
        "#/activities/weekly-date/partners"  # done together: homework for both
    ]
    assert integrator.get(f"/v1/plans/{plan['id']}").json() == before
    assert integrator.patch(f"/v1/plans/{plan['id']}", json={}).status_code == 422
    assert integrator.get("/v1/plans/00000000-0000-4000-8000-000000000000").status_code == 404


def test_no_draft_without_a_balance_assessment(integrator):
    robin, sam = integrator.client("C-1"), integrator.client("C-2")
    couple = integrator.couple(robin["id"], sam["id"])
    answer = integrator.post(f"/v1/couples/{couple['id']}/plans/draft")
    assert answer.status_code == 409
    assert "balance assessment" in answer.json()["detail"]


def test_homework_cannot_be_logged_on_a_questionnaire(http, integrator):
    robin = integrator.client("C-1")
    [assignment] = integrator.assign("weekly-check-in", client_id=robin["id"])
    portal = PortalClient(http, assignment["portal_url"])
    answer = portal.http.post(f"/portal/api/assignments/{assignment['id']}/log",
                              json={"done": True}, headers=portal.headers)  # fmt: skip
    assert answer.status_code == 409


def test_a_plans_days_are_its_time_zones_days(integrator, couple):
    # Kiritimati is UTC+14 and Niue UTC-11: at most hours apart from UTC, days apart locally
    for zone in ("Pacific/Kiritimati", "Pacific/Niue"):
        plan = draft(integrator, couple, time_zone=zone).json()
        assert (plan["time_zone"], plan["start"]) == (
            zone,
            datetime.now(ZoneInfo(zone)).date().isoformat(),
        )
    wrong = integrator.post(
        f"/v1/couples/{couple['id']}/plans/draft", json={"time_zone": "Mars/Olympus"}
    )
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["pointer"] == "#/time_zone"


def test_a_plan_reads_as_a_valid_fhir_careplan(http, integrator, couple):
    plan = draft(integrator, couple).json()
    proposal = integrator.get(f"/v1/plans/{plan['id']}/careplan")
    assert proposal.status_code == 200, proposal.text
    assert proposal.headers["content-type"].startswith("application/fhir+json")
    resource = proposal.json()
    CarePlan.model_validate(resource)  # valid R4 (fhir.resources R4B models R4's CarePlan)
    assert (resource["status"], resource["intent"], resource["meta"]["versionId"]) == (
        "draft",
        "proposal",
        "1",
    )
    assert resource["subject"] == {"reference": f"Group/{couple['id']}"}
    goals = {g["id"]: g for g in resource["contained"]}
    assert len(goals) == len(plan["goals"])
    first = resource["activity"][0]["detail"]
    assert first["code"]["coding"][0]["code"] == plan["activities"][0]["activity_id"]
    assert [r["text"] for r in first["reasonCode"]] == plan["activities"][0]["reasons"]
    assert {p["reference"] for p in first["performer"]} == {
        f"Patient/{p}" for p in plan["activities"][0]["partners"]
    }
    assert all(g["reference"].lstrip("#") in goals for g in first.get("goal", []))

    integrator.patch(
        f"/v1/plans/{plan['id']}",
        json={"remove": [a["activity_id"] for a in plan["activities"]],
              "add": [{"activity_id": "daily-touchpoint"}]},
    )  # fmt: skip
    integrator.post(f"/v1/plans/{plan['id']}/approve")
    active = integrator.get(f"/v1/plans/{plan['id']}/careplan").json()
    assert (active["status"], active["intent"]) == ("active", "plan")
    [touchpoint] = active["activity"]
    assert touchpoint["detail"]["scheduledTiming"]["repeat"]["periodUnit"] == "d"
    # adherence so far, per partner: 6 weeks = 42 daily touchpoints; today's is due (not yet
    # logged), 41 to come
    assert [p["text"].split(": ", 1)[1] for p in touchpoint["progress"]] == [
        "done 0 of 1 due so far (0 logged, 41 to come)"
    ] * 2
    assert (
        integrator.get(f"/v1/plans/{plan['id']}/careplan", params={"version": 2}).status_code == 404
    )


def test_nulls_duplicates_and_dates_out_of_range_are_answered_not_crashed_on(integrator, couple):
    plan = draft(integrator, couple).json()
    first = plan["activities"][0]
    path = f"/v1/plans/{plan['id']}"
    # null for a field that cannot be empty leaves it as it is; null clears the note
    nulls = integrator.patch(path, json={"change": [{"activity_id": first["activity_id"],
                                                     "cadence": None, "partners": None,
                                                     "note": None}]})  # fmt: skip
    assert nulls.status_code == 200, nulls.text
    assert nulls.json()["activities"][0]["cadence"] == first["cadence"]
    twice = integrator.patch(path, json={"add": [{"activity_id": "outside-interest",
                                                  "partners": [couple["robin"]] * 2}]})  # fmt: skip
    assert twice.status_code == 422
    assert twice.json()["errors"][0]["pointer"] == "#/add/0/partners"
    far = integrator.post(f"/v1/couples/{couple['id']}/plans/draft", json={"start": "9999-12-30"})
    assert far.status_code == 422
    assert far.json()["errors"][0]["pointer"] == "#/start"
    assert integrator.patch(path, json={"end": "9999-12-31"}).status_code == 422


def test_two_approvals_at_once_assign_the_homework_once(integrator, couple):
    plan = draft(integrator, couple).json()
    integrator.patch(
        f"/v1/plans/{plan['id']}",
        json={"remove": [a["activity_id"] for a in plan["activities"]],
              "add": [{"activity_id": "boundary-conversation"}]},
    )  # fmt: skip
    answers = run_together(3, lambda n: integrator.post(f"/v1/plans/{plan['id']}/approve"))
    assert sorted(a.status_code for a in answers) == [200, 409, 409], [a.text for a in answers]
    made = integrator.get("/v1/assignments", params={"couple_id": couple["id"],
                                                     "status": "requested"}).json()["items"]  # fmt: skip
    # boundary conversation: once, together -> 2; the review -> 2
    assert len(made) == 4


def test_a_retried_draft_or_approval_with_its_key_replays_the_first_answer(integrator, couple):
    key = {"Idempotency-Key": "draft-1"}
    first = integrator.post(f"/v1/couples/{couple['id']}/plans/draft", headers=key)
    again = integrator.post(f"/v1/couples/{couple['id']}/plans/draft", headers=key)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] == first.json()["id"] and "ETag" in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(integrator.get(f"/v1/couples/{couple['id']}/plans").json()) == 1
    plan = first.json()["id"]
    key = {"Idempotency-Key": "approve-1"}
    approved = integrator.post(f"/v1/plans/{plan}/approve", headers=key)
    replayed = integrator.post(f"/v1/plans/{plan}/approve", headers=key)
    assert approved.status_code == replayed.status_code == 200
    assert replayed.json()["portal_links"] == approved.json()["portal_links"]
