"""Hot statements prepared once and run straight on the driver: sqlite3, or psycopg's
asyncio connection.

Around the driver's own work SQLAlchemy spends about 45 us a statement on
SQLite (execution context, event dispatch, result metadata) and more on its
asyncio layer for PostgreSQL; a portal submission runs seven statements, a
read of a response one. A `Prepared` statement is compiled by SQLAlchemy
itself, once: the same SQL, the same bind processors (a UUID becomes its hex
on SQLite) and the same result processors (text becomes a UTC datetime, JSON
a document). Only SQLAlchemy's per-call machinery is left out. It runs in the
caller's transaction: on SQLite the one SQLAlchemy began on the same
connection, on PostgreSQL psycopg's own.

An INSERT is prepared for the columns its rows name (`keys`) and runs all
its rows in one `executemany`. The columns they leave out that have a
Python-side default (an id, a timestamp, an empty list) get it here, row by
row, as SQLAlchemy would give it: a constant, or a function of no arguments.
A submission inserts its response and its scores this way.

What this cannot run (`Prepared.of` gives None): inserts with preset values
or RETURNING, or with a default made by a sequence run first or by a function
of SQLAlchemy's execution context; IN lists expanded at execution (a fixed
list is written with `tenancy.one_of`); statements whose bind names need
escaping. On SQLite such a statement runs through SQLAlchemy, as does any
statement until its second run, so statements built for one request are
never compiled twice over; on PostgreSQL every statement runs prepared and
one that cannot is refused (`ClinicConnection.execute`).
"""

from __future__ import annotations

import functools
import sqlite3
from collections import namedtuple
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from sqlalchemy import Dialect, Insert
from sqlalchemy.engine import Compiled
from sqlalchemy.exc import MultipleResultsFound, NoResultFound
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.schema import CallableColumnDefault

Processor = Callable[[Any], Any] | None
Rows = dict[str, Any] | list[dict[str, Any]]  # one statement's parameters, or an INSERT's rows
_DRIVERS = {("sqlite", "pysqlite", False), ("postgresql", "psycopg", True)}


class Prepared:
    """One statement compiled for its dialect, with its processors, ready to run on the driver."""

    def __init__(
        self,
        compiled: Compiled,
        dialect: Dialect,
        defaults: dict[str, Callable[[], Any]] | None = None,
    ) -> None:
        self.sql = compiled.string
        self._defaults = defaults or {}  # an INSERT's left-out columns, made per row
        binds = {name: bind for bind, name in compiled.bind_names.items()}
        # SQLite's qmark parameters go by position; psycopg's pyformat ones by name.
        self._positional = compiled.positiontup is not None
        self._order: tuple[str, ...] = tuple(compiled.positiontup or binds)
        self._fixed = {name: bind.value for name, bind in binds.items() if not bind.required}
        self._bind: tuple[Processor, ...] = tuple(
            binds[name].type._cached_bind_processor(dialect) for name in self._order
        )
        self._dialect = dialect
        self._types = [column[3] for column in compiled._result_columns]
        # Result processors may depend on the driver's type codes (psycopg's numerics):
        # made from the first run's cursor description, as SQLAlchemy makes them.
        self._read: tuple[Processor, ...] | None = None
        names = [column[0] for column in compiled._result_columns]
        self._row = namedtuple("Row", names, rename=True)  # type: ignore[misc]

    @classmethod
    def of(
        cls, statement: Executable, dialect: Dialect, keys: tuple[str, ...] = ()
    ) -> Prepared | None:
        """The statement prepared for `dialect`'s driver, or None if it stays with SQLAlchemy.
        An INSERT is prepared for rows that name the columns `keys`."""
        driver = (dialect.name, dialect.driver, dialect.is_async)
        if driver not in _DRIVERS:
            return None
        defaults: dict[str, Callable[[], Any]] | None = None
        if isinstance(statement, Insert):
            if not keys or statement._values or statement._multi_values:
                return None
            if statement._returning or statement.select is not None:
                return None
            compiled = statement.compile(dialect=dialect, column_keys=list(keys))
            defaults = _python_defaults(compiled)
            if defaults is None:
                return None
        else:
            compiled = statement.compile(dialect=dialect)
        if compiled.escaped_bind_names or "POSTCOMPILE" in compiled.string:
            return None
        return cls(compiled, dialect, defaults)

    def run(self, driver: sqlite3.Connection, parameters: Rows) -> PreparedResult:
        """Run on sqlite3 (in the caller's transaction); an INSERT's rows in one `executemany`."""
        if isinstance(parameters, list):
            cursor = driver.executemany(self.sql, self.driver_values(parameters))
        else:
            cursor = driver.execute(self.sql, self.values(parameters))
        try:
            description = cursor.description
            found = cursor.fetchall() if description else []
            return PreparedResult(self._rows(description, found), cursor.rowcount)
        finally:
            cursor.close()

    async def run_async(self, driver: Any, parameters: Rows) -> PreparedResult:
        """Run on psycopg's asyncio connection (in the caller's transaction)."""
        async with driver.cursor() as cursor:
            await self.send(cursor, self.driver_values(parameters))
            return await self.result_of(cursor)

    async def send(self, cursor: Any, values: Any) -> None:
        """Run on psycopg's asyncio `cursor` with these `driver_values`: a list (an INSERT's
        rows; one statement's values are a dict on psycopg) in one `executemany`."""
        if isinstance(values, list):
            await cursor.executemany(self.sql, values)
        else:
            await cursor.execute(self.sql, values)

    async def result_of(self, cursor: Any) -> PreparedResult:
        """What this statement gave, once run on psycopg's asyncio `cursor`."""
        description = cursor.description  # psycopg builds it anew at each access
        found = await cursor.fetchall() if description else []
        return PreparedResult(self._rows(description, found), cursor.rowcount)

    def driver_values(self, parameters: Rows) -> Any:
        """`values` of one statement's parameters, or a list of them for an INSERT's rows."""
        if isinstance(parameters, list):
            return [self.values(row) for row in parameters]
        return self.values(parameters)

    def values(self, parameters: dict[str, Any]) -> list[Any] | dict[str, Any]:
        """The driver's parameters: processed, in order (SQLite) or by name (psycopg)."""
        values = []
        for name, process in zip(self._order, self._bind, strict=True):
            if name in parameters:
                value = parameters[name]
            elif name in self._defaults:
                value = self._defaults[name]()
            else:
                value = self._fixed[name]
            values.append(value if process is None else process(value))  # None too, as SQLAlchemy
        return values if self._positional else dict(zip(self._order, values, strict=True))

    def _rows(self, description: Any, found: list[tuple[Any, ...]]) -> list[Any]:
        if not found:
            return []
        if self._read is None:
            self._read = tuple(
                kind._cached_result_processor(self._dialect, column[1])
                for kind, column in zip(self._types, description, strict=True)
            )
        reads, make = self._read, self._row._make
        return [
            make(
                value if read is None or value is None else read(value)
                for value, read in zip(raw, reads, strict=True)
            )
            for raw in found
        ]


def _python_defaults(compiled: Compiled) -> dict[str, Callable[[], Any]] | None:
    """What an INSERT gives, row by row, the columns its rows leave out, or None if only
    SQLAlchemy can (a sequence run first, a function of its execution context). Defaults
    that are SQL are in the statement itself."""
    made: dict[str, Callable[[], Any]] = {}
    for column in compiled.insert_prefetch:
        default = column.default
        if default is None:
            return None
        if default.is_scalar:
            made[column.key] = partial(_constant, default.arg)  # type: ignore[attr-defined]
        elif default.is_callable and _without_context(default.arg):  # type: ignore[attr-defined]
            made[column.key] = partial(default.arg, None)  # type: ignore[attr-defined]
        else:
            return None
    return made


def _without_context(function: Any) -> bool:
    """Whether `function` is SQLAlchemy's wrapper around a default of no arguments, which
    ignores the execution context it is given."""
    return getattr(function, "__code__", None) in _WRAPPERS


# SQLAlchemy wraps a default that takes no arguments (a function, or any other callable)
# in a lambda of its own that drops the context; these are that lambda's code.
_WRAPPERS = frozenset(
    CallableColumnDefault(made).arg.__code__  # type: ignore[attr-defined]
    for made in (lambda: None, functools.partial(int, 0))
)


def _constant(value: Any) -> Any:
    return value


class PreparedResult:
    """The part of SQLAlchemy's `CursorResult` the hot paths use, over fetched rows."""

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def __iter__(self) -> Iterator[Any]:
        return iter(self._rows)

    def all(self) -> list[Any]:
        return list(self._rows)

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def one(self) -> Any:
        if len(self._rows) != 1:
            raise (NoResultFound if not self._rows else MultipleResultsFound)(
                f"expected one row, found {len(self._rows)}"
            )
        return self._rows[0]

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        return self.one()[0]
