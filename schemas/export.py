"""Bulk Data export jobs (FHIR `$export`): what was asked, and how far the worker got.

A job is queued by the kick-off request and run by whichever worker claims it
first (`api.services.bulk_export`); everything a second process needs to pick
it up, follow it or serve its files is in this row: the types, the `_since`
instant, the kick-off URL (as the manifest repeats it), counts and file names;
no resource content.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKeyConstraint, Index, String, Text, UniqueConstraint
from sqlmodel import Field

from schemas.assignment import Assignment
from schemas.base import ClinicOwned, JSONDocument, UTCDateTime, new_id, utcnow
from schemas.clinic import Client, Couple
from schemas.response import Response, Score


class ExportStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class ExportLevel(StrEnum):
    SYSTEM = "system"
    """`/fhir/$export`: everything of the clinic"""
    PATIENT = "patient"
    """`/fhir/Patient/$export`: every client and their compartments"""
    GROUP = "group"
    """`/fhir/Group/{id}/$export`: one couple's members and their compartments"""


class ExportJob(ClinicOwned, table=True):
    """One `$export` request.

    `status` moves queued -> running -> done (or failed); cancelled and
    expired jobs keep their row (who exported what, and when) but lose their
    files. A running job holds a lease (`lease_until`) that its worker renews
    after every batch; a job whose lease ran out is claimed again, from the
    start, up to a few `attempts`. `output` and `errors` list the files made:
    `{"type", "name", "count"}` each, named within the job's directory.
    """

    __tablename__ = "export_job"
    __table_args__ = (
        UniqueConstraint("clinic_id", "id"),
        CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed', 'cancelled', 'expired')",
            name="status",
        ),
        CheckConstraint("level IN ('system', 'patient', 'group')", name="level"),
        ForeignKeyConstraint(["clinic_id", "group_id"], ["couple.clinic_id", "couple.id"]),
        # the workers' question, across clinics: what is waiting, or held by a lease run out?
        Index("ix_export_job_claim", "status", "lease_until"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    status: ExportStatus = Field(default=ExportStatus.QUEUED, sa_type=String(20))
    level: ExportLevel = Field(sa_type=String(20))
    group_id: uuid.UUID | None = None
    types: list[str] = Field(sa_type=JSONDocument)
    since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    request_url: str = Field(sa_type=Text)
    requested_by: str = Field(max_length=64, description="the integration's client_id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    attempts: int = 0
    worker: str | None = Field(default=None, max_length=200)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    transaction_time: datetime | None = Field(default=None, sa_type=UTCDateTime)
    types_done: int = 0
    resources_done: int = 0
    output: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONDocument)
    errors: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSONDocument)
    failure: str | None = Field(default=None, sa_type=Text)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# The order an export (and a FHIR search's default order) reads each type in: by when
# its rows were made, within the clinic. An export pages through a type a thousand rows
# at a time from the last (created, id) it wrote; without these, every page sorted all
# of the clinic's rows of the type again (bench/export.py: 0.6 s a page at 100,000
# responses on SQLite, and growing with the clinic). Declared here, with the export
# that needs them, they belong to their tables all the same (migration 0008).
CREATION_ORDER = tuple(
    Index(f"ix_{table.__tablename__}_created", table.clinic_id, table.created_at, table.id)
    for table in (Client, Couple, Response, Score, Assignment)
)
