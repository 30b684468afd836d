"""Responses (FHIR QuestionnaireResponse) and the scores derived from them (FHIR Observation)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import (
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field

from schemas.base import ClinicOwned, JSONDocument, UTCDateTime, new_id, utcnow
from schemas.instrument import InstrumentRef


class ResponseStatus(StrEnum):
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    AMENDED = "amended"
    ENTERED_IN_ERROR = "entered-in-error"
    STOPPED = "stopped"


class Response(ClinicOwned, table=True):
    """A client's answers, kept as the canonical QuestionnaireResponse JSON.

    A completed response is never edited: a correction is a new response with
    status `amended` whose `replaces_id` points at the one it corrects.
    """

    __table_args__ = (
        UniqueConstraint("clinic_id", "id"),
        CheckConstraint(
            "status IN ('in-progress', 'completed', 'amended', 'entered-in-error', 'stopped')",
            name="status",
        ),
        ForeignKeyConstraint(["clinic_id", "client_id"], ["client.clinic_id", "client.id"]),
        # A response to an assignment is by that assignment's client.
        ForeignKeyConstraint(
            ["clinic_id", "assignment_id", "client_id"],
            ["assignment.clinic_id", "assignment.id", "assignment.client_id"],
        ),
        ForeignKeyConstraint(
            ["clinic_id", "instrument_id"], ["instrument.clinic_id", "instrument.id"]
        ),
        ForeignKeyConstraint(["clinic_id", "replaces_id"], ["response.clinic_id", "response.id"]),
        Index("ix_response_client_authored", "clinic_id", "client_id", "authored"),
        # With created_at, "the assignment's latest response" is one index step; without it
        # SQLite walked ix_response_created (the export's) instead, a scan per assignment.
        Index("ix_response_assignment", "clinic_id", "assignment_id", "created_at"),
        Index("ix_response_identifier", "clinic_id", "identifier_value", "identifier_system"),
        # What a score row names (`Score`): its response with that response's client. A
        # unique index, not a constraint: SQLite adds it without rebuilding the table.
        Index("uq_response_clinic_id_id_client_id", "clinic_id", "id", "client_id", unique=True),
        # An assignment has at most one in-progress response: saves continue it.
        Index(
            "uq_response_in_progress",
            "clinic_id",
            "assignment_id",
            unique=True,
            postgresql_where=text("status = 'in-progress'"),
            sqlite_where=text("status = 'in-progress'"),
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    client_id: uuid.UUID
    assignment_id: uuid.UUID | None = None
    instrument_id: uuid.UUID
    status: ResponseStatus = Field(sa_type=String(20))
    authored: datetime | None = Field(default=None, sa_type=UTCDateTime)
    questionnaire_response: dict[str, Any] = Field(sa_type=JSONDocument)
    flags: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONDocument)
    replaces_id: uuid.UUID | None = None
    identifier_system: str | None = Field(default=None, max_length=255)
    identifier_value: str | None = Field(
        default=None, max_length=255, description="the response's own identifier, for search"
    )
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Score(ClinicOwned, table=True):
    """One scale's score from one response, with its band and interpretation.

    One foreign key names the row's response, its clinic and its client
    together, so a score cannot point into another clinic or name any client
    but its response's. The response's own keys already tie that clinic and
    that client to their rows; a score needs no keys of its own to them. A
    submission writes six score rows or more: each key would be checked for
    each row (on PostgreSQL, each check also locks the clinic's or the
    client's row), and 18 of a submission's 22 checks were the score rows'
    (README, performance).
    """

    __table_args__ = (
        UniqueConstraint("clinic_id", "response_id", "scale"),  # scoped lookups use it whole
        ForeignKeyConstraint(
            ["clinic_id", "response_id", "client_id"],
            ["response.clinic_id", "response.id", "response.client_id"],
            ondelete="CASCADE",
        ),
        Index("ix_score_client_scale", "clinic_id", "client_id", "scale"),
    )

    # The clinic, without a key of its own to `clinic`: the one to the response holds it.
    clinic_id: uuid.UUID | None = Field(default=None, nullable=False)
    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    response_id: uuid.UUID
    client_id: uuid.UUID
    scale: str = Field(max_length=64)
    label: str = Field(max_length=255)
    value: float | None = None
    min: float | None = Field(default=None, description="None when not known (SDC-calculated)")
    max: float | None = None
    band: str | None = Field(default=None, max_length=64)
    interpretation: str | None = Field(default=None, sa_type=Text)
    items_used: list[str] = Field(default_factory=list, sa_type=JSONDocument)
    unscored_reason: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# The REST contract (/v1 and the portal's JSON API)


class ScorePublic(BaseModel):
    scale: str
    label: str
    value: float | None
    min: float | None = Field(
        description="None when not known: a score an imported instrument calculates itself (SDC)"
    )
    max: float | None
    band: str | None
    interpretation: str | None
    items_used: list[str]
    unscored_reason: str | None = None


class FlagPublic(BaseModel):
    code: str
    severity: str
    item: str
    message: str
    private: bool = Field(description="raised by a private answer: for the counsellor only")


class ResponsePublic(BaseModel):
    """A response with its scores and flags: the counsellor's view, private answers included."""

    id: uuid.UUID
    assignment_id: uuid.UUID | None
    client_id: uuid.UUID
    instrument: InstrumentRef
    status: ResponseStatus
    authored: datetime | None
    questionnaire_response: dict[str, Any]
    scores: list[ScorePublic]
    flags: list[FlagPublic]


class ResultPoint(BaseModel):
    response_id: uuid.UUID
    assignment_id: uuid.UUID | None
    authored: datetime | None
    scores: list[ScorePublic]


class ResultSeries(BaseModel):
    client_id: uuid.UUID
    instrument: InstrumentRef
    points: list[ResultPoint] = Field(description="completed responses, oldest first")


class TrendPoint(BaseModel):
    response_id: uuid.UUID
    authored: datetime | None
    value: float
    band: str | None


class ChangePublic(BaseModel):
    before: float
    after: float
    difference: float = Field(description="after - before")
    rci: float | None = Field(
        description="Jacobson-Truax reliable change index; null when not computable"
    )
    classification: Literal[
        "recovered",
        "reliably-improved",
        "reliably-deteriorated",
        "reliable-change",
        "no-reliable-change",
        "not-computable",
    ]
    reason: str = Field(description="the figures used, or why the index cannot be computed")


class ScaleTrend(BaseModel):
    scale: str
    label: str
    direction: str
    points: list[TrendPoint] = Field(description="scored responses, oldest first")
    first_to_latest: ChangePublic | None = Field(description="null with fewer than two points")
    previous_to_latest: ChangePublic | None = Field(description="null with fewer than two points")


class TrendReport(BaseModel):
    client_id: uuid.UUID
    instrument: InstrumentRef
    scales: list[ScaleTrend]


class PortalSubmitted(BaseModel):
    status: Literal["completed"]
    response_id: uuid.UUID


class PortalSaved(BaseModel):
    status: Literal["in-progress"]
    response_id: uuid.UUID
