"""Clinics (tenants), their clients and couples."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import BigInteger, CheckConstraint, ForeignKeyConstraint, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from schemas.base import ClinicOwned, JSONDocument, PlainText, UTCDateTime, new_id, utcnow


class Clinic(SQLModel, table=True):
    """A tenant."""

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    name: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    # Origins (https://pm.example) whose pages may frame the embedded couple report;
    # none: no page may. Set with `tandem clinic origins`.
    embed_origins: list[str] = Field(
        default_factory=list, sa_type=JSONDocument, sa_column_kwargs={"server_default": "[]"}
    )


class ChangeCounter(ClinicOwned, table=True):
    """The clinic's count of changes to assignments.

    A number is taken (and this row locked) as the last step of each change,
    so the numbers' order is the order the changes commit in, and polling by
    them never skips one. It is a row of its own, not a column of `clinic`:
    every foreign key to `clinic` checks the clinic's row, and on PostgreSQL a
    row updated with every change slowed each such check (5 ms per inserted
    score row, measured before the move).
    """

    __tablename__ = "change_counter"

    clinic_id: uuid.UUID = Field(foreign_key="clinic.id", primary_key=True)
    seq: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": "0"})


class Client(ClinicOwned, table=True):
    """A person in care (FHIR Patient)."""

    __table_args__ = (UniqueConstraint("clinic_id", "id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    name: str | None = Field(default=None, max_length=200)
    birth_date: date | None = None
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ClientIdentifier(ClinicOwned, table=True):
    """An identifier the practice-management system gives a client (FHIR Identifier)."""

    __tablename__ = "client_identifier"
    __table_args__ = (
        UniqueConstraint("clinic_id", "system", "value"),
        ForeignKeyConstraint(
            ["clinic_id", "client_id"], ["client.clinic_id", "client.id"], ondelete="CASCADE"
        ),
        Index("ix_client_identifier_client", "clinic_id", "client_id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    client_id: uuid.UUID
    system: str = Field(max_length=255)
    value: str = Field(max_length=255)


class Couple(ClinicOwned, table=True):
    """Two clients in care together (FHIR Group, type person)."""

    __table_args__ = (
        UniqueConstraint("clinic_id", "id"),
        UniqueConstraint("clinic_id", "identifier_system", "identifier_value"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    identifier_system: str | None = Field(default=None, max_length=255)
    identifier_value: str | None = Field(default=None, max_length=255)
    version: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CoupleMember(ClinicOwned, table=True):
    """One partner of a couple; `position` 1 or 2, so a couple never has a third."""

    __tablename__ = "couple_member"
    __table_args__ = (
        CheckConstraint("position IN (1, 2)", name="position"),
        UniqueConstraint("couple_id", "position"),
        UniqueConstraint("couple_id", "client_id"),
        ForeignKeyConstraint(
            ["clinic_id", "couple_id"], ["couple.clinic_id", "couple.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(["clinic_id", "client_id"], ["client.clinic_id", "client.id"]),
        Index("ix_couple_member_client", "clinic_id", "client_id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    couple_id: uuid.UUID
    client_id: uuid.UUID
    position: int


# The REST contract (/v1)

_STRICT = ConfigDict(extra="forbid")


class Identifier(BaseModel):
    """An identifier from the practice-management system: its namespace and value."""

    model_config = _STRICT

    system: PlainText = Field(
        min_length=1, max_length=255, schema_extra={"examples": ["https://pm.example/clients"]}
    )
    value: PlainText = Field(min_length=1, max_length=255, schema_extra={"examples": ["C-1042"]})


class ClientCreate(BaseModel):
    model_config = _STRICT

    identifier: Identifier
    name: PlainText | None = Field(default=None, min_length=1, max_length=200)
    birth_date: date | None = None


class ClientPublic(BaseModel):
    id: uuid.UUID
    identifiers: list[Identifier]
    name: str | None
    birth_date: date | None
    created_at: datetime


class ClientPage(BaseModel):
    items: list[ClientPublic]
    next_cursor: str | None = Field(
        description="pass as `cursor` for the next page; null at the end"
    )


class CoupleCreate(BaseModel):
    model_config = _STRICT

    members: list[uuid.UUID] = Field(min_length=2, max_length=2, description="two client ids")
    identifier: Identifier | None = None


class CouplePublic(BaseModel):
    id: uuid.UUID
    members: list[uuid.UUID]
    identifier: Identifier | None
    created_at: datetime
