"""Scoring a completed QuestionnaireResponse from the instrument's scoring spec.

Scores come from the answers and the spec only: item values are the
Questionnaire's own ordinal weights (never weights or totals the response
carries), reverse keys are applied from the spec, and arithmetic is exact
(fractions) until the reported value is rounded half away from zero. The
band is chosen from the reported value.

Formulas (see docs/scoring.md):
- mean: the mean of the answered, keyed items (prorated), optionally rescaled
  from the items' range onto `rescale` (e.g. 1-5 onto 0-100);
- sum: the sum of the answered, keyed items prorated to all items
  (sum x items / answered);
- item: one item's value;
- difference: item a minus item b (both needed);
- scale-difference: scale a minus scale b (both must be scored).
A mean or sum is scored only when the share of items answered reaches
`min_answered`; otherwise the scale is reported unscored with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from math import ceil
from typing import TYPE_CHECKING, Any

from assessments.answers import answers_by_link_id, plain_value, value_entry
from assessments.calculated import calculated_scores, with_calculations
from assessments.questionnaire import QuestionnaireDefinition, exact
from assessments.spec import Scale, ScoringSpec
from assessments.validation import (
    WHOLE_STATUSES,
    Choices,
    InvalidResponse,
    Problem,
    validate_choices,
    validate_response,
)

if TYPE_CHECKING:
    from assessments.catalogue import Instrument

Range = tuple[Fraction, Fraction]
Exact = int | Fraction  # an exact rational: ints where whole


@dataclass(frozen=True)
class ScaleScore:
    scale: str
    label: str
    value: float | None
    min: float | None  # None: not known (a score an imported instrument calculates itself)
    max: float | None
    band: str | None
    band_label: str | None
    interpretation: str | None
    items_used: tuple[str, ...]
    unscored_reason: str | None = None


@dataclass(frozen=True)
class Flag:
    """Raised by one answer (e.g. the safety item). `private` flags reach only the counsellor."""

    code: str
    severity: str
    item: str
    message: str
    private: bool


@dataclass(frozen=True)
class ScoredResponse:
    instrument: str  # canonical url|version
    scores: tuple[ScaleScore, ...]
    flags: tuple[Flag, ...]
    response: Any = None
    """The response as scored: with Tandem's values in any calculated items."""

    def score(self, scale: str) -> ScaleScore:
        for score in self.scores:
            if score.scale == scale:
                return score
        raise KeyError(scale)


def score_response(instrument: Instrument, response: Any) -> ScoredResponse:
    """Validate `response` against `instrument` and score it.

    Raises `InvalidResponse` with every problem when the response is not a
    valid, whole (completed or amended) response to this exact instrument.
    An instrument that calculates items itself (SDC) is validated and scored
    with Tandem's values in those items (`assessments.calculated`).
    """
    response, calculated, failure = with_calculations(instrument, response)
    problems, choices = validate_choices(instrument.definition, response)
    if not problems and response.get("status") not in WHOLE_STATUSES:
        problems.append(
            Problem("invalid-status", "/status", "only a completed or amended response is scored")
        )
    if problems:
        raise InvalidResponse(problems)
    answers = first_answers(response)
    values = item_values(instrument.definition, answers, choices)
    scores = list(_score_scales(instrument, values))
    return ScoredResponse(
        instrument=instrument.canonical,
        scores=tuple(scores + calculated_scores(instrument, calculated, failure)),
        flags=_flags(instrument.scoring, answers),
        response=response,
    )


def check_partial(instrument: Instrument, response: Any) -> list[Problem]:
    """Every problem of a response that need not be whole yet (in-progress), read with
    Tandem's values in any calculated items, as scoring reads it."""
    prepared, _, _ = with_calculations(instrument, response)
    return validate_response(instrument.definition, prepared)


def raise_flags(instrument: Instrument, response: dict[str, Any]) -> tuple[Flag, ...]:
    """The flags a response raises, whatever its status: a safety answer saved in an
    unfinished check-in must reach the counsellor as surely as a submitted one."""
    return _flags(instrument.scoring, first_answers(response))


def first_answers(response: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The first answer of the first occurrence of each answered item, by linkId."""
    return {
        link_id: answers[0] for link_id, answers in answers_by_link_id(response.get("item")).items()
    }


def item_values(
    definition: QuestionnaireDefinition,
    answers: Mapping[str, dict[str, Any]],
    choices: Choices | None = None,
) -> dict[str, Exact]:
    """The numeric value of each answered question, by linkId.

    Choice answers take the ordinal weight of the Questionnaire's matching
    option (the one validation found, when `choices` holds it); numbers count
    as themselves; booleans as 1 and 0.
    """
    values: dict[str, Exact] = {}
    chosen = choices or {}
    for link_id, answer in answers.items():
        if link_id in definition.by_link_id:
            option = chosen.get((link_id, id(answer)))
            value = option.weight if option is not None else _numeric(definition, link_id, answer)
            if value is not None:
                values[link_id] = value
    return values


def scale_ranges(spec: ScoringSpec, definition: QuestionnaireDefinition) -> dict[str, Range]:
    """The lowest and highest value each scale can take, derived from its items."""
    ranges: dict[str, Range] = {}
    for scale in spec.scales:
        ranges[scale.code] = _scale_range(scale, definition, ranges)
    return ranges


def round_half_away(value: Fraction | int, decimals: int) -> Decimal:
    """Round exactly, half away from zero (62.25 -> 62.3, -62.25 -> -62.3).

    For value = n/d: floor(|n|/d x 10^decimals + 1/2) = (2|n| x 10^decimals + d) // 2d,
    in whole numbers only (an int has numerator n and denominator 1)."""
    numerator, denominator = value.numerator, value.denominator
    magnitude = (2 * abs(numerator) * 10**decimals + denominator) // (2 * denominator)
    signed = -magnitude if numerator < 0 else magnitude
    return Decimal(signed).scaleb(-decimals)


def item_range(definition: QuestionnaireDefinition, link_id: str) -> Range:
    item = definition.by_link_id[link_id]
    bounds = item.value_range
    if bounds is None:
        raise ValueError(f"item '{link_id}' has no numeric range (ordinal weights or min/max)")
    return Fraction(bounds[0]), Fraction(bounds[1])


def _scale_range(
    scale: Scale, definition: QuestionnaireDefinition, known: Mapping[str, Range]
) -> Range:
    if scale.method == "scale-difference":
        (a_low, a_high), (b_low, b_high) = known[scale.scales[0]], known[scale.scales[1]]
        return a_low - b_high, a_high - b_low
    ranges = [item_range(definition, link_id) for link_id in scale.items]
    if scale.method == "difference":
        (a_low, a_high), (b_low, b_high) = ranges
        return a_low - b_high, a_high - b_low
    low, high = ranges[0]
    if scale.method == "item":
        return low, high
    if any(r != ranges[0] for r in ranges):
        raise ValueError(f"scale '{scale.code}': its items do not share one range")
    if scale.method == "sum":
        return low * len(ranges), high * len(ranges)
    if scale.rescale:
        return Fraction(scale.rescale[0]), Fraction(scale.rescale[1])
    return low, high


def _score_scales(instrument: Instrument, values: Mapping[str, Exact]) -> Iterator[ScaleScore]:
    spec, definition, ranges = instrument.scoring, instrument.definition, instrument.reported_ranges
    computed: dict[str, Exact | None] = {}
    used: dict[str, tuple[str, ...]] = {}
    for scale in spec.scales:
        value, items_used, reason = _compute(scale, definition, values, computed, used)
        computed[scale.code] = value
        used[scale.code] = items_used
        low, high = ranges[scale.code]
        band = None
        reported = None
        if value is not None:
            rounded = round_half_away(value, scale.decimals)
            reported = float(rounded)
            band = next((b for b in scale.bands if b.contains(rounded)), None)
        yield ScaleScore(
            scale=scale.code,
            label=scale.label,
            value=reported,
            min=low,
            max=high,
            band=band.code if band else None,
            band_label=band.label if band else None,
            interpretation=band.interpretation if band else None,
            items_used=items_used,
            unscored_reason=reason,
        )


def _compute(
    scale: Scale,
    definition: QuestionnaireDefinition,
    values: Mapping[str, Exact],
    computed: Mapping[str, Exact | None],
    used: Mapping[str, tuple[str, ...]],
) -> tuple[Exact | None, tuple[str, ...], str | None]:
    """(exact value or None, items used, reason it is unscored)."""
    if scale.method == "scale-difference":
        a, b = scale.scales
        missing = [code for code in (a, b) if computed[code] is None]
        if missing:
            return None, (), f"needs {a} and {b}; {' and '.join(missing)} could not be scored"
        return computed[a] - computed[b], used[a] + used[b], None  # type: ignore[operator]

    answered = tuple(link_id for link_id in scale.items if link_id in values)
    if scale.method in ("item", "difference"):
        missing = [link_id for link_id in scale.items if link_id not in values]
        if missing:
            return None, answered, f"not answered: {', '.join(missing)}"
        if scale.method == "item":
            return values[scale.items[0]], answered, None
        return values[scale.items[0]] - values[scale.items[1]], answered, None

    total = len(scale.items)
    needed = ceil(scale.required_share * total)
    if len(answered) < needed:
        return (
            None,
            answered,
            f"{len(answered)} of {total} items answered; at least {needed} "
            f"({float(scale.required_share * 100):g}%) are needed",
        )
    low, high = _exact_range(definition, scale.items[0])
    reverse = scale.reverse
    # ints stay ints (exact, and fast); only the division makes a Fraction
    keyed_sum = sum(
        low + high - values[link_id] if link_id in reverse else values[link_id]
        for link_id in answered
    )
    if scale.method == "sum":
        return Fraction(keyed_sum * total, len(answered)), answered, None
    count = len(answered)
    if not scale.rescale:
        return Fraction(keyed_sum, count), answered, None
    # target_low + (sum / count - low) / (high - low) x (target_high - target_low), as one
    # fraction: a single division, whole numbers throughout when the weights are whole.
    target_low, target_high = scale.exact_rescale
    share = Fraction((keyed_sum - count * low) * (target_high - target_low), count * (high - low))
    return target_low + share, answered, None


def _exact_range(definition: QuestionnaireDefinition, link_id: str) -> tuple[Exact, Exact]:
    bounds = definition.by_link_id[link_id].exact_range
    if bounds is None:
        raise ValueError(f"item '{link_id}' has no numeric range (ordinal weights or min/max)")
    return bounds


def _flags(spec: ScoringSpec, answers: Mapping[str, dict[str, Any]]) -> tuple[Flag, ...]:
    private = set(spec.private_items)
    raised = []
    for rule in spec.flags:
        entry = value_entry(answers.get(rule.item))
        given = plain_value(*entry) if entry else None
        if type(given) is type(rule.equals) and given == rule.equals:
            raised.append(
                Flag(rule.code, rule.severity, rule.item, rule.message, rule.item in private)
            )
    return tuple(raised)


def _numeric(
    definition: QuestionnaireDefinition, link_id: str, answer: dict[str, Any]
) -> Exact | None:
    item = definition.by_link_id[link_id]
    entry = value_entry(answer)
    if entry is None:
        return None
    key, value = entry
    if item.options:
        option = item.option_for(key, value)
        return None if option is None else option.weight
    if key == "valueBoolean":
        return int(value)
    if key in ("valueInteger", "valueDecimal"):
        return exact(Decimal(str(value)))
    return None
