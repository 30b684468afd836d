"""Comparing partners: differences against the documented threshold, and pattern flags."""

from __future__ import annotations

from decimal import Decimal

from assessments import load_builtin
from assessments.dyad import PartnerScore, compare_partners

BALANCE = load_builtin("balance-assessment")


def scores(**values) -> dict[str, PartnerScore]:
    """scale=(value, band), with underscores for hyphens."""
    return {k.replace("_", "-"): PartnerScore(*v) for k, v in values.items()}


def comparison(result, scale):
    return next(c for c in result.scales if c.scale == scale)


def codes(result):
    return [flag.code for flag in result.patterns]


def test_partners_differ_at_15_points_on_a_0_to_100_scale_and_not_below():
    # closeness 0-100: threshold 15% of 100 = 15. 70 vs 55: 15 apart, they differ;
    # autonomy 60 vs 45.1: 14.9 apart, they do not
    result = compare_partners(
        BALANCE,
        scores(closeness=(70, "met"), autonomy=(60, "partly-met")),
        scores(closeness=(55, "partly-met"), autonomy=(45.1, "partly-met")),
    )
    closeness, autonomy = comparison(result, "closeness"), comparison(result, "autonomy")
    assert (closeness.difference, closeness.threshold, closeness.partners_differ) == (
        Decimal("15"), Decimal("15"), True,
    )  # fmt: skip
    assert (autonomy.difference, autonomy.partners_differ) == (Decimal("14.9"), False)
    differ = [f for f in result.patterns if f.code == "partners-differ"]
    assert [f.evidence["scale"] for f in differ] == ["closeness"]


def test_the_threshold_scales_with_the_range():
    # closeness gap -6..6: 15% of 12 = 1.8; balance position -100..100: 15% of 200 = 30
    result = compare_partners(BALANCE, {}, {})
    assert comparison(result, "closeness-gap").threshold == Decimal("1.8")
    assert comparison(result, "balance-position").threshold == Decimal("30")
    assert str(comparison(result, "balance-position").threshold) == "30"  # not 3E+1 in the rule


def test_an_unscored_scale_is_never_a_difference():
    result = compare_partners(
        BALANCE, scores(closeness=(None, None)), scores(closeness=(90, "met"))
    )
    assert (comparison(result, "closeness").difference, codes(result)) == (None, [])


def test_one_partner_enmeshed_leaning_and_the_other_detached_leaning_is_pursue_withdraw():
    result = compare_partners(
        BALANCE,
        scores(balance_position=(-40, "enmeshed-leaning")),
        scores(balance_position=(35, "detached-leaning")),
    )
    # -40 vs 35: 75 apart, beyond 30, so the partners also differ on the position
    assert codes(result) == ["pursue-withdraw", "partners-differ"]
    assert result.patterns[0].evidence == {
        "first": "enmeshed-leaning",
        "second": "detached-leaning",
    }


def test_both_leaning_the_same_way_is_not_pursue_withdraw():
    result = compare_partners(
        BALANCE,
        scores(balance_position=(-40, "enmeshed-leaning")),
        scores(balance_position=(-30, "enmeshed-leaning")),
    )
    assert codes(result) == []


def test_shared_and_opposite_wishes_about_closeness():
    want = (3, "wants-more-closeness")
    space = (-3, "wants-more-space")
    right = (0, "about-right")
    assert codes(
        compare_partners(BALANCE, scores(closeness_gap=want), scores(closeness_gap=want))
    ) == ["both-want-closeness"]
    assert codes(
        compare_partners(BALANCE, scores(closeness_gap=space), scores(closeness_gap=space))
    ) == ["both-want-space"]
    # 3 vs -3: opposite signs, and 6 apart (beyond 1.8)
    assert codes(
        compare_partners(BALANCE, scores(closeness_gap=want), scores(closeness_gap=space))
    ) == ["opposite-gaps", "partners-differ"]
    # 3 vs 0: 3 apart, they differ, but one partner is about right: no shared or opposite wish
    assert codes(
        compare_partners(BALANCE, scores(closeness_gap=want), scores(closeness_gap=right))
    ) == ["partners-differ"]
