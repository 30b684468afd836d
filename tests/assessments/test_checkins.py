"""Check-in summaries: mean, trend by least squares (worked by hand), rituals, missed weeks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from assessments.checkins import CheckInPoint, summarise_check_ins

MONDAY = datetime(2026, 10, 5, 9, tzinfo=UTC)


def weekly(*ratings, kept=()) -> list[CheckInPoint]:
    return [
        CheckInPoint(MONDAY + timedelta(weeks=n), r, kept[n] if n < len(kept) else None)
        for n, r in enumerate(ratings)
    ]


def test_a_rising_self_rating():
    # weeks 0..3, ratings 4, 5, 5, 7: mean 21/4 = 5.25 -> 5.3 (half up)
    # x mean 1.5, y mean 5.25; sum (x - 1.5)(y - 5.25) = (-1.5)(-1.25) + (-0.5)(-0.25)
    #   + (0.5)(-0.25) + (1.5)(1.75) = 1.875 + 0.125 - 0.125 + 2.625 = 4.5
    # sum (x - 1.5)^2 = 2.25 + 0.25 + 0.25 + 2.25 = 5; slope 4.5 / 5 = 0.9 a week: rising
    summary = summarise_check_ins(weekly(4, 5, 5, 7, kept=(True, False, True, True)), 1)
    assert summary.mean_balance_rating == Decimal("5.3")
    assert (summary.slope_per_week, summary.trend) == (Decimal("0.90"), "rising")
    assert (summary.rituals_kept, summary.rituals_reported, summary.weeks_missed) == (3, 4, 1)


def test_a_falling_and_a_steady_self_rating():
    # 8, 7, 6: slope exactly -1 a week; 6, 6, 7, 6: slope 0.1 a week, under 0.25: steady
    assert summarise_check_ins(weekly(8, 7, 6), 0).trend == "falling"
    steady = summarise_check_ins(weekly(6, 6, 7, 6), 0)
    # x mean 1.5, y mean 6.25: sum = (-1.5)(-0.25) + (-0.5)(-0.25) + (0.5)(0.75) + (1.5)(-0.25)
    #   = 0.375 + 0.125 + 0.375 - 0.375 = 0.5; / 5 = 0.1
    assert (steady.slope_per_week, steady.trend) == (Decimal("0.10"), "steady")


def test_the_trend_threshold_is_a_quarter_point_a_week():
    # 5, 5.25 one week apart: slope exactly 0.25, rising; 5, 5.2: 0.2, steady
    assert summarise_check_ins(weekly(5, 5.25), 0).trend == "rising"
    assert summarise_check_ins(weekly(5, 5.2), 0).trend == "steady"
    assert summarise_check_ins(weekly(5, 4.75), 0).trend == "falling"


def test_too_few_ratings_have_no_trend():
    one = summarise_check_ins(weekly(5), 2)
    assert (one.mean_balance_rating, one.trend, one.slope_per_week) == (Decimal("5.0"), None, None)
    none = summarise_check_ins([], 3)
    assert (none.responses, none.mean_balance_rating, none.weeks_missed) == (0, None, 3)
