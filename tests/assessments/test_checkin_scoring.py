"""Scoring the weekly check-in, checked against hand computations.

Single-item scores keep the item's own range: balance rating 0-10 (bands
0-3 / 4-6 / 7-10), agreement items 1-5 (1-2 / 3 / 4-5), stress 1-5, ritual kept
1 or 0. Closeness gap = wanted - now on the 1-7 ladder (<= -2 / -1..1 / >= 2).
A yes to the safety item raises a private, high-severity `safety` flag.
"""

from __future__ import annotations

from dataclasses import asdict

import pytest

from assessments import private_link_ids, raise_flags, score_response
from tests.assessments.builders import CHECK_IN, checkin_response


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        pytest.param(
            {"balance_rating": 3},
            {"balance-rating": (3.0, "out-of-balance")},
            id="rating-3-top-of-out-of-balance",
        ),
        pytest.param(
            {"balance_rating": 4}, {"balance-rating": (4.0, "partly-balanced")}, id="rating-4"
        ),
        pytest.param(
            {"balance_rating": 6}, {"balance-rating": (6.0, "partly-balanced")}, id="rating-6"
        ),
        pytest.param({"balance_rating": 7}, {"balance-rating": (7.0, "balanced")}, id="rating-7"),
        pytest.param(
            {"balance_rating": 0}, {"balance-rating": (0.0, "out-of-balance")}, id="rating-0"
        ),
        pytest.param(
            {"balance_rating": 10}, {"balance-rating": (10.0, "balanced")}, id="rating-10"
        ),
        pytest.param(
            {"close_now": 3, "close_wanted": 5},
            {"closeness-gap": (2.0, "wants-more-closeness")},
            id="gap-plus-2",  # 5 - 3 = 2
        ),
        pytest.param(
            {"close_now": 4, "close_wanted": 5},
            {"closeness-gap": (1.0, "about-right")},
            id="gap-plus-1",  # 5 - 4 = 1
        ),
        pytest.param(
            {"close_now": 5, "close_wanted": 4},
            {"closeness-gap": (-1.0, "about-right")},
            id="gap-minus-1",  # 4 - 5 = -1
        ),
        pytest.param(
            {"close_now": 7, "close_wanted": 5},
            {"closeness-gap": (-2.0, "wants-more-space")},
            id="gap-minus-2",  # 5 - 7 = -2
        ),
        pytest.param(
            {"time_together": 2, "time_for_myself": 3, "felt_heard": 4, "stress_level": 5},
            {
                "time-together": (2.0, "low"),
                "time-for-myself": (3.0, "middle"),
                "felt-heard": (4.0, "high"),
                "stress": (5.0, "high"),
            },
            id="five-point-items",
        ),
        pytest.param({"ritual_kept": True}, {"ritual-kept": (1.0, "kept")}, id="ritual-kept"),
        pytest.param(
            {"ritual_kept": False}, {"ritual-kept": (0.0, "not-kept")}, id="ritual-missed"
        ),
    ],
)
def test_check_in_scores_match_hand_computation(answers, expected):
    result = score_response(CHECK_IN, checkin_response(**answers))
    got = {code: (result.score(code).value, result.score(code).band) for code in expected}
    assert got == expected


def test_safety_yes_raises_a_private_high_severity_flag():
    result = score_response(CHECK_IN, checkin_response(safety=True))
    assert [asdict(f) for f in result.flags] == [
        {
            "code": "safety",
            "severity": "high",
            "item": "safety",
            "message": (
                "Reported feeling afraid of their partner or unsafe at home this week. Contact "
                "this client on their own before any joint session or joint homework."
            ),
            "private": True,
        }
    ]


def test_safety_no_raises_no_flag():
    assert score_response(CHECK_IN, checkin_response(safety=False)).flags == ()


def test_free_text_and_safety_are_private_and_unscored():
    assert private_link_ids(CHECK_IN) == {"need", "safety"}
    result = score_response(CHECK_IN, checkin_response(need="more walks together", safety=True))
    used = {link_id for score in result.scores for link_id in score.items_used}
    assert used.isdisjoint({"need", "safety"})
    assert [s.scale for s in result.scores] == [
        "balance-rating",
        "closeness-gap",
        "time-together",
        "time-for-myself",
        "felt-heard",
        "stress",
        "ritual-kept",
    ]


def test_a_saved_unfinished_check_in_still_raises_the_safety_flag():
    partial = checkin_response(safety=True, status="in-progress")
    partial["item"] = [i for i in partial["item"] if i["linkId"] in ("balance-rating", "safety")]
    assert [f.code for f in raise_flags(CHECK_IN, partial)] == ["safety"]
    assert raise_flags(CHECK_IN, checkin_response(safety=False)) == ()
