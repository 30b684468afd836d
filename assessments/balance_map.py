"""The balance map: where a partner stands between closeness and independence.

The map sets the balance assessment's two "need met" scales against each
other: autonomy (independence need met, 0-100) across, closeness (closeness
need met, 0-100) up. Its regions read the instrument's own thresholds, so the
map and the scores can never disagree:

- **balanced**: both needs met (each in its scale's `met` band, 70 or more).
  Healthy couples hold both needs; neither is the enemy of the other.
- **enmeshed-leaning**: closeness outweighs independence by a full answer step
  or more (closeness minus autonomy at least 25), unless both are met. One
  need swamps the other: close, but a self of one's own is missing.
- **detached-leaning**: independence outweighs closeness by a full answer step
  or more (autonomy minus closeness at least 25), unless both are met:
  a self of one's own, but little closeness.
- **both-unmet**: neither need even partly met (both below 40, the `unmet`
  band) and neither outweighs the other.
- **no-clear-lean**: the rest; read the scales themselves.

The full answer step is the balance position's own threshold (its
`enmeshed-leaning` and `detached-leaning` bands, at -25 and 25): the tilt of
the needs, autonomy minus closeness, is read with the same bands and the same
sign as the balance position (detachment minus enmeshment), so below zero
leans towards too much closeness on both. The map shows the direction the
needs lean; the enmeshment and detachment scales say how strong the signs of
it are, and a chart states both.

Values are compared as reported (rounded), like the scales' bands.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from assessments.spec import Band, Scale, ScoringSpec

CLOSENESS, AUTONOMY, BALANCE_POSITION = "closeness", "autonomy", "balance-position"


class Region(StrEnum):
    BALANCED = "balanced"
    ENMESHED_LEANING = "enmeshed-leaning"
    DETACHED_LEANING = "detached-leaning"
    BOTH_UNMET = "both-unmet"
    NO_CLEAR_LEAN = "no-clear-lean"


REGION_LABELS = {
    Region.BALANCED: "Balanced: both needs met",
    Region.ENMESHED_LEANING: "Enmeshed-leaning",
    Region.DETACHED_LEANING: "Detached-leaning",
    Region.BOTH_UNMET: "Both needs unmet",
    Region.NO_CLEAR_LEAN: "No clear lean",
}

Point = tuple[float, float]  # (autonomy, closeness): across, up


@dataclass(frozen=True)
class BalanceMap:
    """The map's thresholds, on the 0-100 "need met" scales.

    `met`: a need is met at this value or more; `unmet`: unmet below it;
    `tilt`: one need outweighs the other at this difference or more.
    """

    met: Decimal = Decimal(70)
    unmet: Decimal = Decimal(40)
    tilt: Decimal = Decimal(25)
    low: Decimal = Decimal(0)
    high: Decimal = Decimal(100)

    @classmethod
    def from_spec(cls, spec: ScoringSpec) -> BalanceMap:
        """The thresholds of a balance assessment's scoring spec: the closeness and autonomy
        scales' `met` and `unmet` bands (which must agree), and the balance position's
        `detached-leaning` band. ValueError if the spec lacks them."""
        closeness, autonomy = spec.scale(CLOSENESS), spec.scale(AUTONOMY)
        met = _lower(_band(closeness, "met"))
        unmet = _upper(_band(closeness, "unmet"))
        if (_lower(_band(autonomy, "met")), _upper(_band(autonomy, "unmet"))) != (met, unmet):
            raise ValueError("the closeness and autonomy scales' bands differ; no one map fits")
        if closeness.rescale is None or closeness.rescale != autonomy.rescale:
            raise ValueError("the closeness and autonomy scales need one rescaled range")
        tilt = _lower(_band(spec.scale(BALANCE_POSITION), "detached-leaning"))
        low, high = closeness.rescale
        return cls(met=met, unmet=unmet, tilt=tilt, low=low, high=high)

    def region(self, closeness: float | Decimal, autonomy: float | Decimal) -> Region:
        """The region a partner's reported closeness and autonomy fall in."""
        c, a = Decimal(str(closeness)), Decimal(str(autonomy))
        if c >= self.met and a >= self.met:
            return Region.BALANCED
        if c - a >= self.tilt:
            return Region.ENMESHED_LEANING
        if a - c >= self.tilt:
            return Region.DETACHED_LEANING
        if c < self.unmet and a < self.unmet:
            return Region.BOTH_UNMET
        return Region.NO_CLEAR_LEAN

    def outlines(self) -> dict[Region, list[Point]]:
        """Each region but no-clear-lean as a polygon of (autonomy, closeness) corners.

        The leaning regions are the corners beyond the lines closeness = autonomy
        +/- tilt, less the balanced square; both-unmet is the low square between
        those lines.
        """
        lo, hi = float(self.low), float(self.high)
        met, unmet, tilt = float(self.met), float(self.unmet), float(self.tilt)
        if met + tilt < hi:  # the tilt line meets the balanced square's side
            enmeshed = [(lo, lo + tilt), (met, met + tilt), (met, hi), (lo, hi)]
        else:  # it leaves through the top first
            enmeshed = [(lo, lo + tilt), (hi - tilt, hi), (lo, hi)]
        if unmet - lo > tilt:  # the tilt lines cut the low square's corners off
            both_unmet = [
                (lo, lo), (lo + tilt, lo), (unmet, unmet - tilt), (unmet, unmet),
                (unmet - tilt, unmet), (lo, lo + tilt),
            ]  # fmt: skip
        else:
            both_unmet = [(lo, lo), (unmet, lo), (unmet, unmet), (lo, unmet)]
        return {
            Region.BALANCED: [(met, met), (hi, met), (hi, hi), (met, hi)],
            Region.ENMESHED_LEANING: enmeshed,
            Region.DETACHED_LEANING: [(c, a) for a, c in enmeshed],  # the mirror image
            Region.BOTH_UNMET: both_unmet,
        }

    def anchors(self) -> dict[Region, Point]:
        """Where each outlined region's label sits, inside it, clear of the others."""
        lo, hi = float(self.low), float(self.high)
        met, tilt = float(self.met), float(self.tilt)
        span = hi - lo
        return {
            Region.BALANCED: ((met + hi) / 2, (met + hi) / 2),
            Region.ENMESHED_LEANING: (lo + span * 0.2, lo + tilt + span * 0.55),
            Region.DETACHED_LEANING: (lo + tilt + span * 0.55, lo + span * 0.2),
            Region.BOTH_UNMET: (lo + span * 0.13, lo + span * 0.13),
        }


def _band(scale: Scale, code: str) -> Band:
    for band in scale.bands:
        if band.code == code:
            return band
    raise ValueError(f"scale '{scale.code}' has no band '{code}'")


def _lower(band: Band) -> Decimal:
    bound = band.ge if band.ge is not None else band.gt
    if bound is None:
        raise ValueError(f"band '{band.code}' has no lower bound")
    return bound


def _upper(band: Band) -> Decimal:
    bound = band.lt if band.lt is not None else band.le
    if bound is None:
        raise ValueError(f"band '{band.code}' has no upper bound")
    return bound
