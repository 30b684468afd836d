"""The charts over HTTP: the couple's balance map and a scale over time, as SVG and PNG.

Robin's balance assessments: closeness 50 and independence 50 a month ago, then
closeness 100 and independence 25 (enmeshed-leaning: closeness 75 above). Sam's
one: closeness 25, independence 100 (detached-leaning). Each partner's scale is
the mean answer level L on 1-5, rescaled as (L - 1) / 4 x 100.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import pytest

from assessments.balance_map import BalanceMap, Region
from tests.api.http import Integrator, PortalClient, access_token, new_clinic
from tests.assessments.builders import BALANCE, balance_response, checkin_response

SVG = "{http://www.w3.org/2000/svg}"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def levels(closeness: int, autonomy: int, enmeshment: int, detachment: int) -> dict[str, int]:
    """Every statement answered so that each scale's mean answer is its level."""
    wanted = {
        "closeness": closeness,
        "autonomy": autonomy,
        "enmeshment": enmeshment,
        "detachment": detachment,
    }
    answers = {}
    for scale in BALANCE.scoring.scales:
        if scale.code in wanted:
            for item in scale.items:
                level = wanted[scale.code]
                answers[item] = 6 - level if item in scale.reverse else level
    return answers


def complete(http, integrator, client_id: str, answers: dict[str, int], days_ago: int) -> str:
    assignment = integrator.assign("balance-assessment", client_id=client_id)[0]
    response = balance_response(answers, gap_now=4, gap_wanted=4)
    response["authored"] = (datetime.now(UTC) - timedelta(days=days_ago)).isoformat()
    submitted = PortalClient(http, assignment["portal_url"]).submit(assignment["id"], response)
    assert submitted.status_code == 200, submitted.text
    return submitted.json()["response_id"]


@pytest.fixture
def couple(http, integrator):
    robin = integrator.client("C-1", name="Robin")
    sam = integrator.client("C-2")  # no name: the chart calls him Partner 2
    made = integrator.couple(robin["id"], sam["id"])
    complete(http, integrator, robin["id"], levels(3, 3, 2, 2), days_ago=30)
    complete(http, integrator, robin["id"], levels(5, 2, 4, 2), days_ago=2)
    complete(http, integrator, sam["id"], levels(2, 5, 1, 4), days_ago=3)
    return {"id": made["id"], "robin": robin["id"], "sam": sam["id"]}


def parse(svg: bytes) -> ET.Element:
    return ET.fromstring(svg)


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()).strip() for t in root.iter(f"{SVG}text")]


def group(root: ET.Element, gid: str) -> ET.Element | None:
    return next((g for g in root.iter(f"{SVG}g") if g.get("id") == gid), None)


def markers(root: ET.Element, prefix: str) -> int:
    """Markers drawn inside the groups whose id starts with `prefix` (one <use> each)."""
    return sum(
        len(list(g.iter(f"{SVG}use")))
        for g in root.iter(f"{SVG}g")
        if (g.get("id") or "").startswith(prefix)
    )


def test_the_balance_map_places_each_partner_with_words_for_a_screen_reader(integrator, couple):
    answer = integrator.get(f"/v1/couples/{couple['id']}/charts/balance.svg")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("image/svg+xml")
    root = parse(answer.content)

    # the text alternative comes first, and the picture is labelled by it
    title, desc = root[0], root[1]
    assert (title.tag, desc.tag) == (f"{SVG}title", f"{SVG}desc")
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"
    assert "Balance map" in title.text
    assert "Robin on " in desc.text and "closeness 100, independence 25" in desc.text
    assert "in the enmeshed-leaning region" in desc.text
    assert "balance position -50 (enmeshed-leaning)" in desc.text  # detachment 25 - enmeshment 75
    assert "previously on " in desc.text and "closeness 50, independence 50" in desc.text
    assert "Partner 2 on " in desc.text and "closeness 25, independence 100" in desc.text
    assert "in the detached-leaning region" in desc.text

    # one labelled point each; Robin's previous assessment faint, with an arrow to the latest
    words = texts(root)
    assert words.count("Robin") == 1 and words.count("Partner 2") == 1
    assert {"Enmeshed-leaning", "Detached-leaning"} <= set(words)
    assert (markers(root, "partner-1-latest"), markers(root, "partner-2-latest")) == (1, 1)
    assert (markers(root, "partner-1-previous"), markers(root, "partner-2-previous")) == (1, 0)
    assert group(root, "partner-1-arrow") is not None and group(root, "partner-2-arrow") is None
    assert group(root, "region-balanced") is not None


def test_the_same_data_gives_the_same_bytes(integrator, couple):
    paths = [
        f"/v1/couples/{couple['id']}/charts/balance.svg",
        f"/v1/couples/{couple['id']}/charts/balance.png",
        f"/v1/clients/{couple['robin']}/charts/trend.svg?instrument=balance-assessment"
        "&scale=closeness",
    ]
    for path in paths:
        first, second = integrator.get(path), integrator.get(path)
        assert first.status_code == 200, first.text
        assert first.content == second.content, path
    assert b"<dc:date>" not in integrator.get(paths[0]).content  # no time of drawing


def test_the_png_carries_the_same_words_in_its_headers(integrator, couple):
    answer = integrator.get(f"/v1/couples/{couple['id']}/charts/balance.png")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/png"
    assert answer.content.startswith(PNG_SIGNATURE)
    description = unquote(answer.headers["Chart-Description"])
    assert "Robin on " in description and "closeness 100, independence 25" in description
    assert unquote(answer.headers["Chart-Title"]).startswith("Balance map")


def test_a_trend_has_one_marker_per_response_bands_and_check_ins(http, integrator, couple):
    robin = couple["robin"]
    check_in = integrator.assign("weekly-check-in", client_id=robin)[0]
    assert (
        PortalClient(http, check_in["portal_url"])
        .submit(check_in["id"], checkin_response(balance_rating=6))
        .status_code
        == 200
    )

    answer = integrator.get(
        f"/v1/clients/{robin}/charts/trend.svg",
        params={"instrument": "balance-assessment", "scale": "closeness"},
    )
    assert answer.status_code == 200, answer.text
    root = parse(answer.content)
    assert markers(root, "responses-") == 2  # one per balance assessment
    # Tandem's own scales have no published SD and r: no reliable change after the first
    assert markers(root, "responses-baseline") == 1
    assert markers(root, "responses-not-computable") == 1
    assert all(group(root, f"band-{b}") is not None for b in ("unmet", "partly-met", "met"))
    assert group(root, "check-ins") is not None  # the weekly self-rating, a thin line
    desc = root[1].text
    assert desc.startswith("Closeness (need met), 2 response(s): 50 (Closeness need partly met)")
    assert "100 (Closeness need met)" in desc
    assert "reliable change not computable since the one before" in desc
    assert "Weekly check-ins (weekly check-in: balance self-rating (0-10)): 1," in desc
    assert "Robin" in root[0].text

    gap = integrator.get(
        f"/v1/clients/{robin}/charts/trend.svg",
        params={"instrument": "balance-assessment", "scale": "closeness-gap"},
    )
    # the check-in has a closeness gap of its own (-6 to 6 too): drawn on the same axis
    assert (
        "(weekly check-in: closeness gap this week (wanted minus now)): 1,"
        in parse(gap.content)[1].text
    )

    png = integrator.get(
        f"/v1/clients/{robin}/charts/trend.png",
        params={"instrument": "balance-assessment", "scale": "balance-position"},
    )
    assert png.status_code == 200 and png.content.startswith(PNG_SIGNATURE)
    assert "-50 (Enmeshed-leaning)" in unquote(png.headers["Chart-Description"])


def test_an_approved_plan_marks_its_start_on_the_trend(integrator, couple):
    plan = integrator.post(f"/v1/couples/{couple['id']}/plans/draft").json()
    assert integrator.post(f"/v1/plans/{plan['id']}/approve").status_code == 200
    answer = integrator.get(
        f"/v1/clients/{couple['sam']}/charts/trend.svg",
        params={"instrument": "balance-assessment", "scale": "autonomy"},
    )
    root = parse(answer.content)
    assert group(root, "plan-start-1") is not None
    assert f"Plan started {plan['start']}." in root[1].text
    assert "plan starts" in texts(root)
    assert "Partner 2" not in root[0].text  # a client's own chart: no partner number


def test_charts_answer_404_422_and_403_like_the_json_views(http, engine, integrator, couple):
    other = Integrator(http, access_token(http, new_clinic(engine, "Other Clinic")))
    assert other.get(f"/v1/couples/{couple['id']}/charts/balance.svg").status_code == 404
    trend = f"/v1/clients/{couple['robin']}/charts/trend.svg"
    query = {"instrument": "balance-assessment", "scale": "closeness"}
    assert other.get(trend, params=query).status_code == 404
    assert integrator.get(trend, params=query | {"instrument": "phq-9"}).status_code == 404
    unknown = integrator.get(trend, params=query | {"scale": "happiness"})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["parameter"] == "scale"

    credentials = new_clinic(engine, "Narrow Clinic", scope="system/Patient.rs system/Group.rs")
    narrow = Integrator(http, access_token(http, credentials))
    refused = narrow.get(f"/v1/couples/{couple['id']}/charts/balance.svg")
    assert refused.status_code == 403
    assert "system/Observation.s" in refused.json()["detail"]


def test_a_couple_with_no_assessment_yet_still_gets_a_map(integrator):
    couple = integrator.couple(integrator.client("C-8")["id"], integrator.client("C-9")["id"])
    root = parse(integrator.get(f"/v1/couples/{couple['id']}/charts/balance.svg").content)
    assert "Partner 1: no scored balance assessment yet." in root[1].text
    assert markers(root, "partner-") == 0


@pytest.mark.parametrize(
    ("closeness", "autonomy", "region"),
    [
        (70, 70, Region.BALANCED),  # both needs met, at the met band's edge
        (100, 75, Region.BALANCED),  # 25 apart, but both met: not a lean
        (95, 70, Region.BALANCED),
        (69.9, 44.9, Region.ENMESHED_LEANING),  # 25 apart, one step: the balance position's edge
        (69.9, 45, Region.NO_CLEAR_LEAN),  # 24.9 apart
        (25, 100, Region.DETACHED_LEANING),
        (39.9, 15, Region.BOTH_UNMET),  # both below 40, 24.9 apart
        (60, 39, Region.NO_CLEAR_LEAN),
        (10, 30, Region.BOTH_UNMET),
        (0, 25, Region.DETACHED_LEANING),
        (50, 50, Region.NO_CLEAR_LEAN),
    ],
)
def test_the_regions_read_the_instruments_own_thresholds(closeness, autonomy, region):
    geometry = BalanceMap.from_spec(BALANCE.scoring)
    assert (geometry.met, geometry.unmet, geometry.tilt) == (70, 40, 25)
    assert geometry.region(closeness, autonomy) == region


def test_each_region_is_drawn_where_it_is_read():
    geometry = BalanceMap.from_spec(BALANCE.scoring)
    for region, (autonomy, closeness) in geometry.anchors().items():
        assert geometry.region(closeness, autonomy) == region
    outline = geometry.outlines()
    assert outline[Region.ENMESHED_LEANING] == [(0, 25), (70, 95), (70, 100), (0, 100)]
    assert outline[Region.DETACHED_LEANING] == [(25, 0), (95, 70), (100, 70), (100, 0)]
