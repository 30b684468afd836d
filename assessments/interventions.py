"""The intervention library: homework activities a counsellor can put in a couple's plan.

The activities are data (`interventions/library.json`), written by this
project. Each says what it addresses (bands of the balance assessment's
scales, or patterns between partners), what the client is asked to do in
plain language, who does it, how often, how completion is logged, and why a
counsellor would choose it. `load_library()` reads and checks the file once;
`check_against(instrument)` holds every indication to the scales and bands an
instrument really has, so a renamed band cannot leave an activity pointing at
nothing.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from assessments.catalogue import Instrument

LIBRARY = Path(__file__).with_name("interventions") / "library.json"

Who = Literal["each-partner", "together"]
Cadence = Literal["daily", "weekly", "monthly", "once"]
Pattern = Literal[
    "partners-differ",  # the partners' scores on `scale` differ by the report's threshold
    "pursue-withdraw",  # one partner enmeshed-leaning, the other detached-leaning
    "both-want-closeness",
    "both-want-space",
]
_SLUG = re.compile(r"^[a-z][a-z0-9-]{2,63}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Indication(_Strict):
    """When an activity fits: a scale in one of `bands`, or a pattern between partners.

    `instrument` is the canonical url of the instrument whose scale is meant.
    """

    instrument: str = "https://tandem.dev/fhir/Questionnaire/balance-assessment"
    scale: str | None = None
    bands: tuple[str, ...] = ()
    pattern: Pattern | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Indication:
        if self.pattern is None and (self.scale is None or not self.bands):
            raise ValueError("an indication names a scale and its bands, or a pattern")
        if self.pattern == "partners-differ" and self.scale is None:
            raise ValueError("partners-differ names the scale the partners differ on")
        if self.pattern is not None and self.bands:
            raise ValueError("a pattern takes no bands")
        return self


class Logging(_Strict):
    """What a client records on finishing it: done (always), and optionally minutes
    spent and a reflection (free text, private to the client and counsellor)."""

    minutes: bool = False
    reflection: bool = False


class Activity(_Strict):
    id: str
    title: str = Field(min_length=3, max_length=80)
    addresses: tuple[Indication, ...] = Field(min_length=1)
    instructions: str = Field(min_length=40, max_length=1200)
    who: Who
    cadence: Cadence
    logging: Logging
    rationale: str = Field(min_length=40, max_length=800)
    caution: str | None = Field(default=None, max_length=600)
    referral: str | None = Field(default=None, max_length=600)

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _SLUG.match(value):
            raise ValueError("an activity id is a lowercase slug: letters, digits and hyphens")
        return value

    @field_validator("title", "instructions", "rationale", "caution", "referral")
    @classmethod
    def _plain(cls, value: str | None) -> str | None:
        if value is not None and (value != value.strip() or any(ord(c) < 32 for c in value)):
            raise ValueError("plain text: no surrounding spaces or control characters")
        return value


class Library(_Strict):
    version: str
    activities: tuple[Activity, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Library:
        ids = [activity.id for activity in self.activities]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"activity ids repeat: {', '.join(repeated)}")
        return self

    def activity(self, activity_id: str) -> Activity:
        for activity in self.activities:
            if activity.id == activity_id:
                return activity
        raise KeyError(activity_id)


@cache
def load_library() -> Library:
    """The shipped library, read and checked once."""
    return Library.model_validate(json.loads(LIBRARY.read_text(encoding="utf-8")))


def check_against(library: Library, instrument: Instrument) -> list[str]:
    """Every indication for `instrument` that names a scale or band it does not have."""
    bands = {scale.code: {band.code for band in scale.bands} for scale in instrument.scoring.scales}
    wrong = []
    for activity in library.activities:
        for indication in activity.addresses:
            if indication.instrument != instrument.url or indication.scale is None:
                continue
            if indication.scale not in bands:
                wrong.append(f"{activity.id}: no scale '{indication.scale}'")
                continue
            wrong.extend(
                f"{activity.id}: scale '{indication.scale}' has no band '{band}'"
                for band in indication.bands
                if band not in bands[indication.scale]
            )
    return wrong
