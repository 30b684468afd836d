"""Prepared statements (`api.persistence.prepared`) answer exactly as SQLAlchemy does.

Each hot statement runs both ways on the same rows of a real database (sqlite3, or
psycopg's asyncio connection as the server uses it): the same rows, with the same
values of the same types under the same names, and the same counts of changed rows."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from psycopg import pq
from sqlalchemy import (
    Column,
    Insert,
    Integer,
    MetaData,
    Table,
    bindparam,
    func,
    insert,
    literal_column,
    or_,
    select,
)

from api.persistence import make_engine
from api.persistence import prepared as prepared_module
from api.persistence.connection import make_async_engine
from api.persistence.prepared import Prepared, PreparedResult
from api.persistence.tenancy import CLINIC_PARAMETER, one_of
from api.services import assignments, portal, portal_links, responses
from schemas import AssignmentStatus, Score
from schemas.base import new_id, utcnow
from tests.api.http import PortalClient
from tests.assessments.builders import STATEMENTS, balance_response, checkin_response


@pytest.fixture
def submitted(http, integrator, credentials):
    robin = integrator.client("P-1")
    (first,) = integrator.assign("balance-assessment", client_id=robin["id"])
    (second,) = integrator.assign("weekly-check-in", client_id=robin["id"])
    client = PortalClient(http, first["portal_url"])
    document = balance_response({lid: 2 for lid in STATEMENTS}, gap_now=1, gap_wanted=3)
    answer = client.submit(first["id"], document)
    assert answer.status_code == 200, answer.text
    partial = checkin_response(balance_rating=4, safety=False) | {"status": "in-progress"}
    saved = PortalClient(http, second["portal_url"]).save(second["id"], partial)
    assert saved.status_code == 200, saved.text
    return {
        CLINIC_PARAMETER: uuid.UUID(credentials.clinic_id),
        "client_id": uuid.UUID(robin["id"]),
        "assignment_id": uuid.UUID(first["id"]),
        "open_assignment_id": uuid.UUID(second["id"]),
        "response_id": uuid.UUID(answer.json()["response_id"]),
        "token_hash": portal_links.token_digest(second["portal_url"].rsplit("/", 1)[1]),
    }


def _both_ways(database_url, statement, parameters, read_back=None):
    """(SQLAlchemy's rows and count, the prepared statement's), inside one transaction
    that is rolled back, so a statement that changes rows changes them for neither.
    An INSERT takes a list of rows; the rows `read_back` selects after it are compared."""
    many = isinstance(parameters, list)
    keys = tuple(parameters[0]) if many else ()
    if database_url.startswith("sqlite"):
        engine = make_engine(database_url)
        try:
            with engine.connect() as connection:
                connection.begin()
                driver = connection.connection.driver_connection
                shown = (lambda: connection.execute(read_back)) if read_back is not None else None
                driver.execute("SAVEPOINT compare")
                expected = _rows(connection.execute(statement, parameters), shown)
                driver.execute("ROLLBACK TO compare")
                prepared = Prepared.of(statement, connection.dialect, keys)
                got = _rows(prepared.run(driver, parameters), shown)
                connection.rollback()
        finally:
            engine.dispose()
        return expected, got

    async def on_postgresql():
        engine = make_async_engine(database_url)
        try:
            async with engine.connect() as connection:

                async def shown():
                    return await connection.execute(read_back) if read_back is not None else None

                await connection.begin()
                savepoint = await connection.begin_nested()
                expected = _rows(await connection.execute(statement, parameters), await shown())
                await savepoint.rollback()
                driver = (await connection.get_raw_connection()).driver_connection
                prepared = Prepared.of(statement, connection.dialect, keys)
                got = _rows(await prepared.run_async(driver, parameters), await shown())
                await connection.rollback()
        finally:
            await engine.dispose()
        return expected, got

    return asyncio.run(on_postgresql())


def _rows(result, shown=None):
    """(rows as tuples, names, count changed) of SQLAlchemy's result or a prepared one; the
    rows and names those of `shown` (a result, or a function giving one) when given."""
    count = result.rowcount
    if callable(shown):
        shown = shown()
    if shown is not None:
        result = shown
    if isinstance(result, PreparedResult):
        rows = list(result)
        names = list(rows[0]._fields) if rows else None
    else:
        rows = list(result) if result.returns_rows else []
        names = list(result.keys()) if result.returns_rows and rows else None
    return [tuple(row) for row in rows], names, count


@pytest.mark.parametrize(
    ("statement", "uses"),
    [
        (portal_links._LINK, ["token_hash"]),
        (portal._OWN, [CLINIC_PARAMETER, "assignment_id", "client_id"]),
        (portal._OWN_LOCKED, [CLINIC_PARAMETER, "assignment_id", "client_id"]),
        (portal._PROGRESS, [CLINIC_PARAMETER, "open_assignment_id"]),
        (responses._VIEW, [CLINIC_PARAMETER, "response_id"]),
    ],
    ids=["link", "own", "own-locked", "progress", "response-view"],
)
def test_reads_give_the_same_rows_values_types_and_names(database_url, submitted, statement, uses):
    if isinstance(statement, dict):  # one per dialect
        statement = statement["sqlite" if database_url.startswith("sqlite") else "postgresql"]
    parameters = {name.removeprefix("open_"): submitted[name] for name in uses}
    expected, got = _both_ways(database_url, statement.statement, parameters)
    assert got[:2] == expected[:2]
    assert expected[0], "the comparison must see rows"
    for ours, theirs in zip(got[0][0], expected[0][0], strict=True):
        assert type(ours) is type(theirs)  # UUIDs, aware datetimes, documents, text


def test_the_open_assignment_is_read_the_same_under_another_id(database_url, submitted):
    parameters = {name: submitted[name] for name in (CLINIC_PARAMETER, "client_id")}
    parameters["assignment_id"] = submitted["open_assignment_id"]
    expected, got = _both_ways(database_url, portal._OWN.statement, parameters)
    assert got[:2] == expected[:2] and len(got[0]) == 1
    assert got[0][0][1] == AssignmentStatus.IN_PROGRESS


def test_updates_change_as_many_rows_and_return_the_same(database_url, submitted):
    sqlite = database_url.startswith("sqlite")
    clinic = {CLINIC_PARAMETER: submitted[CLINIC_PARAMETER]}
    counter = clinic | {"count": 3}
    next_changes = assignments._NEXT_CHANGES["sqlite" if sqlite else "postgresql"].statement
    expected, got = _both_ways(database_url, next_changes, counter)
    # The same number returned (SQLAlchemy counts no rows for an UPDATE ... RETURNING on
    # SQLite; the driver counts the one changed, and no caller reads either count).
    assert got[0][0][0] == expected[0][0][0] > 0
    moved = clinic | {
        "assignment_id": submitted["open_assignment_id"],
        "new_status": AssignmentStatus.COMPLETED.value,
    }
    if sqlite:
        moved |= {"seq": 10**6, "at": utcnow() + timedelta(seconds=1)}
        statement = assignments._SET_STATUS.statement
    else:
        statement = assignments._NUMBER_STATUS.statement
    expected, got = _both_ways(database_url, statement, moved)
    assert got == expected and got[2] == 1
    elsewhere = moved | {"assignment_id": uuid.uuid4()}
    assert _both_ways(database_url, statement, elsewhere)[1][2] == 0


def _server_dialect(database_url):
    """The dialect the server runs statements with: psycopg's asyncio one on PostgreSQL."""
    if database_url.startswith("sqlite"):
        engine = make_engine(database_url)
        engine.dispose()
        return engine.dialect
    async_engine = make_async_engine(database_url)
    asyncio.run(async_engine.dispose())
    return async_engine.dialect


def test_which_statements_can_be_prepared(database_url):
    sqlite = database_url.startswith("sqlite")
    dialect = _server_dialect(database_url)
    assert isinstance(responses._INSERT_SCORES.statement, Insert)
    scale = Score.__table__.c.scale  # type: ignore[attr-defined]
    assert Prepared.of(select(scale).where(scale.in_(["a", "b"])), dialect) is None  # expands
    fixed = Prepared.of(select(scale).where(one_of(scale, ["a", "b"])), dialect)
    assert fixed is not None and fixed.values({}) == ("a", "b")
    assert Prepared.of(portal._OPEN_ASSIGNMENTS.statement, dialect) is not None  # one_of
    assert Prepared.of(portal._OWN.statement, dialect) is not None
    if not sqlite:  # the server's PostgreSQL engine is asyncio; a plain one is not prepared for
        assert Prepared.of(portal._OWN.statement, make_engine(database_url).dialect) is None


def test_percent_signs_and_a_repeated_parameter_read_the_same(database_url, submitted):
    """On psycopg the statement's `%(name)s` placeholders become `$n` and its escaped `%%`
    a plain `%`: a literal percent sign, a LIKE pattern and one parameter used twice give
    what SQLAlchemy gives."""
    scores = Score.__table__.c  # type: ignore[attr-defined]
    twice = bindparam("response_id")
    statement = (
        select(literal_column("'50% or 100%%'").label("share"), scores.scale, scores.label)
        .where(scores.response_id == twice, scores.scale.like("%-%"))
        .where(or_(scores.response_id == twice, scores.scale.like("%")))
        .order_by(scores.scale)
    )
    expected, got = _both_ways(database_url, statement, {"response_id": submitted["response_id"]})
    assert got == expected and got[0] and got[0][0][0] == "50% or 100%%"


def _score_rows(submitted, count, **fields):
    """`count` score rows for the submitted response, with `fields` set in each."""
    return [
        {
            "clinic_id": submitted[CLINIC_PARAMETER],
            "response_id": submitted["response_id"],
            "client_id": submitted["client_id"],
            "scale": f"compare-{n}",
            "label": f'Label é {n} "quoted"',
            "value": n / 4 if n % 3 else None,
            "min": 0.0,
            "max": 4.0,
            "band": None if n % 2 else "middle",
            "interpretation": "line one\nline two",
            "unscored_reason": "too few answers" if n % 3 == 0 else None,
        }
        | fields
        for n in range(count)
    ]


def _inserted_both_ways(database_url, rows):
    """The score rows read back after SQLAlchemy inserted `rows`, then after the prepared
    statement inserted them (each rolled back): ((rows, count), (rows, count)), every
    column, ordered by scale."""
    scores = Score.__table__.c  # type: ignore[attr-defined]
    back = select(*scores).where(scores.scale.like("compare-%")).order_by(scores.scale)
    expected, got = _both_ways(database_url, responses._INSERT_SCORES.statement, rows, back)
    return (expected[0], expected[2]), (got[0], got[2])


def test_an_insert_writes_the_same_rows_as_sqlalchemy(database_url, submitted):
    """Every column given: the rows read back are equal, value for value and type for type
    (UUIDs, aware datetimes, JSON lists and a JSON null, text with quotes and accents,
    NULLs)."""
    now = utcnow()
    rows = [row | {"id": new_id(), "items_used": [f"i{row['scale']}", "ü"], "created_at": now}
            for row in _score_rows(submitted, 7)]  # fmt: skip
    rows[3]["items_used"] = None  # JSON null, as SQLAlchemy writes it (the column is NOT NULL)
    (expected, counted), (got, got_count) = _inserted_both_ways(database_url, rows)
    assert len(expected) == 7 and got == expected
    for ours, theirs in zip(got[0], expected[0], strict=True):
        assert type(ours) is type(theirs)
    # The driver counts the rows; SQLAlchemy's batched insert on PostgreSQL does not (-1).
    assert got_count == 7 and counted == (7 if database_url.startswith("sqlite") else -1)


def test_more_rows_than_one_statement_takes_are_written_the_same(database_url, submitted):
    """Over `MOST_ROWS` rows psycopg sends them row by row (`executemany`); the rows are
    the same either way."""
    count = prepared_module.MOST_ROWS + 1
    (expected, _), (got, got_count) = _inserted_both_ways(
        database_url, _score_rows(submitted, count)
    )
    assert got_count == count and len(got) == count
    columns = [column.name for column in Score.__table__.columns]  # type: ignore[attr-defined]
    same = [i for i, name in enumerate(columns) if name not in ("id", "created_at")]
    assert [[row[i] for i in same] for row in got] == [[row[i] for i in same] for row in expected]


def test_postgresql_sends_an_inserts_rows_as_one_statement(database_url, submitted, tmp_path):
    """On psycopg the rows of an INSERT go as one statement with a VALUES list a row (one
    Bind message in libpq's trace of the protocol), up to `MOST_ROWS` rows; beyond that,
    a Bind a row."""
    if database_url.startswith("sqlite"):
        pytest.skip("sqlite3 runs an executemany in C, with no round trips to save")
    engine = make_async_engine(database_url)
    statement = responses._INSERT_SCORES.statement
    seven, many = _score_rows(submitted, 7), _score_rows(submitted, prepared_module.MOST_ROWS + 1)

    async def binds(rows):
        async with engine.connect() as connection:
            await connection.begin()
            await connection.exec_driver_sql("SELECT 1")  # BEGIN goes before the trace
            driver = (await connection.get_raw_connection()).driver_connection
            prepared = Prepared.of(statement, connection.dialect, tuple(rows[0]))
            trace = tmp_path / f"trace-{len(rows)}.txt"
            with trace.open("w") as out:
                driver.pgconn.trace(out.fileno())
                driver.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
                result = await prepared.run_async(driver, rows)
                driver.pgconn.untrace()
            await connection.rollback()
        # Each line: who sent it (F, the frontend: us), its length, the message, its fields.
        messages = [line.split("\t") for line in trace.read_text().splitlines()]
        sent = [fields[2] for fields in messages if fields[0] == "F"]
        return result.rowcount, sent.count("Bind")

    async def both():
        try:
            return await binds(seven), await binds(many)
        finally:
            await engine.dispose()

    (seven_count, seven_binds), (many_count, many_binds) = asyncio.run(both())
    assert (seven_count, seven_binds) == (7, 1)
    assert (many_count, many_binds) == (len(many), len(many))


def test_an_insert_gives_left_out_columns_their_defaults_row_by_row(database_url, submitted):
    """`id`, `items_used` and `created_at` left out: each row gets a new time-ordered id, an
    empty list and the time of the insert, as SQLAlchemy gives them."""
    before = utcnow()
    (expected, _), (got, got_count) = _inserted_both_ways(database_url, _score_rows(submitted, 3))
    after = utcnow()
    assert got_count == 3
    columns = [column.name for column in Score.__table__.columns]  # type: ignore[attr-defined]
    at = {name: columns.index(name) for name in ("id", "items_used", "created_at")}
    for rows in (expected, got):
        ids = [row[at["id"]] for row in rows]
        assert len(set(ids)) == 3 and all(i.version == 7 for i in ids)
        assert all(row[at["items_used"]] == [] for row in rows)
        assert all(before <= row[at["created_at"]] <= after for row in rows)
    # Apart from what is made anew per row, the rows are the same.
    same = [i for i, name in enumerate(columns) if name not in ("id", "created_at")]
    assert [[row[i] for i in same] for row in got] == [[row[i] for i in same] for row in expected]


def _held(values):
    """Driver values, comparable: psycopg's JSON wrapper compares by identity (what it
    holds is compared, and its type)."""
    return [tuple((type(v), getattr(v, "obj", v)) for v in row) for row in values]


@pytest.mark.parametrize("shared", [True, False], ids=["one-object", "mixed"])
def test_rows_sharing_a_value_get_the_values_each_row_would_get_alone(
    database_url, submitted, shared
):
    """An INSERT's rows are made column by column, a value that is one object in every row
    processed once: the driver gets what it would for each row on its own, whether a
    column's values are one object in every row (as a submission's time and clinic),
    equal objects, or differ. The id is left out: each row gets a new one."""
    now, used = utcnow(), ["a", "b"]

    def varied(n, row):
        if shared:  # the time and the items one object, in every row
            return row | {"created_at": now, "items_used": used}
        return row | {
            "created_at": now if n < 4 else now + timedelta(seconds=1),
            "items_used": used if n < 3 else [f"item-{n}"],
            "response_id": uuid.UUID(str(submitted["response_id"])),  # equal, not one object
        }

    rows = [varied(n, row) for n, row in enumerate(_score_rows(submitted, 5))]
    prepared = Prepared.of(
        responses._INSERT_SCORES.statement, _server_dialect(database_url), tuple(rows[0])
    )
    assert prepared is not None
    alone = [prepared.values(row) for row in rows]
    together = prepared.driver_values(rows)
    at_id = prepared._order.index("id")
    ids = [row[at_id] for row in together]
    assert len(set(ids)) == 5  # a default made for each row
    without_id = [row[:at_id] + row[at_id + 1 :] for row in together]
    assert _held(without_id) == _held([row[:at_id] + row[at_id + 1 :] for row in alone])


def test_which_inserts_can_be_prepared(database_url):
    dialect = _server_dialect(database_url)
    scores = responses._INSERT_SCORES.statement
    keys = ("clinic_id", "response_id", "client_id", "scale", "label")
    assert Prepared.of(scores, dialect, keys) is not None
    assert Prepared.of(scores, dialect) is None  # which columns the rows name is not known
    assert Prepared.of(scores.returning(Score.__table__.c.id), dialect, keys) is None  # type: ignore[attr-defined]
    assert Prepared.of(scores.values(scale="preset"), dialect, keys) is None
    table = Table(
        "made_by_sql",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("stamp", Integer, default=func.abs(-1)),  # a SQL expression
        Column("context", Integer, default=lambda context: context.current_parameters["id"]),
        Column("plain", Integer, default=lambda: 1),
    )
    made_in_sql = Prepared.of(insert(table), dialect, ("id", "context"))
    assert made_in_sql is not None and "abs(" in made_in_sql.sql  # in the statement itself
    assert Prepared.of(insert(table), dialect, ("id", "stamp")) is None  # needs the context


@pytest.mark.parametrize(
    ("sql", "rows_at_once"),
    [
        ("INSERT INTO t (a, b) VALUES (%(a)s::UUID, %(b)s)", True),
        ("INSERT INTO t (a, b) VALUES (%(a)s, abs(%(b)s))", True),
        ("INSERT INTO t (a, b) VALUES (%(a)s, %(b)s) ON CONFLICT DO NOTHING", True),
        # a parenthesis in a literal would split the row in the wrong place
        ("INSERT INTO t (a, b) VALUES (%(a)s, 'x)y')", False),
        # two rows of one statement may not update the same row; executemany updates it twice
        ("INSERT INTO t (a) VALUES (%(a)s) ON CONFLICT (a) DO UPDATE SET a = excluded.a", False),
        ("INSERT INTO t (a) SELECT %(a)s", False),
    ],
)
def test_which_inserts_go_as_one_statement_of_many_rows(sql, rows_at_once):
    assert (prepared_module._values_list(sql) is not None) is rows_at_once


def test_psycopgs_placeholders_are_numbered_once_each():
    numbered = prepared_module._numbered(
        "SELECT %(a-b)s, %(c)s, %(a-b)s, '100%%' WHERE x LIKE %(c)s", first=3
    )
    assert numbered == ("SELECT $3, $4, $3, '100%' WHERE x LIKE $4", ("a-b", "c"))
    assert prepared_module._numbered("SELECT '50%'") is None  # psycopg would refuse it too
