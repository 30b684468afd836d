"""Assignments (FHIR Task): homework given to one client."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field

from schemas.base import ClinicOwned, PlainText, UTCDateTime, new_id, utcnow
from schemas.instrument import InstrumentRef


class AssignmentStatus(StrEnum):
    REQUESTED = "requested"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class Assignment(ClinicOwned, table=True):
    __table_args__ = (
        UniqueConstraint("clinic_id", "id"),
        UniqueConstraint("clinic_id", "id", "client_id"),
        CheckConstraint(
            "status IN ('requested', 'in-progress', 'completed', 'cancelled')",
            name="status",
        ),
        ForeignKeyConstraint(["clinic_id", "client_id"], ["client.clinic_id", "client.id"]),
        ForeignKeyConstraint(["clinic_id", "couple_id"], ["couple.clinic_id", "couple.id"]),
        ForeignKeyConstraint(
            ["clinic_id", "instrument_id"], ["instrument.clinic_id", "instrument.id"]
        ),
        Index("ix_assignment_changes", "clinic_id", "change_seq"),
        Index("ix_assignment_updated", "clinic_id", "updated_at"),
        Index("ix_assignment_client", "clinic_id", "client_id"),
        Index("ix_assignment_couple", "clinic_id", "couple_id"),
        ForeignKeyConstraint(["clinic_id", "plan_id"], ["plan.clinic_id", "plan.id"]),
        Index("ix_assignment_plan", "clinic_id", "plan_id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    client_id: uuid.UUID
    couple_id: uuid.UUID | None = None
    instrument_id: uuid.UUID
    status: AssignmentStatus = Field(default=AssignmentStatus.REQUESTED, sa_type=String(20))
    due: date | None = None
    note: str | None = Field(default=None, sa_type=Text)
    # homework from a plan: the plan, its version, and the library activity (none for
    # the plan's re-assessment)
    plan_id: uuid.UUID | None = None
    plan_version: int | None = None
    activity_id: str | None = Field(default=None, max_length=64)
    change_seq: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": "0"})
    version: int = Field(
        default=0,
        sa_column_kwargs={"server_default": "1"},
        description="how many changes it has had (its FHIR versionId): "
        "`stamp_changes` and `number_status_change` count them, creation included",
    )
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PortalLink(ClinicOwned, table=True):
    """A client's way into the portal, handed out with one assignment.

    Only the SHA-256 of the token is stored. The link opens that client's own
    assignments, and stops working when it expires, is revoked, or its
    assignment is cancelled.
    """

    __tablename__ = "portal_link"
    __table_args__ = (
        UniqueConstraint("token_hash"),
        # A link opens its assignment's client's homework, no one else's.
        ForeignKeyConstraint(
            ["clinic_id", "assignment_id", "client_id"],
            ["assignment.clinic_id", "assignment.id", "assignment.client_id"],
        ),
        Index("ix_portal_link_assignment", "clinic_id", "assignment_id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    assignment_id: uuid.UUID
    client_id: uuid.UUID
    token_hash: str = Field(max_length=64)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# The REST contract (/v1 and the portal's JSON API)


class AssignmentCreate(BaseModel):
    """Homework for one client, or for both partners of a couple (one assignment each)."""

    model_config = ConfigDict(extra="forbid")

    instrument: PlainText = Field(
        min_length=1,
        max_length=300,
        description="slug, canonical url, or url|version",
        schema_extra={"examples": ["balance-assessment"]},
    )
    client_id: uuid.UUID | None = None
    couple_id: uuid.UUID | None = None
    due: date | None = None
    note: PlainText | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def _one_recipient(self) -> AssignmentCreate:
        if (self.client_id is None) == (self.couple_id is None):
            raise ValueError("give exactly one of client_id and couple_id")
        return self


class AssignmentUpdate(BaseModel):
    """Change the due date or note, or cancel (which also stops its portal links)."""

    model_config = ConfigDict(extra="forbid")

    due: date | None = None
    note: PlainText | None = Field(default=None, max_length=2000)
    status: Literal["cancelled"] | None = None


class AssignmentPublic(BaseModel):
    id: uuid.UUID
    client_id: uuid.UUID
    couple_id: uuid.UUID | None
    instrument: InstrumentRef
    status: AssignmentStatus
    due: date | None
    note: str | None
    response_id: uuid.UUID | None = Field(description="the completed response, once there is one")
    created_at: datetime
    updated_at: datetime
    portal_url: str | None = Field(
        default=None,
        description="the client's link; returned only when a link is made, never stored",
    )


class AssignmentsCreated(BaseModel):
    assignments: list[AssignmentPublic]


class AssignmentPage(BaseModel):
    items: list[AssignmentPublic]
    next_cursor: str = Field(
        description="pass as `cursor` to continue; at the end of the list it still marks where "
        "you stopped, so polling with it later returns only later changes"
    )
    has_more: bool


class PortalLinkIssued(BaseModel):
    assignment_id: uuid.UUID
    portal_url: str
    expires_at: datetime


class LinksRevoked(BaseModel):
    assignment_id: uuid.UUID
    revoked: int = Field(description="how many live links of the client were revoked")


class PortalHomework(BaseModel):
    """Homework from the client's plan: what to do, and what to log when it is done."""

    activity_id: str
    title: str
    instructions: str
    who: Literal["each-partner", "together"]
    log_minutes: bool = Field(description="the log asks how many minutes it took")
    log_reflection: bool = Field(description="the log invites a reflection (private)")
    note: str | None = Field(description="the counsellor's note for this activity")


class PortalAssignment(BaseModel):
    """An assignment as its client sees it in the portal."""

    id: uuid.UUID
    title: str
    instrument: InstrumentRef
    status: AssignmentStatus
    due: date | None
    homework: PortalHomework | None = Field(
        default=None, description="for plan homework: log it with POST .../log"
    )


class HomeworkLog(BaseModel):
    """Logging one piece of homework: done or not, and optionally minutes and a reflection.
    The reflection is private: only the client and their counsellor see it."""

    model_config = ConfigDict(extra="forbid")

    done: bool
    minutes: int | None = Field(default=None, ge=0, le=1440)
    reflection: PlainText | None = Field(default=None, max_length=4000)


class PortalQuestionnaire(BaseModel):
    assignment_id: uuid.UUID
    questionnaire: dict[str, Any]
    saved_response: dict[str, Any] | None = Field(
        description="answers saved earlier (in-progress), to resume from"
    )
