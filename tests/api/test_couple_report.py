"""GET /v1/couples/{id}/report over HTTP: the balance side by side, patterns, check-ins,
and private answers only in this, the counsellor's view."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from fastapi.testclient import TestClient

from api.app import create_app
from tests.api.http import Integrator, PortalClient, access_token
from tests.assessments.builders import STATEMENTS, balance_response, checkin_response


def submit(http, assignment, response) -> str:
    answer = PortalClient(http, assignment["portal_url"]).submit(assignment["id"], response)
    assert answer.status_code == 200, answer.text
    return answer.json()["response_id"]


def test_the_report_sets_the_partners_side_by_side(http, integrator):
    robin, sam = integrator.client("C-1"), integrator.client("C-2")
    couple = integrator.couple(robin["id"], sam["id"])
    balance = {
        a["client_id"]: a for a in integrator.assign("balance-assessment", couple_id=couple["id"])
    }
    # closeness: ((4L + 2(6 - L)) / 6 - 1) / 4 x 100: L=5 -> 66.7 (Robin), L=2 -> 41.7 (Sam): 25 apart
    robin_response = submit(http, balance[robin["id"]],
                            balance_response({lid: 5 for lid in STATEMENTS}, gap_now=3, gap_wanted=5))  # fmt: skip
    submit(
        http,
        balance[sam["id"]],
        balance_response({lid: 2 for lid in STATEMENTS}, gap_now=3, gap_wanted=5),
    )

    check_ins = {
        a["client_id"]: a for a in integrator.assign("weekly-check-in", couple_id=couple["id"])
    }
    submit(http, check_ins[robin["id"]], checkin_response(balance_rating=7, ritual_kept=True,
                                                          need="an evening to myself", safety=False))  # fmt: skip
    submit(
        http,
        check_ins[sam["id"]],
        checkin_response(balance_rating=3, ritual_kept=False, safety=True),
    )

    answer = integrator.get(f"/v1/couples/{couple['id']}/report")
    assert answer.status_code == 200, answer.text
    report = answer.json()

    partners = report["balance"]["partners"]
    assert [p["client_id"] for p in partners] == [robin["id"], sam["id"]]
    assert partners[0]["response_id"] == robin_response
    closeness = next(s for s in report["balance"]["scales"] if s["scale"] == "closeness")
    assert (closeness["first"]["value"], closeness["second"]["value"]) == (66.7, 41.7)
    assert (closeness["difference"], closeness["threshold"], closeness["partners_differ"]) == (
        25.0,
        15.0,
        True,
    )
    assert {"scale": "closeness", "difference": 25.0} in [
        p["evidence"] for p in report["balance"]["patterns"] if p["code"] == "partners-differ"
    ]

    robin_week, sam_week = report["check_ins"]["partners"]
    assert report["check_ins"]["weeks"] == 8
    assert (robin_week["responses"], robin_week["mean_balance_rating"]) == (1, 7.0)
    assert (robin_week["rituals_kept"], robin_week["rituals_reported"]) == (1, 1)
    assert (sam_week["rituals_kept"], sam_week["rituals_reported"]) == (0, 1)
    # the counsellor sees the private need text and the private safety flag
    assert [a["text"] for a in robin_week["private_answers"]] == ["an evening to myself"]
    assert [(f["code"], f["private"]) for f in sam_week["flags"]] == [("safety", True)]
    assert robin_week["flags"] == [] and sam_week["private_answers"] == []


def test_missed_check_ins_count_only_those_due_in_the_window(http, integrator):
    robin, sam = integrator.client("C-1"), integrator.client("C-2")
    couple = integrator.couple(robin["id"], sam["id"])
    today = datetime.now(UTC).date()  # the report counts days in UTC
    for days_ago in (3, 10, 70):  # the last is outside 8 weeks
        due = (today - timedelta(days=days_ago)).isoformat()
        made = integrator.post("/v1/assignments", json={"instrument": "weekly-check-in",
                                                        "client_id": robin["id"], "due": due})  # fmt: skip
        assert made.status_code == 201, made.text
    report = integrator.get(f"/v1/couples/{couple['id']}/report").json()
    robin_week, sam_week = report["check_ins"]["partners"]
    assert (robin_week["weeks_missed"], sam_week["weeks_missed"]) == (2, 0)
    assert robin_week["trend"] is None and robin_week["mean_balance_rating"] is None


def test_the_report_of_another_clinics_couple_is_not_found(integrator):
    missing = integrator.get("/v1/couples/00000000-0000-4000-8000-000000000000/report")
    assert missing.status_code == 404
    robin, sam = integrator.client("C-1"), integrator.client("C-2")
    couple = integrator.couple(robin["id"], sam["id"])
    assert (
        integrator.get(f"/v1/couples/{couple['id']}/report", params={"weeks": 0}).status_code == 422
    )


def test_the_clinic_sets_when_partners_differ(http, settings, credentials):
    """TANDEM_PARTNERS_DIFFER_SHARE=0.3: closeness 66.7 against 41.7 is 25 apart, under 30
    (0.3 x 100), so the partners no longer differ on it (at the default 15 they do)."""
    loose = settings.model_copy(update={"partners_differ_share": Decimal("0.3")})
    with TestClient(create_app(loose)) as other:
        integrator = Integrator(other, access_token(other, credentials))
        robin, sam = integrator.client("C-1"), integrator.client("C-2")
        couple = integrator.couple(robin["id"], sam["id"])
        balance = {a["client_id"]: a
                   for a in integrator.assign("balance-assessment", couple_id=couple["id"])}  # fmt: skip
        submit(other, balance[robin["id"]], balance_response({lid: 5 for lid in STATEMENTS}))
        submit(other, balance[sam["id"]], balance_response({lid: 2 for lid in STATEMENTS}))
        report = integrator.get(f"/v1/couples/{couple['id']}/report").json()
    closeness = next(s for s in report["balance"]["scales"] if s["scale"] == "closeness")
    assert (closeness["difference"], closeness["threshold"]) == (25.0, 30.0)
    assert closeness["partners_differ"] is False
