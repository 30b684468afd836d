"""Instruments: a Questionnaire and its scoring spec, checked against each other.

Built-in instruments are files in `assessments/instruments/<slug>/<version>/`
(`questionnaire.json` and `scoring.json`); adding one is adding files. Every
version ever shipped stays, because stored responses are validated and read
against the exact version they name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from functools import cache, cached_property
from importlib import resources
from typing import Any

from pydantic import ValidationError

from assessments.answers import plain_value
from assessments.calculated import calculated_link_ids
from assessments.questionnaire import ItemDefinition, QuestionnaireDefinition, QuestionnaireError
from assessments.scoring import Range, scale_ranges
from assessments.spec import ScoringSpec


class InstrumentError(ValueError):
    """An instrument's files do not agree; `defects` lists every disagreement."""

    def __init__(self, defects: list[str]) -> None:
        super().__init__("; ".join(defects))
        self.defects = defects


@dataclass(frozen=True)
class Instrument:
    slug: str
    questionnaire: dict[str, Any] = field(repr=False)
    scoring: ScoringSpec = field(repr=False)
    definition: QuestionnaireDefinition = field(repr=False)
    ranges: dict[str, Range] = field(repr=False)

    @property
    def url(self) -> str:
        return self.scoring.instrument.url

    @cached_property
    def calculated_items(self) -> frozenset[str]:
        """The items the Questionnaire computes itself (SDC calculatedExpression)."""
        return calculated_link_ids(self.questionnaire)

    @cached_property
    def reported_ranges(self) -> dict[str, tuple[float, float]]:
        """Each scale's lowest and highest value as a score reports them (floats)."""
        return {code: (float(low), float(high)) for code, (low, high) in self.ranges.items()}

    @property
    def version(self) -> str:
        return self.scoring.instrument.version

    @property
    def canonical(self) -> str:
        return f"{self.url}|{self.version}"

    @property
    def title(self) -> str:
        return self.definition.title or self.slug

    @classmethod
    def from_documents(cls, questionnaire: dict[str, Any], scoring: dict[str, Any]) -> Instrument:
        """Read and cross-check a Questionnaire and its scoring spec."""
        try:
            definition = QuestionnaireDefinition.from_fhir(questionnaire)
        except QuestionnaireError as error:
            raise InstrumentError(error.defects) from error
        try:
            spec = ScoringSpec.model_validate(scoring)
        except ValidationError as error:
            raise InstrumentError(
                [f"scoring {'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()]
            ) from error
        defects = _cross_check(definition, spec)
        ranges: dict[str, Range] = {}
        if not defects:
            try:
                ranges = scale_ranges(spec, definition)
            except ValueError as error:
                defects.append(str(error))
        if not defects:
            defects.extend(_check_bands(spec, ranges))
        if defects:
            raise InstrumentError(defects)
        return cls(
            slug=spec.instrument.slug,
            questionnaire=questionnaire,
            scoring=spec,
            definition=definition,
            ranges=ranges,
        )


@cache
def builtin_instruments() -> tuple[Instrument, ...]:
    """Every built-in instrument, every version, ordered by slug then version."""
    root = resources.files("assessments") / "instruments"
    found = []
    for slug_dir in root.iterdir():
        if not slug_dir.is_dir():
            continue
        for version_dir in slug_dir.iterdir():
            if not version_dir.is_dir():
                continue
            questionnaire = json.loads((version_dir / "questionnaire.json").read_text("utf-8"))
            scoring = json.loads((version_dir / "scoring.json").read_text("utf-8"))
            instrument = Instrument.from_documents(questionnaire, scoring)
            if (instrument.slug, instrument.version) != (slug_dir.name, version_dir.name):
                where = f"{slug_dir.name}/{version_dir.name}"
                raise InstrumentError([f"{where} holds {instrument.slug} {instrument.version}"])
            found.append(instrument)
    return tuple(sorted(found, key=lambda i: (i.slug, version_key(i.version))))


def load_builtin(reference: str) -> Instrument:
    """A built-in by slug, canonical url, or `url|version`; without a version, the latest."""
    found = _builtin_references().get(reference)
    if found is None:
        raise KeyError(f"no built-in instrument '{reference}'")
    return found


@cache
def _builtin_references() -> dict[str, Instrument]:
    """Every reference `load_builtin` answers, made once: every submission and read looks
    its instrument up here."""
    references: dict[str, Instrument] = {}
    for instrument in builtin_instruments():  # oldest version first: the latest stays
        for base in (instrument.slug, instrument.url):
            references[base] = instrument
            references[f"{base}|{instrument.version}"] = instrument
    return references


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Orders versions numerically part by part: 1.10.0 after 1.9.0."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in version.split("."))


def _cross_check(definition: QuestionnaireDefinition, spec: ScoringSpec) -> list[str]:
    defects = []
    if definition.url != spec.instrument.url or definition.version != spec.instrument.version:
        defects.append(
            f"scoring is for {spec.instrument.url}|{spec.instrument.version} but the "
            f"Questionnaire is {definition.canonical}"
        )
    seen: set[str] = set()
    for scale in spec.scales:
        if scale.code in seen:
            defects.append(f"scale '{scale.code}' is defined twice")
        for link_id in scale.items:
            item = definition.by_link_id.get(link_id)
            if item is None:
                defects.append(
                    f"scale '{scale.code}': item '{link_id}' is not in the Questionnaire"
                )
            elif item.value_range is None:
                defects.append(
                    f"scale '{scale.code}': item '{link_id}' has no numeric values "
                    "(ordinalValue on every option, or min and max)"
                )
        for code in scale.scales:
            if code not in seen:
                defects.append(f"scale '{scale.code}': scale '{code}' must be defined before it")
        seen.add(scale.code)
    for rule in spec.flags:
        item = definition.by_link_id.get(rule.item)
        if item is None:
            defects.append(f"flag '{rule.code}': item '{rule.item}' is not in the Questionnaire")
        elif not _can_equal(item, rule.equals):
            defects.append(
                f"flag '{rule.code}': item '{rule.item}' ({item.type}) can never be "
                f"answered {rule.equals!r}"
            )
    for link_id in spec.private_items:
        if link_id not in definition.by_link_id:
            defects.append(f"private item '{link_id}' is not in the Questionnaire")
    return defects


def _can_equal(item: ItemDefinition, value: bool | int | str) -> bool:
    """Whether some answer to `item` gives `value` (a coding gives its code)."""
    if item.type == "boolean":
        return isinstance(value, bool)
    if item.options:
        given = [plain_value(o.value_key, o.value) for o in item.options]
        return any(type(g) is type(value) and g == value for g in given)
    if item.type == "integer":
        return type(value) is int
    return item.type in ("string", "text") and isinstance(value, str)


def _check_bands(spec: ScoringSpec, ranges: dict[str, Range]) -> list[str]:
    """Each scale's bands must cover its whole range, each reported value exactly once."""
    defects = []
    for scale in spec.scales:
        low, high = ranges[scale.code]
        step = Fraction(1, 10**scale.decimals)
        points = {low, high}
        for band in scale.bands:
            for bound in band.bounds():
                bound = Fraction(bound)
                points.update({bound - step, bound, bound + step})
        for point in sorted(p for p in points if low <= p <= high):
            value = Decimal(point.numerator) / Decimal(point.denominator)
            holders = [b.code for b in scale.bands if b.contains(value)]
            if len(holders) != 1:
                defects.append(
                    f"scale '{scale.code}': value {value:g} falls in "
                    f"{len(holders)} bands ({', '.join(holders) or 'none'})"
                )
    return defects
