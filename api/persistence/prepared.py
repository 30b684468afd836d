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

On psycopg a statement runs on a raw cursor, with PostgreSQL's own `$1`
placeholders: its `%(name)s` ones are numbered here, once, where psycopg
would parse the text at every run (and cache what it found only for
statements of at most 50 parameters).

An INSERT is prepared for the columns its rows name (`keys`) and runs all
its rows at once: in one `executemany` on sqlite3, and on psycopg as one
statement with a VALUES list a row (up to `MOST_ROWS` rows; more go in one
`executemany`). psycopg's `executemany` in a pipeline waits on the event loop
after every row it sends: six score rows cost six wakeups where one
statement costs one. The columns they leave out that have a
Python-side default (an id, a timestamp, an empty list) get it here, a new one
for each row, as SQLAlchemy would give it: a constant, or a function of no
arguments.
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
import re
import sqlite3
from collections import namedtuple
from collections.abc import Callable, Iterator
from functools import partial
from itertools import repeat
from operator import is_
from typing import Any

import psycopg
from sqlalchemy import Dialect, Insert
from sqlalchemy.engine import Compiled
from sqlalchemy.exc import MultipleResultsFound, NoResultFound
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.schema import CallableColumnDefault

Processor = Callable[[Any], Any] | None
Rows = dict[str, Any] | list[dict[str, Any]]  # one statement's parameters, or an INSERT's rows
_DRIVERS = {("sqlite", "pysqlite", False), ("postgresql", "psycopg", True)}
MOST_ROWS = 100  # rows of an INSERT sent as one statement on psycopg
_PERCENT = re.compile(r"%\(([^)]+)\)s|%%|%")  # psycopg's placeholder, escaped percent, or other


class Prepared:
    """One statement compiled for its dialect, with its processors, ready to run on the driver."""

    def __init__(
        self,
        compiled: Compiled,
        dialect: Dialect,
        positional: tuple[str, tuple[str, ...]],
        defaults: dict[str, Callable[[], Any]] | None = None,
    ) -> None:
        self._defaults = defaults or {}  # an INSERT's left-out columns, made per row
        binds = {name: bind for bind, name in compiled.bind_names.items()}
        # The statement with its parameters by position (`_positional`), and their names.
        self.sql, self._order = positional
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
        # psycopg: an INSERT's rows go as one statement (`rows_sql`) when its text allows.
        on_psycopg_inserting = compiled.positiontup is None and compiled.isinsert
        self._values_list = _values_list(compiled.string) if on_psycopg_inserting else None
        self._many_sql: dict[int, str] = {}

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
        positional = _positional(compiled)
        return None if positional is None else cls(compiled, dialect, positional, defaults)

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

    async def run_async(self, driver: psycopg.AsyncConnection, parameters: Rows) -> PreparedResult:
        """Run on psycopg's asyncio connection (in the caller's transaction)."""
        async with self.cursor(driver) as cursor:
            await self.send(cursor, self.driver_values(parameters))
            return await self.result_of(cursor)

    @staticmethod
    def cursor(driver: psycopg.AsyncConnection) -> psycopg.AsyncRawCursor:
        """A cursor on psycopg's asyncio `driver` for prepared statements: a raw one, which
        sends their numbered placeholders as they are."""
        return psycopg.AsyncRawCursor(driver)

    async def send(self, cursor: psycopg.AsyncRawCursor, values: Any) -> None:
        """Run on a `cursor` (see `cursor`) with these `driver_values`: a list is an INSERT's
        rows, sent as one statement (a tuple is one statement's values)."""
        if not isinstance(values, list):
            await cursor.execute(self.sql, values)
        elif len(values) == 1:
            await cursor.execute(self.sql, values[0])
        elif self._values_list is None or len(values) > MOST_ROWS:
            await cursor.executemany(self.sql, values)
        else:
            await cursor.execute(self.rows_sql(len(values)), [v for row in values for v in row])

    def rows_sql(self, count: int) -> str:
        """psycopg: this INSERT for `count` rows in one statement, its rows' placeholders
        numbered on from the first row's."""
        known = self._many_sql.get(count)
        if known is None:
            assert self._values_list is not None
            head, row, tail = self._values_list
            width = len(self._order)
            rows = []
            for n in range(count):
                numbered = _numbered(row, first=1 + n * width)
                assert numbered is not None  # the whole statement numbered (`of` checks)
                rows.append(numbered[0])
            known = self._many_sql[count] = f"{head}{', '.join(rows)}{tail}"
        return known

    async def result_of(self, cursor: Any) -> PreparedResult:
        """What this statement gave, once run on psycopg's asyncio `cursor`."""
        description = cursor.description  # psycopg builds it anew at each access
        found = await cursor.fetchall() if description else []
        return PreparedResult(self._rows(description, found), cursor.rowcount)

    def driver_values(self, parameters: Rows) -> Any:
        """`values` of one statement's parameters, or a list of them for an INSERT's rows."""
        if not isinstance(parameters, list):
            return self.values(parameters)
        if len(parameters) <= 1:
            return [self.values(row) for row in parameters]
        return self._rows_values(parameters)

    def _rows_values(self, rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        """`values` of each of an INSERT's rows, made column by column: a value that is one
        object in every row (the clinic, the response its scores belong to, the time) is
        processed once. Each row names the same columns (`connection._keys` refuses
        others), so where a column's values come from (given, a default made for each
        row, or fixed) is decided once for all rows, as `values` decides it for one."""
        count = len(rows)
        first = rows[0]
        columns = []
        for name, process in zip(self._order, self._bind, strict=True):
            if name in first:
                given = [row[name] for row in rows]
            elif name in self._defaults:
                make = self._defaults[name]
                given = [make() for _ in rows]
            else:
                given = [self._fixed[name]] * count
            if process is not None:
                one = given[0]
                if all(map(is_, given, repeat(one, count))):
                    given = [process(one)] * count
                else:
                    given = [process(value) for value in given]
            columns.append(given)
        return list(zip(*columns, strict=True))

    def values(self, parameters: dict[str, Any]) -> tuple[Any, ...]:
        """The driver's parameters: processed, in their placeholders' order."""
        values = []
        for name, process in zip(self._order, self._bind, strict=True):
            if name in parameters:
                value = parameters[name]
            elif name in self._defaults:
                value = self._defaults[name]()
            else:
                value = self._fixed[name]
            values.append(value if process is None else process(value))  # None too, as SQLAlchemy
        return tuple(values)

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


def _positional(compiled: Compiled) -> tuple[str, tuple[str, ...]] | None:
    """The statement's text with its parameters by position, and their names in that
    order: SQLite's qmark as compiled, psycopg's pyformat numbered; None if psycopg would
    not read it."""
    if compiled.positiontup is not None:
        return compiled.string, tuple(compiled.positiontup)
    return _numbered(compiled.string)


def _values_list(sql: str) -> tuple[str, str, str] | None:
    """A psycopg INSERT's text around its one VALUES list (numbered, `%%` made `%`), and
    that list with psycopg's placeholders; None if any placeholder is outside the list, if
    the list holds a quoted literal or name (a parenthesis in one would mislead the split),
    or if rows that meet a conflict are updated (two rows of one statement may not update
    the same row; `executemany` updates it twice, in order)."""
    head, found, rest = sql.partition(" VALUES (")
    end = _closing(rest)
    if not found or end < 0 or "'" in rest[:end] or '"' in rest[:end]:
        return None
    if "DO UPDATE" in rest[end + 1 :].upper():
        return None
    before, after = _numbered(f"{head} VALUES "), _numbered(rest[end + 1 :])
    if before is None or after is None or before[1] or after[1]:
        return None
    return before[0], f"({rest[:end]})", after[0]


def _numbered(sql: str, first: int = 1) -> tuple[str, tuple[str, ...]] | None:
    """psycopg's `%(name)s` placeholders as PostgreSQL's `$1`, `$2`... (one number a name,
    from `first` on, in order of appearance) and its `%%` as `%`; with the names in their
    numbers' order. None if the text holds any other `%`."""
    names: dict[str, int] = {}
    plain = True

    def number(match: re.Match[str]) -> str:
        nonlocal plain
        name = match.group(1)
        if name is None:
            plain = plain and match.group(0) == "%%"
            return "%"
        return f"${names.setdefault(name, first + len(names))}"

    text = _PERCENT.sub(number, sql)
    return (text, tuple(names)) if plain else None


def _closing(text: str) -> int:
    """Where in `text` the parenthesis opened just before it closes, or -1."""
    depth = 1
    for at, character in enumerate(text):
        if character == "(":
            depth += 1
        elif character == ")":
            depth -= 1
            if depth == 0:
                return at
    return -1


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
