"""Integrations (OAuth2 clients of a clinic) and the idempotency records of their writes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field

from schemas.base import ClinicOwned, JSONDocument, UTCDateTime, new_id, utcnow


class Integration(ClinicOwned, table=True):
    """A practice-management system's credentials: an OAuth2 confidential client.

    `client_id` is public and unique across clinics; only the SHA-256 of the
    secret is stored. `scope` lists the SMART scopes the client may be granted.
    """

    __table_args__ = (UniqueConstraint("client_id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    client_id: str = Field(max_length=64)
    secret_hash: str = Field(max_length=64)
    name: str = Field(max_length=200)
    scope: str = Field(max_length=1000)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class IdempotencyRecord(ClinicOwned, table=True):
    """The stored outcome of a POST made with an `Idempotency-Key`, replayed on retry."""

    __tablename__ = "idempotency_record"
    __table_args__ = (
        UniqueConstraint("clinic_id", "key"),
        Index("ix_idempotency_record_created", "created_at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    key: str = Field(max_length=255)
    fingerprint: str = Field(max_length=64)
    status_code: int
    body: Any = Field(sa_type=JSONDocument)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
