"""Intervention plans (FHIR CarePlan): goals and homework activities for a couple, versioned.

A `Plan` is the couple's plan over time; each `PlanVersion` is one version
of it: a draft the counsellor edits, then approved (active), then, once a
later version is approved, superseded but still readable. Activities and
goals live in the version as JSON (their shape is `PlanActivity` and
`PlanGoal`). Homework made on approval is ordinary assignments that name
the plan, the version and the activity.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, model_validator
from pydantic import Field as PydanticField
from sqlalchemy import ForeignKeyConstraint, Index, String, Text, UniqueConstraint
from sqlmodel import Field

from schemas.base import ClinicOwned, JSONDocument, PlainText, UTCDateTime, new_id, utcnow


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("not a time zone: use an IANA name such as Europe/Berlin") from None
    return value


def _plan_date(value: date) -> date:
    if not date(2000, 1, 1) <= value <= date(2199, 12, 31):
        raise ValueError("must be a date from 2000 to 2199")
    return value


# A day in a plan: bounded, so date arithmetic on it stays in range.
PlanDate = Annotated[date, AfterValidator(_plan_date)]


def _distinct(value: list[uuid.UUID] | None) -> list[uuid.UUID] | None:
    if value is not None and len(set(value)) != len(value):
        raise ValueError("names a partner twice")
    return value


# An IANA time zone: the plan's days (due dates, "today") are that zone's calendar days.
TimeZone = Annotated[str, PydanticField(min_length=1, max_length=64), AfterValidator(_zone)]

Cadence = Literal["daily", "weekly", "monthly", "once"]
MAX_PLAN_DAYS = 366


class PlanStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    SUPERSEDED = "superseded"


class Plan(ClinicOwned, table=True):
    """A couple's plan; its versions hold the content."""

    __table_args__ = (
        UniqueConstraint("clinic_id", "id"),
        ForeignKeyConstraint(["clinic_id", "couple_id"], ["couple.clinic_id", "couple.id"]),
        Index("ix_plan_couple", "clinic_id", "couple_id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    couple_id: uuid.UUID
    latest_version: int = 1
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PlanVersion(ClinicOwned, table=True):
    """One version of a plan. `revision` counts edits of a draft and makes the ETag."""

    __tablename__ = "plan_version"
    __table_args__ = (
        UniqueConstraint("clinic_id", "plan_id", "version"),
        ForeignKeyConstraint(["clinic_id", "plan_id"], ["plan.clinic_id", "plan.id"]),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    plan_id: uuid.UUID
    version: int
    status: PlanStatus = Field(default=PlanStatus.DRAFT, sa_type=String(20))
    revision: int = 1
    start: date
    end: date
    review_date: date | None = None
    time_zone: str = Field(default="UTC", max_length=64)
    note: str | None = Field(default=None, sa_type=Text)
    goals: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONDocument)
    activities: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONDocument)
    # each partner's balance assessment the plan was drafted from: {client_id: response_id}
    baseline: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDocument)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    approved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    approved_by: str | None = Field(default=None, max_length=64)


# The REST contract


class PlanActivity(BaseModel):
    """An activity in a plan: which library activity, for whom, how often, from when to when."""

    activity_id: str
    title: str
    who: Literal["each-partner", "together"]
    partners: list[uuid.UUID] = PydanticField(description="the partners it is homework for")
    cadence: Cadence
    start: date
    end: date
    note: str | None = None
    reasons: list[str] = PydanticField(
        default_factory=list, description="why the draft proposed it; empty when added by hand"
    )


class PlanGoal(BaseModel):
    client_id: uuid.UUID
    scale: str
    value: float | None
    band: str | None
    target_band: str
    text: str


class DraftRequest(BaseModel):
    """Options for a draft; every field has a default."""

    model_config = ConfigDict(extra="forbid")

    start: PlanDate | None = PydanticField(default=None, description="default: today there")
    time_zone: TimeZone = PydanticField(
        default="UTC", description="the clinic's, e.g. Europe/Berlin"
    )
    weeks: int = PydanticField(default=6, ge=1, le=52, description="the plan's length")
    review_date: PlanDate | None = PydanticField(
        default=None, description="re-assessment due date; default: the plan's last day"
    )
    max_activities: int = PydanticField(default=5, ge=1, le=18)


class ActivityEdit(BaseModel):
    """Add an activity (`activity_id` from the library), or change one already in the plan."""

    model_config = ConfigDict(extra="forbid")

    activity_id: str = PydanticField(min_length=1, max_length=64)
    partners: Annotated[
        list[uuid.UUID] | None,
        PydanticField(default=None, min_length=1, max_length=2),
        AfterValidator(_distinct),
    ] = None
    cadence: Cadence | None = None
    start: PlanDate | None = None
    end: PlanDate | None = None
    note: PlainText | None = PydanticField(default=None, max_length=2000)


class PlanEdit(BaseModel):
    """Changes to a plan; on an approved plan they make a new draft version."""

    model_config = ConfigDict(extra="forbid")

    start: PlanDate | None = None
    end: PlanDate | None = None
    review_date: PlanDate | None = None
    time_zone: TimeZone | None = None
    note: PlainText | None = PydanticField(default=None, max_length=4000)
    add: list[ActivityEdit] = PydanticField(default_factory=list, max_length=18)
    change: list[ActivityEdit] = PydanticField(default_factory=list, max_length=18)
    remove: list[str] = PydanticField(default_factory=list, max_length=18)

    @model_validator(mode="after")
    def _something(self) -> PlanEdit:
        if not self.model_fields_set:
            raise ValueError("name at least one change")
        return self


class PartnerAdherence(BaseModel):
    client_id: uuid.UUID
    expected: int = PydanticField(description="homework due on or before today")
    logged: int
    done: int
    rate: float | None = PydanticField(description="done / expected, 0-1; null before any is due")
    upcoming: int


class ActivityPublic(PlanActivity):
    adherence: list[PartnerAdherence] = PydanticField(
        default_factory=list, description="per partner, over every approved version"
    )


class ScaleChange(BaseModel):
    client_id: uuid.UUID
    scale: str
    before: float
    after: float
    difference: float
    rci: float | None
    classification: str
    reason: str


class PlanReview(BaseModel):
    """The re-assessment and, once both balance assessments are in, the change they show."""

    due: date | None
    assignment_ids: list[uuid.UUID]
    baseline: dict[str, uuid.UUID | None] = PydanticField(
        description="each partner's balance assessment the plan was drafted from"
    )
    latest: dict[str, uuid.UUID | None] = PydanticField(
        description="each partner's latest balance assessment after approval, if any"
    )
    changes: list[ScaleChange] = PydanticField(description="the targeted scales, per partner")


class VersionSummary(BaseModel):
    version: int
    status: PlanStatus
    approved_at: datetime | None
    approved_by: str | None


class PlanPublic(BaseModel):
    """A plan version (FHIR CarePlan shaped: goals, activities, period, status)."""

    id: uuid.UUID
    couple_id: uuid.UUID
    version: int
    status: PlanStatus
    start: date
    end: date
    review_date: date | None
    time_zone: str
    note: str | None
    goals: list[PlanGoal]
    activities: list[ActivityPublic]
    review: PlanReview | None = PydanticField(
        default=None, description="once approved: the re-assessment and the change it shows"
    )
    versions: list[VersionSummary]
    created_at: datetime
    updated_at: datetime
    approved_at: datetime | None
    approved_by: str | None


class PortalLinkFor(BaseModel):
    client_id: uuid.UUID
    portal_url: str
    expires_at: datetime


class PlanApproved(PlanPublic):
    portal_links: list[PortalLinkFor] = PydanticField(
        description="each partner's link to their homework; returned once, never stored"
    )
    assignments_made: int
