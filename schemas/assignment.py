"""Assignments (FHIR Task): homework given to one client."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKeyConstraint, Index, String, Text, UniqueConstraint
from sqlmodel import Field

from schemas.base import ClinicOwned, UTCDateTime, new_id, utcnow


class AssignmentStatus(StrEnum):
    REQUESTED = "requested"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class Assignment(ClinicOwned, table=True):
    __table_args__ = (
        UniqueConstraint("clinic_id", "id"),
        CheckConstraint(
            "status IN ('requested', 'in-progress', 'completed', 'cancelled')",
            name="status",
        ),
        ForeignKeyConstraint(["clinic_id", "client_id"], ["client.clinic_id", "client.id"]),
        ForeignKeyConstraint(["clinic_id", "couple_id"], ["couple.clinic_id", "couple.id"]),
        ForeignKeyConstraint(
            ["clinic_id", "instrument_id"], ["instrument.clinic_id", "instrument.id"]
        ),
        Index("ix_assignment_changes", "clinic_id", "status", "updated_at", "id"),
        Index("ix_assignment_client", "clinic_id", "client_id"),
        Index("ix_assignment_couple", "clinic_id", "couple_id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    client_id: uuid.UUID
    couple_id: uuid.UUID | None = None
    instrument_id: uuid.UUID
    status: AssignmentStatus = Field(default=AssignmentStatus.REQUESTED, sa_type=String(20))
    due: date | None = None
    note: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
