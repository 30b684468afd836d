"""Column types and the clinic-ownership mixin shared by every table."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime
from sqlalchemy import JSON, DateTime, Dialect
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine
from sqlmodel import Field, SQLModel

# Every constraint and index gets a predictable name, so later migrations can
# drop or alter it by name (SQLite's batch mode needs that).
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# JSON documents (FHIR resources, scoring specs): JSONB on PostgreSQL, JSON text elsewhere.
JSONDocument = JSON().with_variant(JSONB(), "postgresql")


class _SQLiteDateTime(sqlite.DATETIME):
    """SQLite's DATETIME, its text written by `datetime.isoformat`: the same text as
    SQLAlchemy's default storage format (a four-digit year, always six digits of
    microseconds), made without the dict and %-formatting SQLAlchemy spends on each value
    (a submission writes ten). Read back by SQLAlchemy's own processor. Given a storage
    format of its own, it writes that one as SQLAlchemy does."""

    def bind_processor(self, dialect: Dialect) -> Any:
        if self._storage_format != sqlite.DATETIME._storage_format:
            return super().bind_processor(dialect)

        def process(value: datetime | None) -> str | None:
            return None if value is None else value.isoformat(" ", "microseconds")

        return process


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database.

    SQLite keeps no zone, so values are stored as UTC and read back as UTC;
    a naive datetime is refused rather than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(_SQLiteDateTime())
        return super().load_dialect_impl(dialect)

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: Tandem stores timezone-aware UTC datetimes only")
        if value.tzinfo is not UTC:
            value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _plain(value: str) -> str:
    if any(ord(c) < 32 and c not in "\t\r\n" for c in value):
        raise ValueError("must not contain control characters")
    return value


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range once converted to UTC") from None


# A moment from a request, with a time zone, converted to UTC (a 4xx if it cannot be).
Instant = Annotated[AwareDatetime, AfterValidator(_in_utc)]

# Text from a request: no control characters (FHIR forbids them; PostgreSQL refuses NUL).
PlainText = Annotated[str, AfterValidator(_plain)]


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> uuid.UUID:
    """A new row id: a time-ordered UUID (RFC 9562 version 7).

    74 of its bits are random, so ids still cannot be guessed or enumerated
    (another clinic's ids answer 404, and probing them is hopeless); the first
    48 are the time in milliseconds, so rows made one after another sit side
    by side in every index on their id. With random (version 4) ids each new
    response and score landed on a page of its own in each of those indexes,
    and writing those pages out was most of a submission's commit (see the
    README's performance section). The creation time an id shows is no secret:
    every resource states it in `meta.lastUpdated` anyway.
    """
    milliseconds = time.time_ns() // 1_000_000
    random = int.from_bytes(os.urandom(10), "big")  # 80 bits, of which 74 are used
    return uuid.UUID(
        int=(milliseconds & _48_BITS) << 80
        | 0x7 << 76  # version 7
        | (random >> 68) << 64  # rand_a: 12 bits
        | 0b10 << 62  # the RFC 9562 variant
        | random & _62_BITS  # rand_b
    )


_48_BITS = (1 << 48) - 1
_62_BITS = (1 << 62) - 1


class ClinicOwned(SQLModel):
    """Every table but `clinic` itself carries the clinic that owns its row.

    Sessions fill `clinic_id` in and filter every query by it (see
    `api.persistence.tenancy`); composite foreign keys on (clinic_id, id) make
    the database refuse a row that points into another clinic.
    """

    clinic_id: uuid.UUID | None = Field(default=None, foreign_key="clinic.id", nullable=False)
