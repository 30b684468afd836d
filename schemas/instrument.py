"""Instruments a clinic can assign: the built-ins and those it imported."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from sqlalchemy import CheckConstraint, Index, String, UniqueConstraint
from sqlmodel import Field

from schemas.base import ClinicOwned, JSONDocument, UTCDateTime, new_id, utcnow


class InstrumentSource(StrEnum):
    BUILTIN = "builtin"
    IMPORTED = "imported"


class Instrument(ClinicOwned, table=True):
    """One version of a Questionnaire held by a clinic, with its scoring spec.

    Built-ins are installed into every clinic; a clinic may import standard
    instruments of its own. `url|version` is unique within a clinic and rows
    are never edited, so a response is always read against what it answered.
    """

    __table_args__ = (
        UniqueConstraint("clinic_id", "id"),
        UniqueConstraint("clinic_id", "url", "version"),
        CheckConstraint("source IN ('builtin', 'imported')", name="source"),
        Index("ix_instrument_slug", "clinic_id", "slug"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    slug: str = Field(max_length=100)
    url: str = Field(max_length=255)
    version: str = Field(max_length=50)
    title: str = Field(max_length=255)
    source: InstrumentSource = Field(sa_type=String(20))
    questionnaire: dict[str, Any] = Field(sa_type=JSONDocument)
    scoring: dict[str, Any] | None = Field(default=None, sa_type=JSONDocument)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# The REST contract (/v1)


class InstrumentRef(BaseModel):
    slug: str
    url: str
    version: str


class ScaleInfo(BaseModel):
    code: str
    label: str
    min: float
    max: float
    direction: str


class InstrumentSummary(InstrumentRef):
    canonical: str = Field(description="url|version, as a QuestionnaireResponse names it")
    title: str
    source: InstrumentSource
    scales: list[ScaleInfo]


class InstrumentDetail(InstrumentSummary):
    questionnaire: dict[str, Any] = Field(description="the FHIR R4 Questionnaire")
