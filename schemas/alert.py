"""Alerts for the counsellor (FHIR Flag): raised by the rules in `assessments.alerts`."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from pydantic import Field as PydanticField
from sqlalchemy import ForeignKeyConstraint, Index, String, Text, UniqueConstraint
from sqlmodel import Field

from schemas.base import ClinicOwned, JSONDocument, UTCDateTime, new_id, utcnow


class AlertStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"


class Alert(ClinicOwned, table=True):
    """One alert; `key` names what it is about, so each is stored once per clinic."""

    __table_args__ = (
        UniqueConstraint("clinic_id", "id"),
        UniqueConstraint("clinic_id", "key"),
        ForeignKeyConstraint(["clinic_id", "client_id"], ["client.clinic_id", "client.id"]),
        ForeignKeyConstraint(["clinic_id", "couple_id"], ["couple.clinic_id", "couple.id"]),
        Index("ix_alert_status", "clinic_id", "status", "priority", "raised_at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    client_id: uuid.UUID
    couple_id: uuid.UUID | None = None
    rule: str = Field(max_length=64)
    priority: int
    key: str = Field(max_length=255)
    message: str = Field(sa_type=Text)
    evidence: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDocument)
    status: AlertStatus = Field(default=AlertStatus.OPEN, sa_type=String(20))
    raised_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_by: str | None = Field(default=None, max_length=64)


class AlertPublic(BaseModel):
    id: uuid.UUID
    client_id: uuid.UUID
    couple_id: uuid.UUID | None
    rule: str
    priority: int = PydanticField(description="1 is the highest (safety)")
    message: str
    evidence: dict[str, Any]
    status: AlertStatus
    raised_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None = PydanticField(description="the integration that acknowledged it")


class AlertPage(BaseModel):
    items: list[AlertPublic]
