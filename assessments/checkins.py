"""A partner's weekly check-ins over the last weeks, in a few figures for the couple report.

The trend is the least-squares slope of the balance self-rating (0-10) per
week, worked out exactly: "rising" at +0.25 a week or more (two points over
eight weeks), "falling" at -0.25 or less, otherwise "steady"; with fewer than
two ratings there is no trend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Literal

TREND_PER_WEEK = Fraction(1, 4)

Trend = Literal["rising", "falling", "steady"]


@dataclass(frozen=True)
class CheckInPoint:
    authored: datetime
    balance_rating: float | None
    ritual_kept: bool | None  # None when the question was not answered


@dataclass(frozen=True)
class CheckInSummary:
    responses: int
    mean_balance_rating: Decimal | None  # one decimal
    trend: Trend | None
    slope_per_week: Decimal | None  # two decimals
    rituals_kept: int
    rituals_reported: int
    weeks_missed: int


def summarise_check_ins(points: Sequence[CheckInPoint], weeks_missed: int) -> CheckInSummary:
    ratings = [
        (p.authored, Fraction(Decimal(str(p.balance_rating))))
        for p in sorted(points, key=lambda p: p.authored)
        if p.balance_rating is not None
    ]
    mean = sum((r for _, r in ratings), Fraction(0)) / len(ratings) if ratings else None
    slope = _slope(ratings)
    trend: Trend | None = None
    if slope is not None:
        trend = (
            "rising"
            if slope >= TREND_PER_WEEK
            else "falling"
            if slope <= -TREND_PER_WEEK
            else "steady"
        )
    reported = [p.ritual_kept for p in points if p.ritual_kept is not None]
    return CheckInSummary(
        responses=len(points),
        mean_balance_rating=_decimal(mean, "0.1"),
        trend=trend,
        slope_per_week=_decimal(slope, "0.01"),
        rituals_kept=sum(reported),
        rituals_reported=len(reported),
        weeks_missed=weeks_missed,
    )


def _slope(ratings: list[tuple[datetime, Fraction]]) -> Fraction | None:
    """Least-squares slope of rating against time in weeks; None under two distinct times."""
    if len(ratings) < 2:
        return None
    start = ratings[0][0]
    xs = [Fraction(int((at - start).total_seconds()), 7 * 24 * 3600) for at, _ in ratings]
    ys = [rating for _, rating in ratings]
    n = len(xs)
    mean_x, mean_y = sum(xs, Fraction(0)) / n, sum(ys, Fraction(0)) / n
    spread = sum(((x - mean_x) ** 2 for x in xs), Fraction(0))
    if spread == 0:
        return None
    return (
        sum(((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)), Fraction(0))
        / spread
    )


def _decimal(value: Fraction | None, places: str) -> Decimal | None:
    if value is None:
        return None
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return exact.quantize(Decimal(places), rounding=ROUND_HALF_UP)
