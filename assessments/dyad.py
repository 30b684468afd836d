"""The couple as a couple: both partners' scores side by side, and the patterns between them.

`compare_partners` takes each partner's latest scores on one instrument and
returns, per scale, both values and bands and whether the partners differ,
then every pattern flag with the rule that raised it and its evidence.

Partners differ on a scale when their values are at least `DIFFER_SHARE` of
the scale's range apart: 15 points on a 0-100 scale, 1.8 on the closeness gap
(-6 to 6), 30 on the balance position (-100 to 100). The patterns read the
balance assessment's bands:

- pursue-withdraw: one partner's balance position is enmeshed-leaning and the
  other's detached-leaning (one seeks closeness as the other seeks distance);
- both-want-closeness / both-want-space: both closeness gaps in that band;
- opposite-gaps: one partner wants more closeness and the other more space
  (gaps of opposite sign, each outside "about right").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from assessments.catalogue import Instrument

DIFFER_SHARE = Decimal("0.15")


@dataclass(frozen=True)
class PartnerScore:
    """One partner's reported score on one scale (None when it could not be scored)."""

    value: float | None
    band: str | None


@dataclass(frozen=True)
class ScaleComparison:
    scale: str
    label: str
    first: PartnerScore | None
    second: PartnerScore | None
    difference: Decimal | None  # |first - second|; None unless both were scored
    threshold: Decimal
    partners_differ: bool


@dataclass(frozen=True)
class PatternFlag:
    code: str
    rule: str  # the rule, in words
    evidence: dict[str, str | float | None] = field(default_factory=dict)


@dataclass(frozen=True)
class PartnerComparison:
    instrument: str  # canonical url|version
    scales: tuple[ScaleComparison, ...]
    patterns: tuple[PatternFlag, ...]


def compare_partners(
    instrument: Instrument,
    first: Mapping[str, PartnerScore],
    second: Mapping[str, PartnerScore],
    differ_share: Decimal = DIFFER_SHARE,
) -> PartnerComparison:
    """Both partners' scores on `instrument`, scale by scale, and the patterns they show;
    partners differ at `differ_share` of a scale's range (15% unless the clinic sets it)."""
    scales = tuple(_compare(instrument, scale.code, scale.label, first, second, differ_share)
                   for scale in instrument.scoring.scales)  # fmt: skip
    patterns = [flag for rule in _RULES for flag in rule(first, second)]
    patterns += [
        PatternFlag(
            "partners-differ",
            f"the partners' {c.label.lower()} scores are at least {c.threshold} apart "
            f"({(differ_share * 100).normalize():f}% of the scale's range)",
            {"scale": c.scale, "difference": float(c.difference or 0)},
        )
        for c in scales
        if c.partners_differ
    ]
    return PartnerComparison(instrument.canonical, scales, tuple(patterns))


def _compare(
    instrument: Instrument,
    code: str,
    label: str,
    first: Mapping[str, PartnerScore],
    second: Mapping[str, PartnerScore],
    differ_share: Decimal,
) -> ScaleComparison:
    low, high = instrument.ranges[code]
    threshold = (Decimal(high.numerator) / high.denominator
                 - Decimal(low.numerator) / low.denominator) * differ_share  # fmt: skip
    a, b = first.get(code), second.get(code)
    difference = None
    if a is not None and b is not None and a.value is not None and b.value is not None:
        difference = abs(Decimal(str(a.value)) - Decimal(str(b.value)))
    differ = difference is not None and difference >= threshold
    return ScaleComparison(code, label, a, b, difference, _plain(threshold), differ)


def _plain(number: Decimal) -> Decimal:
    """30.00 as 30 and 1.80 as 1.8, never 3E+1."""
    whole = number.to_integral_value()
    return whole if number == whole else number.normalize()


def _band(scores: Mapping[str, PartnerScore], scale: str) -> str | None:
    score = scores.get(scale)
    return score.band if score is not None else None


def _pursue_withdraw(
    first: Mapping[str, PartnerScore], second: Mapping[str, PartnerScore]
) -> list[PatternFlag]:
    bands = {_band(first, "balance-position"), _band(second, "balance-position")}
    if bands != {"enmeshed-leaning", "detached-leaning"}:
        return []
    return [
        PatternFlag(
            "pursue-withdraw",
            "one partner's balance position is enmeshed-leaning and the other's detached-leaning",
            {
                "first": _band(first, "balance-position"),
                "second": _band(second, "balance-position"),
            },
        )
    ]


def _shared_wish(
    first: Mapping[str, PartnerScore], second: Mapping[str, PartnerScore]
) -> list[PatternFlag]:
    a, b = _band(first, "closeness-gap"), _band(second, "closeness-gap")
    flags = []
    for band, code, wish in (
        ("wants-more-closeness", "both-want-closeness", "more closeness"),
        ("wants-more-space", "both-want-space", "more space"),
    ):
        if a == b == band:
            flags.append(PatternFlag(code, f"both partners' closeness gaps say they want {wish}"))
    if {a, b} == {"wants-more-closeness", "wants-more-space"}:
        flags.append(
            PatternFlag(
                "opposite-gaps",
                "one partner wants more closeness and the other more space",
                {"first": a, "second": b},
            )
        )
    return flags


_RULES = (_pursue_withdraw, _shared_wish)
