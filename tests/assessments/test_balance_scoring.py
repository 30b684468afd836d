"""Scoring the balance assessment, checked against hand computations.

Agreement answers are 1 (strongly disagree) ... 5 (strongly agree). Reverse-keyed
items (closeness-5, closeness-6, autonomy-5, autonomy-6, enmeshment-5,
detachment-6) count as 6 - answer. A 0-100 scale is (mean of keyed answers - 1)
/ 4 x 100, reported to one decimal, rounded half away from zero. Balance
position = detachment - enmeshment from the unrounded values; zones:
enmeshed-leaning <= -25 < balanced < 25 <= detached-leaning. Closeness gap =
wanted - now on 1-7. Lists below give raw answers to items 1..n of a scale in
order; None leaves an item unanswered; scales not named are answered 3 throughout.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from assessments import score_response
from assessments.scoring import round_half_away
from tests.assessments.builders import BALANCE, balance_response, scale_answers

SCALE_LENGTHS = {"closeness": 6, "autonomy": 6, "enmeshment": 5, "detachment": 6}


def answered(**scales: list[int | None]) -> dict[str, int]:
    answers: dict[str, int] = {}
    for scale, length in SCALE_LENGTHS.items():
        answers |= scale_answers(scale, scales.get(scale, [3] * length))
    return answers


CASES = [
    pytest.param(
        answered(closeness=[4] * 6, autonomy=[4] * 6, enmeshment=[4] * 5, detachment=[4] * 6),
        (3, 6),
        {
            "closeness": (58.3, "partly-met"),
            "autonomy": (58.3, "partly-met"),
            "enmeshment": (65.0, "many-signs"),
            "detachment": (66.7, "many-signs"),
            "balance-position": (1.7, "balanced"),
            "closeness-gap": (3.0, "wants-more-closeness"),
        },
        # closeness keyed [4,4,4,4,2,2] mean 20/6 = 3.333 -> 58.33; autonomy likewise;
        # enmeshment keyed [4,4,4,4,2] = 18/5 = 3.6 -> 65; detachment [4,4,4,4,4,2] = 22/6
        # -> 66.67; position 66.667 - 65 = 1.667 -> 1.7; gap 6 - 3 = 3
        id="agree-with-everything",
    ),
    pytest.param(
        answered(
            closeness=[5, 5, 5, 5, 1, 1],
            autonomy=[5, 5, 5, 5, 1, 1],
            enmeshment=[1, 1, 1, 1, 5],
            detachment=[1, 1, 1, 1, 1, 5],
        ),
        (6, 6),
        {
            "closeness": (100.0, "met"),
            "autonomy": (100.0, "met"),
            "enmeshment": (0.0, "few-signs"),
            "detachment": (0.0, "few-signs"),
            "balance-position": (0.0, "balanced"),
            "closeness-gap": (0.0, "about-right"),
        },
        # every keyed answer is 5 on the need scales (mean 5 -> 100) and 1 on the sign
        # scales (mean 1 -> 0); position 0 - 0; gap 6 - 6
        id="secure-balance",
    ),
    pytest.param(
        answered(
            closeness=[5, 4, 4, 5, 2, 1],
            autonomy=[2, 1, 2, 2, 5, 4],
            enmeshment=[5, 5, 4, 5, 1],
            detachment=[2, 1, 2, 1, 1, 4],
        ),
        (6, 4),
        {
            "closeness": (87.5, "met"),
            "autonomy": (16.7, "unmet"),
            "enmeshment": (95.0, "many-signs"),
            "detachment": (12.5, "few-signs"),
            "balance-position": (-82.5, "enmeshed-leaning"),
            "closeness-gap": (-2.0, "wants-more-space"),
        },
        # closeness keyed [5,4,4,5,4,5] = 27/6 = 4.5 -> 87.5; autonomy [2,1,2,2,1,2] = 10/6
        # -> 16.67; enmeshment [5,5,4,5,5] = 24/5 = 4.8 -> 95; detachment [2,1,2,1,1,2]
        # = 9/6 = 1.5 -> 12.5; position 12.5 - 95 = -82.5; gap 4 - 6 = -2
        id="enmeshed-leaning",
    ),
    pytest.param(
        answered(
            closeness=[2, 2, 1, 2, 4, 4],
            autonomy=[4, 5, 5, 4, 2, 1],
            enmeshment=[1, 1, 2, 1, 5],
            detachment=[5, 4, 4, 5, 5, 1],
        ),
        (2, 3),
        {
            "closeness": (20.8, "unmet"),
            "autonomy": (87.5, "met"),
            "enmeshment": (5.0, "few-signs"),
            "detachment": (91.7, "many-signs"),
            "balance-position": (86.7, "detached-leaning"),
            "closeness-gap": (1.0, "about-right"),
        },
        # closeness keyed [2,2,1,2,2,2] = 11/6 -> 20.83; autonomy [4,5,5,4,4,5] = 27/6 ->
        # 87.5; enmeshment [1,1,2,1,1] = 6/5 = 1.2 -> 5; detachment [5,4,4,5,5,5] = 28/6
        # -> 91.67; position 91.667 - 5 = 86.67; gap 3 - 2 = 1
        id="detached-leaning",
    ),
    pytest.param(
        answered(enmeshment=[2, 2, 2, 2, 4], detachment=[3, 3, 3, 3, 3, 3]),
        (4, 4),
        {
            "enmeshment": (25.0, "few-signs"),
            "detachment": (50.0, "some-signs"),
            "balance-position": (25.0, "detached-leaning"),
        },
        # enmeshment keyed all 2 -> 25; detachment keyed all 3 -> 50; 50 - 25 = 25, on the edge
        id="position-exactly-plus-25",
    ),
    pytest.param(
        answered(enmeshment=[3, 3, 3, 3, 3], detachment=[2, 2, 2, 2, 2, 4]),
        (4, 4),
        {"balance-position": (-25.0, "enmeshed-leaning")},
        # detachment keyed all 2 -> 25; enmeshment keyed all 3 -> 50; 25 - 50 = -25, on the edge
        id="position-exactly-minus-25",
    ),
    pytest.param(
        answered(enmeshment=[2, 1, 1, 1, 5], detachment=[3, 2, 2, 2, 2, 4]),
        (4, 4),
        {
            "enmeshment": (5.0, "few-signs"),
            "detachment": (29.2, "few-signs"),
            "balance-position": (24.2, "balanced"),
        },
        # detachment keyed [3,2,2,2,2,2] = 13/6 -> 29.167; enmeshment [2,1,1,1,1] = 6/5 -> 5;
        # 29.167 - 5 = 24.167 -> 24.2, just inside balanced
        id="position-just-below-plus-25",
    ),
    pytest.param(
        answered(enmeshment=[3, 3, 3, 3, 4], detachment=[2, 2, 2, 2, 1, 4]),
        (4, 4),
        {
            "enmeshment": (45.0, "some-signs"),
            "detachment": (20.8, "few-signs"),
            "balance-position": (-24.2, "balanced"),
        },
        # detachment keyed [2,2,2,2,1,2] = 11/6 -> 20.833; enmeshment [3,3,3,3,2] = 14/5
        # -> 45; 20.833 - 45 = -24.167 -> -24.2, just inside balanced
        id="position-just-above-minus-25",
    ),
    pytest.param(
        answered(enmeshment=[3, 3, 3, 2, 4]),
        (4, 4),
        {"enmeshment": (40.0, "some-signs")},
        # keyed [3,3,3,2,2] = 13/5 = 2.6 -> (2.6 - 1) / 4 x 100 = 40, the lower edge of some-signs
        id="band-edge-40",
    ),
    pytest.param(
        answered(enmeshment=[4, 4, 3, 3, 3]),
        (4, 4),
        {"enmeshment": (60.0, "many-signs")},
        # keyed [4,4,3,3,3] = 17/5 = 3.4 -> 60, the lower edge of many-signs
        id="band-edge-60",
    ),
    pytest.param(
        answered(closeness=[4, 4, 4, 3, 2, None]),
        (4, 4),
        {"closeness": (70.0, "met")},
        # 5 of 6 answered (83% >= 80%): keyed [4,4,4,3,4] = 19/5 = 3.8 -> 70, the edge of met
        id="band-edge-70-prorated",
    ),
    pytest.param(
        answered(enmeshment=[3, 3, 2, 2, None]),
        (4, 4),
        {"enmeshment": (37.5, "few-signs")},
        # 4 of 5 answered, exactly 80%: scored; keyed [3,3,2,2] = 10/4 = 2.5 -> 37.5
        id="proration-at-exactly-80-percent",
    ),
    pytest.param(
        answered(enmeshment=[3, 2, 2, 2, None]),
        (4, 4),
        {"enmeshment": (31.3, "few-signs")},
        # keyed [3,2,2,2] = 9/4 = 2.25 -> 31.25 -> 31.3 (half away from zero, not half-even)
        id="rounds-half-away-from-zero",
    ),
]


@pytest.mark.parametrize(("answers", "gap", "expected"), CASES)
def test_balance_scores_match_hand_computation(answers, gap, expected):
    result = score_response(BALANCE, balance_response(answers, gap_now=gap[0], gap_wanted=gap[1]))
    got = {code: (result.score(code).value, result.score(code).band) for code in expected}
    assert got == expected


def test_reverse_keyed_item_counts_the_other_way():
    # closeness-5 ("I keep important parts of myself hidden") is reverse keyed: strongly
    # agreeing (5) counts as 1. Others 5: keyed [5,5,5,5,1,5] = 26/6 -> 83.33
    forward = answered(closeness=[5, 5, 5, 5, 1, 1])
    hiding = answered(closeness=[5, 5, 5, 5, 5, 1])
    assert score_response(BALANCE, balance_response(forward)).score("closeness").value == 100.0
    assert score_response(BALANCE, balance_response(hiding)).score("closeness").value == 83.3


def test_below_80_percent_leaves_the_scale_unscored_with_the_reason():
    # enmeshment 3 of 5 answered = 60% < 80%; closeness 4 of 6 = 67% < 80%
    answers = answered(enmeshment=[3, 3, 3, None, None], closeness=[4, 4, 4, 4, None, None])
    result = score_response(BALANCE, balance_response(answers))

    enmeshment = result.score("enmeshment")
    assert (enmeshment.value, enmeshment.band) == (None, None)
    assert enmeshment.unscored_reason == "3 of 5 items answered; at least 4 (80%) are needed"
    assert enmeshment.items_used == ("enmeshment-1", "enmeshment-2", "enmeshment-3")
    closeness = result.score("closeness")
    assert closeness.unscored_reason == "4 of 6 items answered; at least 5 (80%) are needed"
    position = result.score("balance-position")
    assert position.value is None
    assert position.unscored_reason == (
        "needs detachment and enmeshment; enmeshment could not be scored"
    )
    assert result.score("autonomy").value == 50.0  # all 3s: (3 - 1) / 4 x 100


def test_every_scale_reports_range_interpretation_and_items_used():
    result = score_response(BALANCE, balance_response(answered()))
    ranges = {s.scale: (s.min, s.max) for s in result.scores}
    assert ranges == {
        "closeness": (0.0, 100.0),
        "autonomy": (0.0, 100.0),
        "enmeshment": (0.0, 100.0),
        "detachment": (0.0, 100.0),
        "closeness-gap": (-6.0, 6.0),
        "balance-position": (-100.0, 100.0),
    }
    detachment = result.score("detachment")
    assert detachment.items_used == tuple(f"detachment-{n}" for n in range(1, 7))
    assert detachment.band == "some-signs"  # all 3s -> 50
    assert detachment.interpretation.startswith("This partner recognised some statements")
    assert result.score("balance-position").items_used == (
        *(f"detachment-{n}" for n in range(1, 7)),
        *(f"enmeshment-{n}" for n in range(1, 6)),
    )
    assert result.flags == ()


def test_totals_carried_by_the_response_are_ignored():
    # A response that claims its own ordinal weights gets the Questionnaire's instead.
    response = balance_response(answered())
    for item in response["item"][0]["item"]:
        item["answer"][0]["valueCoding"]["extension"] = [
            {"url": "http://hl7.org/fhir/StructureDefinition/ordinalValue", "valueDecimal": 99}
        ]
    assert score_response(BALANCE, response).score("closeness").value == 50.0


@pytest.mark.parametrize(
    ("value", "decimals", "expected"),
    [
        (Fraction(6225, 100), 1, "62.3"),
        (Fraction(-6225, 100), 1, "-62.3"),
        (Fraction(1, 20), 1, "0.1"),
        (Fraction(2, 3), 1, "0.7"),
        (Fraction(5, 2), 0, "3"),
        (Fraction(-5, 2), 0, "-3"),
    ],
)
def test_round_half_away_from_zero(value, decimals, expected):
    assert str(round_half_away(value, decimals)) == expected
