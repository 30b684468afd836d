"""The whole walk over HTTP, as an integrator and two clients would do it, for both built-in
instruments, for a couple and for a single client."""

from __future__ import annotations

import pytest

from tests.api.http import Integrator, PortalClient, access_token, new_clinic
from tests.assessments.builders import STATEMENTS, balance_response, checkin_response


def completed(instrument: str, level: int) -> dict:
    if instrument == "balance-assessment":
        return balance_response({lid: level for lid in STATEMENTS}, gap_now=3, gap_wanted=5)
    return checkin_response(balance_rating=2 * level, safety=False)


def expected_first_score(instrument: str, level: int) -> tuple[str, float]:
    # balance: closeness keyed with items 5 and 6 reversed: (4 x level + 2 x (6 - level)) / 6
    # rescaled: ((4L + 12 - 2L) / 6 - 1) / 4 x 100; L=4 -> 58.3, L=2 -> 41.7
    # check-in: balance rating = 2 x level
    if instrument == "balance-assessment":
        return "closeness", {4: 58.3, 2: 41.7}[level]
    return "balance-rating", float(2 * level)


@pytest.mark.parametrize("instrument", ["balance-assessment", "weekly-check-in"])
@pytest.mark.parametrize("recipients", ["couple", "single"])
def test_the_whole_walk(http, integrator, instrument, recipients):
    # Clients by the practice system's identifiers; the same identifier again finds, not duplicates.
    robin = integrator.client("C-1", name="Robin")
    again = integrator.post(
        "/v1/clients", json={"identifier": {"system": "https://pm.example/clients", "value": "C-1"}}
    )
    assert (again.status_code, again.json()["id"]) == (200, robin["id"])
    found = integrator.get(
        "/v1/clients", params={"identifier": "https://pm.example/clients|C-1"}
    ).json()
    assert [c["id"] for c in found["items"]] == [robin["id"]]
    assert integrator.get(f"/v1/clients/{robin['id']}").json()["name"] == "Robin"

    if recipients == "couple":
        sam = integrator.client("C-2", name="Sam")
        couple = integrator.couple(robin["id"], sam["id"])
        assert couple["members"] == [robin["id"], sam["id"]]
        made = integrator.assign(instrument, couple_id=couple["id"], due="2026-12-01")
        partners = [robin, sam]
    else:
        made = integrator.assign(instrument, client_id=robin["id"])
        partners = [robin]

    # One assignment per client, each with its own link.
    assert [a["client_id"] for a in made] == [p["id"] for p in partners]
    assert all(
        a["status"] == "requested" and a["portal_url"].startswith("http://127.0.0.1:8000/portal/")
        for a in made
    )
    assert len({a["portal_url"] for a in made}) == len(made)

    for level, assignment in zip((4, 2), made, strict=False):
        client = PortalClient(http, assignment["portal_url"])
        mine = client.assignments().json()
        assert [a["id"] for a in mine] == [assignment["id"]]
        page = client.questionnaire(assignment["id"]).json()
        assert page["questionnaire"]["url"] == assignment["instrument"]["url"]
        assert page["saved_response"] is None

        # Save part of the answers, come back later, find them, finish.
        partial = completed(instrument, level) | {"status": "in-progress"}
        partial["item"] = partial["item"][:1]
        saved = client.save(assignment["id"], partial)
        assert saved.status_code == 200, saved.text
        resumed = client.questionnaire(assignment["id"]).json()["saved_response"]
        assert resumed["item"] == partial["item"]

        submitted = client.submit(assignment["id"], completed(instrument, level))
        assert submitted.status_code == 200, submitted.text
        assert submitted.json()["status"] == "completed"
        assert client.submit(assignment["id"], completed(instrument, level)).status_code == 409
        assert client.assignments().json() == []

    # The practice system reads back what changed, then the scores.
    done = integrator.get("/v1/assignments", params={"status": "completed"}).json()
    assert {a["id"] for a in done["items"]} == {a["id"] for a in made}
    for level, assignment in zip((4, 2), made, strict=False):
        read = integrator.get(f"/v1/assignments/{assignment['id']}").json()
        assert read["status"] == "completed" and read["response_id"]
        response = integrator.get(f"/v1/responses/{read['response_id']}").json()
        assert response["client_id"] == assignment["client_id"]
        assert response["questionnaire_response"]["status"] == "completed"
        scale, value = expected_first_score(instrument, level)
        assert response["scores"][0]["scale"] == scale and response["scores"][0]["value"] == value
        series = integrator.get(
            f"/v1/clients/{assignment['client_id']}/results", params={"instrument": instrument}
        ).json()
        assert [p["response_id"] for p in series["points"]] == [read["response_id"]]


def test_a_read_response_is_exactly_the_documented_shape_around_the_stored_document(
    http, engine, integrator
):
    """`GET /v1/responses/{id}` sends the stored QuestionnaireResponse as the database keeps
    it, inside a `ResponsePublic` envelope written straight from the row: the body must be
    what the model itself would write, field for field, and the document what was
    submitted. A check-in with the safety item answered yes carries its private flag."""
    from schemas.response import ResponsePublic

    robin = integrator.client("C-9", name="Robin")
    (assignment,) = integrator.assign("balance-assessment", client_id=robin["id"])
    document = completed("balance-assessment", 4)
    # Text the encoder must carry through unchanged: non-ASCII, quotes, an escape.
    document["item"][0]["text"] = 'Nähe \u2013 "wir" \\ zusammen \u2713'
    client = PortalClient(http, assignment["portal_url"])
    assert client.submit(assignment["id"], document).status_code == 200
    response_id = integrator.get(f"/v1/assignments/{assignment['id']}").json()["response_id"]

    answer = integrator.get(f"/v1/responses/{response_id}")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    model = ResponsePublic.model_validate_json(answer.content)
    assert body == model.model_dump(mode="json")  # no field more, none fewer, same spellings
    stored = body["questionnaire_response"]
    assert stored["item"] == document["item"]
    assert stored["id"] == response_id and stored["subject"] == {
        "reference": f"Patient/{robin['id']}"
    }
    assert body["authored"].endswith("Z")  # pydantic's spelling of UTC, as every other route
    # Written straight from the row: numbers as the model's floats (PostgreSQL's JSON may
    # spell 2.0 as 2, which compares equal above).
    assert all(
        isinstance(score[name], float)
        for score in body["scores"]
        for name in ("value", "min", "max")
        if score[name] is not None
    )
    assert any(score["value"] is not None for score in body["scores"])
    # The six balance scales, in the scoring spec's order, each in ScorePublic's shape.
    assert body["scores"][0]["scale"] == "closeness" and len(body["scores"]) == 6
    assert integrator.get(f"/v1/responses/{robin['id']}").status_code == 404
    # A flag: `private` a boolean, as the model's (1 would compare equal to True above).
    (check_in,) = integrator.assign("weekly-check-in", client_id=robin["id"])
    answered = PortalClient(http, check_in["portal_url"]).submit(
        check_in["id"], checkin_response(safety=True)
    )
    assert answered.status_code == 200, answered.text
    flagged = integrator.get(f"/v1/responses/{answered.json()['response_id']}")
    flags = flagged.json()["flags"]
    assert flagged.json() == ResponsePublic.model_validate_json(flagged.content).model_dump(
        mode="json"
    )
    assert flags and all(flag["private"] is True for flag in flags)
    # The route opens its own connection: tenancy and the token still hold.
    theirs = Integrator(http, access_token(http, new_clinic(engine, "Other Practice")))
    assert theirs.get(f"/v1/responses/{response_id}").status_code == 404
    assert http.get(f"/v1/responses/{response_id}").status_code == 401


def test_a_page_of_assignments_is_exactly_the_documented_shape(http, integrator):
    """`GET /v1/assignments` writes its page straight from the rows: the body must be what
    `AssignmentPage` itself would write, field for field, for every kind of row."""
    from schemas.assignment import AssignmentPage

    robin = integrator.client("C-31", name="Robin")
    sam = integrator.client("C-32", name="Sam")
    couple = integrator.couple(robin["id"], sam["id"])
    for_couple = integrator.assign("weekly-check-in", couple_id=couple["id"], due="2026-12-24")
    (single,) = integrator.assign("balance-assessment", client_id=robin["id"])
    noted = integrator.post(
        "/v1/assignments", json={"instrument": "weekly-check-in", "client_id": sam["id"],
                                 "note": "Zeit f\u00fcr uns \u2013 \"bitte\""},
    )  # fmt: skip
    assert noted.status_code == 201
    client = PortalClient(http, single["portal_url"])
    assert client.submit(single["id"], completed("balance-assessment", 4)).status_code == 200

    answer = integrator.get("/v1/assignments", params={"client_id": robin["id"], "limit": 2})
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert body == AssignmentPage.model_validate_json(answer.content).model_dump(mode="json")
    assert [a["id"] for a in body["items"]] == [for_couple[0]["id"], single["id"]]
    first, second = body["items"]
    assert first["couple_id"] == couple["id"] and first["due"] == "2026-12-24"
    assert first["response_id"] is None and first["portal_url"] is None
    assert second["status"] == "completed" and second["response_id"]
    assert second["updated_at"].endswith("Z") and body["has_more"] is False

    everyone = integrator.get("/v1/assignments", params={"limit": 200})
    page = everyone.json()
    assert page == AssignmentPage.model_validate_json(everyone.content).model_dump(mode="json")
    assert {a["note"] for a in page["items"]} >= {'Zeit f\u00fcr uns \u2013 "bitte"'}
