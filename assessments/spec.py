"""The scoring specification that travels beside each instrument's Questionnaire.

A spec is data (`scoring.json`): its scales, the items of each, reverse keys,
the formula, the missing-data rule, bands with interpretation text, the
clinical cut-off and reliability where known, flags raised by single answers,
and the items whose answers are private to the counsellor. These models read
and check one; `assessments.catalogue` checks it against its Questionnaire.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from assessments.questionnaire import exact

Method = Literal["mean", "sum", "item", "difference", "scale-difference"]
Direction = Literal["higher-is-better", "lower-is-better", "toward-zero", "none"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Band(_Strict):
    """A range of a scale's value with its meaning.

    Bounds follow FHIR's search prefixes: `ge`/`gt` below, `le`/`lt` above.
    A band leaves a side open by naming no bound on it. Bands are matched
    against the value as reported (rounded), so what a counsellor reads and
    the band they see never disagree.
    """

    code: str
    label: str
    interpretation: str
    ge: Decimal | None = None
    gt: Decimal | None = None
    le: Decimal | None = None
    lt: Decimal | None = None

    @model_validator(mode="after")
    def _one_bound_each_side(self) -> Band:
        if self.ge is not None and self.gt is not None:
            raise ValueError(f"band '{self.code}' names both ge and gt")
        if self.le is not None and self.lt is not None:
            raise ValueError(f"band '{self.code}' names both le and lt")
        return self

    def contains(self, value: Decimal) -> bool:
        return (
            (self.ge is None or value >= self.ge)
            and (self.gt is None or value > self.gt)
            and (self.le is None or value <= self.le)
            and (self.lt is None or value < self.lt)
        )

    def bounds(self) -> list[Decimal]:
        return [b for b in (self.ge, self.gt, self.le, self.lt) if b is not None]


class Reliability(_Strict):
    """The figures the Jacobson-Truax reliable change index needs."""

    sd: Decimal = Field(gt=0, description="standard deviation of the scale in a reference sample")
    r: Decimal = Field(gt=0, lt=1, description="reliability (test-retest or internal consistency)")
    source: str


class Scale(_Strict):
    code: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    label: str
    description: str
    method: Method
    items: list[str] = []
    scales: list[str] = []
    reverse: list[str] = []
    rescale: tuple[Decimal, Decimal] | None = None
    min_answered: str | None = Field(
        default=None,
        description="share of items that must be answered to score a mean or sum, e.g. '0.8'",
    )
    decimals: int = Field(default=1, ge=0, le=4)
    direction: Direction
    bands: list[Band]
    cutoff: Decimal | None = None
    reliability: Reliability | None = None
    reliability_note: str | None = None

    @field_validator("min_answered")
    @classmethod
    def _fraction(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            share = Fraction(value)
        except (ValueError, ZeroDivisionError):
            share = None
        if share is None or not 0 < share <= 1:
            raise ValueError("min_answered must be a share between 0 and 1, e.g. '0.8'")
        return value

    @model_validator(mode="after")
    def _method_shape(self) -> Scale:
        if self.method in ("mean", "sum"):
            if not self.items or self.scales or self.min_answered is None:
                raise ValueError(f"scale '{self.code}': {self.method} needs items and min_answered")
        elif self.method == "item":
            if len(self.items) != 1 or self.scales or self.reverse:
                raise ValueError(f"scale '{self.code}': item needs exactly one item")
        elif self.method == "difference":
            if len(self.items) != 2 or self.scales or self.reverse:
                raise ValueError(f"scale '{self.code}': difference needs two items [a, b] (a - b)")
        elif len(self.scales) != 2 or self.items or self.reverse:
            raise ValueError(f"scale '{self.code}': scale-difference needs two scales [a, b]")
        if self.method not in ("mean", "sum") and (self.min_answered or self.rescale):
            raise ValueError(f"scale '{self.code}': min_answered and rescale are for mean and sum")
        if self.method == "sum" and self.rescale:
            raise ValueError(f"scale '{self.code}': rescale applies to mean only")
        if not set(self.reverse) <= set(self.items):
            raise ValueError(f"scale '{self.code}': reverse-keyed items must be among its items")
        if not self.bands:
            raise ValueError(f"scale '{self.code}' needs at least one band")
        return self

    @property
    def required_share(self) -> Fraction:
        """The share of items a mean or sum needs answered (all, if not given), exact."""
        return _share(self.min_answered)

    @property
    def exact_rescale(self) -> tuple[int | Fraction, int | Fraction] | None:
        """`rescale`'s ends as exact rationals: ints when whole."""
        return None if self.rescale is None else _exact_ends(self.rescale)


# Worked out once a value, not at every scoring (Fraction parses a string with a regex).
# Kept by value, not on the model: a copy with other values never sees stale ones.
@lru_cache(maxsize=256)
def _share(min_answered: str | None) -> Fraction:
    return Fraction(min_answered) if min_answered else Fraction(1)


@lru_cache(maxsize=256)
def _exact_ends(ends: tuple[Decimal, Decimal]) -> tuple[int | Fraction, int | Fraction]:
    return exact(ends[0]), exact(ends[1])


class FlagRule(_Strict):
    """A flag raised when one item is answered with one value."""

    code: str
    item: str
    equals: bool | int | str
    severity: Literal["high", "medium", "low"]
    message: str


class InstrumentRef(_Strict):
    slug: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    url: str
    version: str


class ScoringSpec(_Strict):
    instrument: InstrumentRef
    scales: list[Scale]
    flags: list[FlagRule] = []
    private_items: list[str] = Field(
        default=[],
        description="items whose answers only the counsellor sees, never the partner",
    )
    notes: str | None = None

    def scale(self, code: str) -> Scale:
        for scale in self.scales:
            if scale.code == code:
                return scale
        raise KeyError(code)
