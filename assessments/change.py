"""Reliable change between two scores of one scale (Jacobson & Truax, 1991).

    RCI = (after - before) / SE_diff,   SE_diff = sqrt(2 * SD^2 * (1 - r))

which is the usual sqrt(2) * SD * sqrt(1 - r), taken as one square root so
that round figures stay exact (SD 5 and r 0.5 give SE_diff exactly 5). A
change is reliable when |RCI| > 1.96. `SD` and `r` come from the scale's
spec; where it has none, the change is "not-computable" and says why, rather
than borrowing figures from elsewhere.

Direction comes from the spec too:

- higher-is-better and lower-is-better: a reliable change is an improvement
  or a deterioration by its sign;
- toward-zero (a gap, a balance position): the distance from zero is what
  changes, so the index is taken on |after| - |before|, and shrinking is
  improvement;
- none: a reliable change is reported without calling it better or worse.

With a clinical cut-off, the cut-off value itself counts as the clinical side
(lower-is-better: clinical at or above it; higher-is-better: at or below it;
toward-zero: a distance from zero at or above it). A reliable improvement
that leaves the clinical side is "recovered".
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Literal

from assessments.spec import Scale

THRESHOLD = Decimal("1.96")

Classification = Literal[
    "recovered",
    "reliably-improved",
    "reliably-deteriorated",
    "reliable-change",  # a scale with no better or worse direction
    "no-reliable-change",
    "not-computable",
]


@dataclass(frozen=True)
class Change:
    scale: str
    before: Decimal
    after: Decimal
    difference: Decimal  # after - before
    rci: Decimal | None  # rounded to 2 places; None when not computable
    classification: Classification
    reason: str  # in words, for the counsellor: the figures used, or why there are none


def reliable_change(scale: Scale, before: float | Decimal, after: float | Decimal) -> Change:
    """The reliable change of `scale` from `before` to `after`."""
    first, last = Decimal(str(before)), Decimal(str(after))
    difference = last - first
    reliability = scale.reliability
    if reliability is None:
        reason = scale.reliability_note or "the scale's spec gives no SD and reliability"
        return Change(scale.code, first, last, difference, None, "not-computable", reason)
    with localcontext() as context:
        context.prec = 28
        se_diff = (2 * reliability.sd**2 * (1 - reliability.r)).sqrt()
        moved = abs(last) - abs(first) if scale.direction == "toward-zero" else difference
        rci = moved / se_diff
    reliable = abs(rci) > THRESHOLD
    classification = _classify(scale, first, last, rci, reliable)
    reason = (
        f"RCI {rci:.2f} (SE of the difference {se_diff:.2f}, from SD {reliability.sd} and "
        f"r {reliability.r}: {reliability.source}); reliable when beyond +/-{THRESHOLD}"
    )
    return Change(
        scale.code, first, last, difference, rci.quantize(Decimal("0.01")), classification, reason
    )


def _classify(
    scale: Scale, first: Decimal, last: Decimal, rci: Decimal, reliable: bool
) -> Classification:
    if not reliable:
        return "no-reliable-change"
    if scale.direction == "none":
        return "reliable-change"
    better = rci > 0 if scale.direction == "higher-is-better" else rci < 0
    if not better:
        return "reliably-deteriorated"
    if scale.cutoff is not None and _clinical(scale, first) and not _clinical(scale, last):
        return "recovered"
    return "reliably-improved"


def _clinical(scale: Scale, value: Decimal) -> bool:
    cutoff = scale.cutoff
    assert cutoff is not None
    if scale.direction == "lower-is-better":
        return value >= cutoff
    if scale.direction == "higher-is-better":
        return value <= cutoff
    return abs(value) >= cutoff  # toward-zero
