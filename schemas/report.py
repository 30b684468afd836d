"""The couple report (/v1/couples/{id}/report): the counsellor's view of a couple.

It carries private answers (the check-in's need text and safety flag): it is
for the counsellor's practice system only and no client-facing surface uses it.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from schemas.instrument import InstrumentRef
from schemas.response import FlagPublic


class PartnerScorePublic(BaseModel):
    value: float | None
    band: str | None


class ScaleComparisonPublic(BaseModel):
    scale: str
    label: str
    first: PartnerScorePublic | None
    second: PartnerScorePublic | None
    difference: float | None = Field(description="|first - second|; null unless both scored")
    threshold: float = Field(description="partners differ at this difference or more")
    partners_differ: bool


class PatternPublic(BaseModel):
    code: str
    rule: str = Field(description="the rule that raised it, in words")
    evidence: dict[str, str | float | None]


class PartnerBalance(BaseModel):
    client_id: uuid.UUID
    response_id: uuid.UUID | None = Field(description="the latest scored balance assessment")
    authored: datetime | None


class BalanceSection(BaseModel):
    instrument: InstrumentRef
    partners: list[PartnerBalance]
    scales: list[ScaleComparisonPublic]
    patterns: list[PatternPublic]


class RaisedFlag(FlagPublic):
    response_id: uuid.UUID
    authored: datetime | None


class PrivateAnswer(BaseModel):
    response_id: uuid.UUID
    authored: datetime | None
    link_id: str
    text: str


class CheckInPartner(BaseModel):
    client_id: uuid.UUID
    responses: int
    mean_balance_rating: float | None
    trend: Literal["rising", "falling", "steady"] | None
    slope_per_week: float | None
    rituals_kept: int
    rituals_reported: int
    weeks_missed: int = Field(description="weekly check-ins due in the window and not completed")
    flags: list[RaisedFlag] = Field(description="every flag raised, private ones included")
    private_answers: list[PrivateAnswer] = Field(description="free-text answers kept private")


class CheckInSection(BaseModel):
    weeks: int
    since: date
    partners: list[CheckInPartner]


class CoupleReport(BaseModel):
    couple_id: uuid.UUID
    generated_at: datetime
    balance: BalanceSection
    check_ins: CheckInSection
