"""GET /v1/clients/{id}/trends: each scale over time with reliable change, over HTTP."""

from __future__ import annotations

from tests.api.http import PortalClient
from tests.assessments.builders import STATEMENTS, balance_response


def complete_balance(http, integrator, client_id: str, level: int) -> str:
    assignment = integrator.assign("balance-assessment", client_id=client_id)[0]
    portal = PortalClient(http, assignment["portal_url"])
    answers = balance_response({lid: level for lid in STATEMENTS}, gap_now=3, gap_wanted=5)
    submitted = portal.submit(assignment["id"], answers)
    assert submitted.status_code == 200, submitted.text
    return submitted.json()["response_id"]


def test_trends_show_each_scale_over_time_and_say_why_change_is_not_computable(http, integrator):
    robin = integrator.client("C-1")
    first = complete_balance(http, integrator, robin["id"], 2)
    second = complete_balance(http, integrator, robin["id"], 4)
    third = complete_balance(http, integrator, robin["id"], 5)

    answer = integrator.get(
        f"/v1/clients/{robin['id']}/trends", params={"instrument": "balance-assessment"}
    )
    assert answer.status_code == 200, answer.text
    trends = {s["scale"]: s for s in answer.json()["scales"]}
    assert list(trends) == [
        "closeness", "autonomy", "enmeshment", "detachment", "closeness-gap", "balance-position",
    ]  # fmt: skip
    closeness = trends["closeness"]
    # closeness: ((4L + 2(6 - L)) / 6 - 1) / 4 x 100, so L=2: 41.7, L=4: 58.3, L=5: 66.7
    assert [p["response_id"] for p in closeness["points"]] == [first, second, third]
    assert [p["value"] for p in closeness["points"]] == [41.7, 58.3, 66.7]
    assert closeness["direction"] == "higher-is-better"
    first_to_latest = closeness["first_to_latest"]
    assert (first_to_latest["before"], first_to_latest["after"]) == (41.7, 66.7)
    assert first_to_latest["difference"] == 25.0
    assert (first_to_latest["rci"], first_to_latest["classification"]) == (None, "not-computable")
    assert "no published standard deviation" in first_to_latest["reason"]
    assert (closeness["previous_to_latest"]["before"], closeness["previous_to_latest"]["after"]) == (
        58.3, 66.7,
    )  # fmt: skip


def test_one_response_has_no_change_yet(http, integrator):
    robin = integrator.client("C-1")
    complete_balance(http, integrator, robin["id"], 3)
    trends = integrator.get(
        f"/v1/clients/{robin['id']}/trends", params={"instrument": "balance-assessment"}
    ).json()
    assert all(len(s["points"]) == 1 for s in trends["scales"])
    assert all(
        s["first_to_latest"] is None and s["previous_to_latest"] is None for s in trends["scales"]
    )


def test_trends_of_an_unknown_client_or_instrument_are_not_found(integrator):
    robin = integrator.client("C-1")
    missing = integrator.get(
        "/v1/clients/00000000-0000-4000-8000-000000000000/trends",
        params={"instrument": "balance-assessment"},
    )
    assert missing.status_code == 404
    unknown = integrator.get(f"/v1/clients/{robin['id']}/trends", params={"instrument": "phq-9"})
    assert unknown.status_code == 404
