"""Datetimes are stored as UTC, on SQLite as the text SQLAlchemy's DATETIME writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, MetaData, Table, create_engine, insert, select
from sqlalchemy.dialects import sqlite

from schemas.base import UTCDateTime, _SQLiteDateTime

MOMENTS = [
    datetime(2026, 11, 29, 5, 1, 2, tzinfo=UTC),  # no microseconds: still written, as 000000
    datetime(2026, 11, 29, 5, 1, 2, 7, tzinfo=UTC),
    datetime(1, 1, 1, 0, 0, 0, 999999, tzinfo=UTC),  # a four-digit year, padded
    datetime(9999, 12, 31, 23, 59, 59, 123456, tzinfo=UTC),
    datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
    datetime(2026, 1, 1, 0, 15, tzinfo=timezone(timedelta(hours=14))),  # the day before, in UTC
    datetime(2026, 6, 1, 12, 0, 0, 1, tzinfo=timezone(timedelta(0))),  # UTC, another object
]


@pytest.mark.parametrize("moment", MOMENTS, ids=str)
def test_sqlite_text_is_what_sqlalchemys_datetime_writes_for_the_utc_time(moment):
    dialect = sqlite.dialect()
    assert isinstance(UTCDateTime().dialect_impl(dialect).impl, _SQLiteDateTime)
    ours = UTCDateTime()._cached_bind_processor(dialect)
    sqlalchemys = sqlite.DATETIME().bind_processor(dialect)
    in_utc = moment.astimezone(UTC).replace(tzinfo=None)
    assert ours(moment) == sqlalchemys(in_utc)


def test_datetimes_read_back_as_the_same_utc_moment_and_naive_ones_are_refused(tmp_path):
    table = Table("moments", MetaData(), Column("at", UTCDateTime()))
    engine = create_engine(f"sqlite:///{tmp_path / 'moments.db'}")
    try:
        table.create(engine)
        with engine.begin() as connection:
            connection.execute(insert(table), [{"at": moment} for moment in MOMENTS])
            read = connection.execute(select(table.c.at)).scalars().all()
            with pytest.raises(Exception, match="naive datetime"):
                connection.execute(insert(table), [{"at": datetime(2026, 1, 1)}])
    finally:
        engine.dispose()
    assert read == MOMENTS and all(value.tzinfo is UTC for value in read)
