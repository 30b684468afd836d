"""Reliable change (Jacobson-Truax), each figure computed by hand in the test's comment."""

from __future__ import annotations

from decimal import Decimal

import pytest

from assessments import load_builtin
from assessments.change import reliable_change
from assessments.spec import Scale


def scale(direction="lower-is-better", sd="5", r="0.84", cutoff=None, **extra) -> Scale:
    return Scale.model_validate(
        {
            "code": "mood", "label": "Mood", "description": "a test scale", "method": "sum",
            "items": ["q1", "q2"], "min_answered": "1", "direction": direction, "bands": [{"code": "any", "label": "Any", "interpretation": "any value"}],
            "cutoff": cutoff,
            "reliability": None if sd is None else {"sd": sd, "r": r, "source": "test figures"},
            **extra,
        }
    )  # fmt: skip


# SD 5, r 0.84: SEM = 5 * sqrt(0.16) = 2; SE_diff = sqrt(2 * 25 * 0.16) = sqrt(8) = 2.8284...


def test_a_large_drop_on_a_lower_is_better_scale_is_a_reliable_improvement():
    # 20 -> 12: RCI = -8 / 2.8284 = -2.83 (beyond -1.96); still at or above cut-off 10
    change = reliable_change(scale(cutoff="10"), 20, 12)
    assert (change.difference, change.rci) == (Decimal("-8"), Decimal("-2.83"))
    assert change.classification == "reliably-improved"


def test_a_reliable_improvement_out_of_the_clinical_range_is_recovery():
    # 20 -> 9: RCI = -11 / 2.8284 = -3.89; 20 >= 10 was clinical, 9 < 10 is not
    change = reliable_change(scale(cutoff="10"), 20, 9)
    assert (change.rci, change.classification) == (Decimal("-3.89"), "recovered")


def test_a_small_change_is_not_reliable():
    # 20 -> 16: RCI = -4 / 2.8284 = -1.41, inside +/-1.96
    change = reliable_change(scale(cutoff="10"), 20, 16)
    assert (change.rci, change.classification) == (Decimal("-1.41"), "no-reliable-change")


def test_a_large_rise_on_a_lower_is_better_scale_is_a_deterioration():
    # 8 -> 16: RCI = 8 / 2.8284 = 2.83
    change = reliable_change(scale(cutoff="10"), 8, 16)
    assert (change.rci, change.classification) == (Decimal("2.83"), "reliably-deteriorated")


def test_the_threshold_itself_is_not_beyond_it():
    # SD 5, r 0.5: SE_diff = sqrt(2 * 25 * 0.5) = sqrt(25) = 5 exactly.
    # 50 -> 59.8: RCI = 9.8 / 5 = 1.96, not beyond 1.96; 50 -> 59.9: 1.98, beyond it.
    at = reliable_change(scale("higher-is-better", r="0.5"), 50, Decimal("59.8"))
    beyond = reliable_change(scale("higher-is-better", r="0.5"), 50, Decimal("59.9"))
    assert (at.rci, at.classification) == (Decimal("1.96"), "no-reliable-change")
    assert (beyond.rci, beyond.classification) == (Decimal("1.98"), "reliably-improved")


def test_on_a_higher_is_better_scale_the_cut_off_belongs_to_the_clinical_side():
    # SD 5, r 0.5 (SE_diff 5), cut-off 40: 30 -> 40 is RCI 2.00 but 40 is still clinical;
    # 30 -> 41 is RCI 2.20 and leaves it
    assert reliable_change(
        scale("higher-is-better", r="0.5", cutoff="40"), 30, 40
    ).classification == ("reliably-improved")
    assert reliable_change(
        scale("higher-is-better", r="0.5", cutoff="40"), 30, 41
    ).classification == ("recovered")


def test_toward_zero_scales_change_by_their_distance_from_zero():
    # SD 5, r 0.5 (SE_diff 5). -30 -> 15: distance 30 -> 15, RCI = (15 - 30) / 5 = -3.00,
    # an improvement even though the signed difference (+45) is a rise
    better = reliable_change(scale("toward-zero", r="0.5"), -30, 15)
    assert (better.difference, better.rci, better.classification) == (
        Decimal("45"), Decimal("-3.00"), "reliably-improved",
    )  # fmt: skip
    # 5 -> -20: distance 5 -> 20, RCI = 15 / 5 = 3.00, worse
    worse = reliable_change(scale("toward-zero", r="0.5"), 5, -20)
    assert (worse.rci, worse.classification) == (Decimal("3.00"), "reliably-deteriorated")


def test_a_scale_with_no_direction_reports_change_without_judging_it():
    # SD 5, r 0.5 (SE_diff 5): 10 -> 25, RCI 3.00
    change = reliable_change(scale("none", r="0.5"), 10, 25)
    assert (change.rci, change.classification) == (Decimal("3.00"), "reliable-change")


def test_without_published_figures_the_change_says_it_cannot_be_computed():
    change = reliable_change(scale(sd=None, reliability_note="no published figures yet"), 20, 2)
    assert (change.rci, change.classification) == (None, "not-computable")
    assert change.reason == "no published figures yet"
    assert change.difference == Decimal("-18")


@pytest.mark.parametrize("code", ["closeness", "autonomy", "enmeshment", "detachment"])
def test_the_built_in_balance_scales_are_not_computable_and_say_why(code):
    balance = load_builtin("balance-assessment")
    spec = next(s for s in balance.scoring.scales if s.code == code)
    change = reliable_change(spec, 40, 80)
    assert change.classification == "not-computable"
    assert "no published standard deviation" in change.reason
