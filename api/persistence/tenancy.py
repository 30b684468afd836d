"""Clinic scoping, in one place.

A `ClinicSession` knows the clinic it works for.

- Reads: every ORM statement it runs gets the clinic's criteria for every
  clinic-owned class (SQLAlchemy's `with_loader_criteria`, added in
  `do_orm_execute`), wherever the class appears: selected, in `select_from`,
  joined, aliased, in subqueries, or lazily loaded. The `clinic` table itself
  shows only the session's own clinic.
- Writes: a row added to the session is stamped with the clinic at once;
  flushing refuses new, changed or deleted rows of another clinic, and a
  change of `clinic_id`.
- What the criteria cannot reach is refused: statements naming clinic-owned
  tables through Core (`Client.__table__`) or raw SQL (`text()`), INSERT
  statements (but for ORM bulk inserts whose every row names the session's
  clinic), bulk-save methods, and UPDATEs that set `clinic_id`.

A session with no clinic may read clinics but refuses clinic-owned rows,
unless a system job says explicitly that it works across clinics
(`across_clinics`) or for one clinic at a time (`acting_for`). Forgetting the
clinic therefore cannot leak or plant rows: the statement is scoped or fails.
`session.connection()` hands out the raw connection and is outside this
contract; nothing in Tandem's request path uses it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any, NoReturn

from sqlalchemy import (
    CTE,
    Alias,
    Column,
    CompoundSelect,
    Delete,
    Insert,
    Join,
    Select,
    Subquery,
    Table,
    Update,
    event,
    inspect,
    literal,
    literal_column,
)
from sqlalchemy.orm import ORMExecuteState, with_loader_criteria
from sqlalchemy.sql import operators, visitors
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import (
    BinaryExpression,
    BindParameter,
    BooleanClauseList,
    ColumnClause,
    TextClause,
)
from sqlalchemy.sql.selectable import Exists, ScalarSelect, TextualSelect
from sqlmodel import Session
from sqlmodel.main import default_registry

from schemas import Clinic
from schemas.base import ClinicOwned

_CLINIC = "clinic_id"
_ACROSS = "across_clinics"


class TenancyError(RuntimeError):
    """Code tried to read or write clinic-owned rows without (or outside) its clinic."""


class ClinicSession(Session):
    @property
    def clinic_id(self) -> uuid.UUID | None:
        return self.info.get(_CLINIC)

    def bulk_save_objects(self, *arguments: Any, **options: Any) -> None:
        _refuse_bulk(self, "bulk_save_objects")
        super().bulk_save_objects(*arguments, **options)

    def bulk_insert_mappings(self, *arguments: Any, **options: Any) -> None:
        _refuse_bulk(self, "bulk_insert_mappings")
        super().bulk_insert_mappings(*arguments, **options)

    def bulk_update_mappings(self, *arguments: Any, **options: Any) -> None:
        _refuse_bulk(self, "bulk_update_mappings")
        super().bulk_update_mappings(*arguments, **options)


def scope_to_clinic(session: Session, clinic_id: uuid.UUID) -> None:
    """From now on `session` reads and writes only `clinic_id`'s rows."""
    current = session.info.get(_CLINIC)
    if current is not None and current != clinic_id:
        raise TenancyError("this session is already scoped to another clinic")
    session.info[_CLINIC] = clinic_id


def current_clinic(session: Session) -> uuid.UUID:
    """The clinic a session is scoped to (for rows written by statement); TenancyError if none."""
    clinic_id = session.info.get(_CLINIC)
    if clinic_id is None:
        _refuse("this session is not scoped to a clinic")
    return clinic_id


@contextmanager
def acting_for(session: Session, clinic_id: uuid.UUID) -> Iterator[Session]:
    """Scope an unscoped session to one clinic for a block (system jobs visiting each clinic).

    The identity map is emptied on entry and exit so no row crosses between
    blocks; pending rows are flushed on a clean exit and discarded on an error.
    """
    if session.info.get(_CLINIC) is not None:
        raise TenancyError("this session is already scoped to a clinic")
    session.flush()
    session.expunge_all()
    session.info[_CLINIC] = clinic_id
    try:
        yield session
        session.flush()
    finally:
        session.expunge_all()
        session.info.pop(_CLINIC, None)


@contextmanager
def across_clinics(session: Session) -> Iterator[Session]:
    """Lift the clinic filter for a system job. Never use it on a request's behalf."""
    session.info[_ACROSS] = True
    try:
        yield session
    finally:
        session.info.pop(_ACROSS, None)


@cache
def _clinic_owned_tables(_mapper_count: int) -> tuple[type[ClinicOwned], ...]:
    """Every mapped clinic-owned class (recomputed only when a class is mapped).

    The criteria name each class rather than the `ClinicOwned` mixin because a
    SQLModel mixin has no class-level column for the lambda to reach.
    """
    return tuple(
        mapper.class_
        for mapper in default_registry.mappers
        if issubclass(mapper.class_, ClinicOwned)
    )


def _owned() -> tuple[type[ClinicOwned], ...]:
    return _clinic_owned_tables(len(default_registry.mappers))


@cache
def _scoped_tables(_mapper_count: int) -> frozenset[Table]:
    """The tables whose rows a session sees only for its clinic: every clinic-owned
    table, and `clinic` itself."""
    return frozenset({cls.__table__ for cls in _owned()} | {Clinic.__table__})  # type: ignore[attr-defined]


def _clinic_tables(statement: Any, owned: set[Table]) -> tuple[set[Table], set[Table]]:
    """The clinic-owned tables (and `clinic`) a statement names: (through ORM entities, only bare).

    The criteria reach a table wherever its ORM entity appears; a table named
    only through Core (`Client.__table__`) is out of their reach.
    """
    entity, named = set(), set()
    for element in visitors.iterate(statement):
        table = element if isinstance(element, Table) else getattr(element, "table", None)
        if isinstance(table, Table) and table in owned:
            table = table._deannotate()  # an entity's table is an annotated copy
            named.add(table)
            if "parententity" in getattr(element, "_annotations", {}):
                entity.add(table)
    return entity, named - entity


def _rows_of(statement: Any, parameters: Any, session: Session) -> bool:
    """Whether an ORM bulk INSERT names the session's clinic in every row it writes.

    Only the executemany form (`execute(insert(Model), [rows])`) qualifies: a
    VALUES clause or INSERT ... SELECT could write anything.
    """
    clinic_id = session.info.get(_CLINIC)
    if clinic_id is None or getattr(statement, "_values", None) or statement.select is not None:
        return False
    rows = parameters if isinstance(parameters, list) else [parameters]
    return bool(rows) and all(isinstance(r, dict) and r.get("clinic_id") == clinic_id for r in rows)


def _sets_clinic(statement: Any, parameters: Any) -> bool:
    """Whether an UPDATE assigns clinic_id, in its VALUES or in bulk parameter rows."""
    keys = [getattr(column, "key", column) for column in getattr(statement, "_values", None) or {}]
    rows = parameters if isinstance(parameters, list) else [parameters or {}]
    keys += [key for row in rows if isinstance(row, dict) for key in row]
    return "clinic_id" in keys


@lru_cache(maxsize=4096)
def _criterion(clinic_id: uuid.UUID, table: Table) -> Any:
    """The loader criterion confining one table's entity to one clinic (built once, as a
    plain expression: a lambda would be re-analysed on every execution)."""
    cls = _class_of(table)
    column = cls.id if cls is Clinic else cls.clinic_id  # type: ignore[attr-defined]
    return with_loader_criteria(cls, column == clinic_id, include_aliases=True)


def _class_of(table: Table) -> type:
    for mapper in default_registry.mappers:
        if mapper.local_table is table:
            return mapper.class_
    raise KeyError(table.name)


def _refuse(message: str) -> NoReturn:
    raise TenancyError(message)


def _refuse_bulk(session: Session, method: str) -> None:
    if not session.info.get(_ACROSS):
        _refuse(f"{method} bypasses clinic scoping; add rows to the session instead")


@event.listens_for(ClinicSession, "do_orm_execute")
def _scope_statements(state: ORMExecuteState) -> None:
    session = state.session
    if session.info.get(_ACROSS):
        return
    statement = state.statement
    if isinstance(statement, TextClause):
        _refuse("raw SQL (text()) cannot be scoped to a clinic; use ORM statements")
    entity, bare = _clinic_tables(statement, _scoped_tables(len(default_registry.mappers)))
    if bare - {Clinic.__table__}:
        _refuse("Core statements on clinic-owned tables cannot be scoped; use the ORM classes")
    reached = bool(entity - {Clinic.__table__}) or any(
        issubclass(m.class_, ClinicOwned) for m in state.all_mappers
    )
    if state.is_insert and reached and not _rows_of(statement, state.parameters, session):
        _refuse(
            "an INSERT statement must give every row the session's clinic_id "
            "(or add rows to the session instead)"
        )
    if state.is_update and _sets_clinic(statement, state.parameters):
        _refuse("rows cannot move to another clinic")

    clinic_id = session.info.get(_CLINIC)
    if clinic_id is None:
        if reached:
            _refuse("query on clinic-owned rows from a session with no clinic")
        return
    if not (state.is_select or state.is_update or state.is_delete):
        return
    # Criteria only for the entities this statement names: each applies wherever its
    # entity appears (joins, subqueries, aliases, lazy loads), and unnamed ones would
    # only make every statement's cache key longer.
    if entity:
        state.statement = statement.options(*(_criterion(clinic_id, t) for t in entity))


@event.listens_for(ClinicSession, "transient_to_pending")
def _stamp_on_add(session: Session, row: Any) -> None:
    clinic_id = session.info.get(_CLINIC)
    if isinstance(row, ClinicOwned) and row.clinic_id is None and clinic_id is not None:
        row.clinic_id = clinic_id


@event.listens_for(ClinicSession, "before_flush")
def _check_writes(session: Session, _context: Any, _instances: Any) -> None:
    if session.info.get(_ACROSS):
        return
    clinic_id = session.info.get(_CLINIC)
    for row in session.new:
        if not isinstance(row, ClinicOwned):
            continue
        if row.clinic_id is None:
            _refuse(f"new {type(row).__name__} with no clinic to belong to")
        if row.clinic_id != clinic_id:
            _refuse(f"new {type(row).__name__} belongs to another clinic")
    for row in (*session.dirty, *session.deleted):
        if not isinstance(row, ClinicOwned):
            continue
        if inspect(row).attrs.clinic_id.history.has_changes():
            _refuse(f"{type(row).__name__} cannot move to another clinic")
        if row.clinic_id != clinic_id:
            _refuse(f"{type(row).__name__} of another clinic cannot be changed here")


# Core statements for the hot paths ----------------------------------------------------
#
# The request paths that must be fast (a portal submission, reading a response,
# polling assignments) run prebuilt Core statements on a `ClinicConnection`
# instead of ORM statements on a session. The criteria above cannot reach
# Core, so those statements are checked here once, when they are built: every
# clinic-owned table a statement names must be confined by an AND-ed
# `table.clinic_id = :for_clinic` (for `clinic` itself, `clinic.id =
# :for_clinic`), and the connection alone supplies that parameter (and the
# `clinic_id` of every row it inserts).

CLINIC_PARAMETER = "for_clinic"


_SEAL = object()  # only scoped() and by_secret() make a Scoped that a connection runs


@dataclass(frozen=True)
class Scoped:
    """A Core statement that tenancy has checked; only these run on a `ClinicConnection`.

    `across_clinics` marks the few statements that find their clinic by a
    secret (a portal link's token hash): they run before the connection knows
    its clinic, and must not be used for anything else. Made only by
    `scoped()` and `by_secret()`; a connection refuses one made otherwise.
    """

    statement: Executable
    across_clinics: bool = False
    seal: object = field(default=None, repr=False, compare=False)
    # Per dialect (and an INSERT's columns): how often it ran, then its `Prepared` form
    # (see `api.persistence.prepared`).
    prepared: dict[str | tuple[str, tuple[str, ...]], Any] = field(
        default_factory=dict, repr=False, compare=False
    )

    @property
    def inserts(self) -> bool:
        return isinstance(self.statement, Insert)

    @property
    def checked(self) -> bool:
        return self.seal is _SEAL


def constant(value: str) -> Any:
    """`value` written into the statement as an SQL string, not sent as a parameter.

    For a text column a partial index's WHERE names (`response.status`, in the
    index of in-progress responses): SQLite looks at the bound value of any
    `status = ?` to decide whether that index applies, and so plans the statement
    again at every run. Reading an in-progress response by its assignment took 37 us
    that way and 7 us with the value written in (sqlite3, 3,000 runs). Also for the
    names of a JSON object's members. Only for text: a value of another type (a UUID,
    a time) goes as a parameter, through its type's processor (on SQLite a UUID is
    stored as its hex). Plain words only (letters, digits, `_` and `-`), which no
    quoting can break out of."""
    written = f"'{value}'"
    if not _PLAIN_LITERAL.fullmatch(written):
        raise ValueError(f"not a plain word: {value!r}")
    return literal_column(written)


def one_of(column: Any, values: Iterable[Any]) -> Any:
    """`column IN (...)` a fixed list, each value a parameter of its own: a clinic connection
    runs its statements prepared on the driver, which cannot expand a list when it runs."""
    return column.in_([literal(value, column.type) for value in values])


def scoped(statement: Executable) -> Scoped:
    """`statement`, checked to be confined to the `:for_clinic` parameter; TenancyError if not.

    Only what the check can see is accepted: FROM elements are tables, joins
    and subqueries (no aliases of clinic-owned tables, lightweight `table()`
    stand-ins or text), and no raw SQL anywhere (`text()`, textual selects,
    literal columns other than a quoted plain word, as `constant` makes). Every
    SELECT, UPDATE and DELETE in the statement confines each clinic-owned table
    it reads; a subquery that correlates (`.correlate(...)`) names tables of a
    statement that encloses it, which confines them. UPDATE and DELETE set no `clinic_id`,
    an INSERT stands alone (not inside a CTE), and may skip a conflicting row
    but never update it.
    """
    owned = _scoped_tables(len(default_registry.mappers))
    _refuse_raw_sql(statement)
    if isinstance(statement, Insert):
        if statement.table not in owned or statement.table is Clinic.__table__:
            _refuse("only rows of clinic-owned tables are inserted on a clinic connection")
        if getattr(statement, "_values", None) or statement.select is not None:
            _refuse("an INSERT on a clinic connection takes its rows as parameters")
        conflict = getattr(statement, "_post_values_clause", None)
        if conflict is not None and type(conflict).__name__ != "OnConflictDoNothing":
            _refuse("an INSERT on a clinic connection may skip a conflicting row, not update it")
        return Scoped(statement, seal=_SEAL)
    if not isinstance(statement, (Select, Update, Delete, CompoundSelect)):
        _refuse("a clinic connection runs SELECT, INSERT, UPDATE and DELETE statements only")
    if isinstance(statement, Select) and statement._correlate:
        _refuse("only a subquery correlates: name the tables in FROM")
    _check_tree(statement, frozenset(), owned)
    return Scoped(statement, seal=_SEAL)


def _refuse_raw_sql(statement: Executable) -> None:
    for element in visitors.iterate(statement):
        if isinstance(element, (TextClause, TextualSelect)):
            _refuse("raw SQL (text()) cannot be checked; build the statement from tables")
        literal = isinstance(element, ColumnClause) and element.is_literal
        if literal and not _PLAIN_LITERAL.fullmatch(element.name):
            _refuse("a literal column other than a quoted plain word cannot be checked")


# A quoted name or word (see `constant`): nothing in it can end the quoted string.
_PLAIN_LITERAL = re.compile(r"'[A-Za-z_][A-Za-z0-9_-]*'")


def _check_tree(element: Any, enclosing: frozenset[Any], owned: frozenset[Table]) -> None:
    """Check `element` (a SELECT, UPDATE or DELETE, or a UNION of them) and every statement
    nested in it, each with the tables named by the statements that enclose it."""
    if isinstance(element, CompoundSelect):
        for select_ in element.selects:
            _check_tree(select_, enclosing, owned)
        return
    if isinstance(element, Insert):
        _refuse("an INSERT on a clinic connection stands alone, not inside another statement")
    if isinstance(element, Select) and not set(element._correlate) <= enclosing:
        _refuse("a subquery correlates a table no enclosing statement names")
    named = enclosing | _check_confined(element, owned)
    for nested in _nested_statements(element):
        _check_tree(nested, named, owned)


def _nested_statements(element: Any) -> Iterator[Any]:
    """The statements directly inside `element`: found through its clauses, FROM
    subqueries and CTEs, without descending into them."""
    stack = list(element.get_children())
    seen: set[int] = set()
    while stack:
        child = stack.pop()
        if id(child) in seen:
            continue
        seen.add(id(child))
        if isinstance(child, (Select, Update, Delete, Insert, CompoundSelect)):
            yield child
            continue
        stack.extend(child.get_children())


def execute_scoped(session: Session, statement: Scoped, parameters: dict[str, Any]) -> Any:
    """Run a checked Core statement in a clinic session's transaction, confined to its clinic."""
    if (
        not isinstance(statement, Scoped)
        or not statement.checked
        or statement.across_clinics
        or statement.inserts
    ):
        _refuse("a session runs only checked, clinic-confined statements this way")
    if CLINIC_PARAMETER in parameters:
        _refuse("the session supplies the clinic itself")
    bound = {**parameters, CLINIC_PARAMETER: current_clinic(session)}
    return session.connection().execute(statement.statement, bound)


def by_secret(statement: Select) -> Scoped:
    """A lookup across clinics by a secret only its holder knows (a link token's hash):
    a SELECT whose WHERE has `token_hash = :token_hash` among its AND-ed terms."""
    _refuse_raw_sql(statement)
    if not isinstance(statement, Select) or not any(
        isinstance(term, BinaryExpression)
        and term.operator is operators.eq
        and isinstance(term.left, Column)
        and term.left.name == "token_hash"
        and isinstance(term.right, BindParameter)
        and term.right.key == "token_hash"
        for term in _and_terms(statement.whereclause)
    ):
        _refuse("a lookup across clinics selects by `token_hash = :token_hash`")
    return Scoped(statement, across_clinics=True, seal=_SEAL)


def _check_confined(statement: Select | Update | Delete, owned: frozenset[Table]) -> set[Any]:
    """Refuse unless every clinic-owned table `statement` reads is confined; the tables named."""
    conjuncts = list(_and_terms(statement.whereclause))
    tables: list[Table] = []
    if isinstance(statement, Select):
        correlated = set(statement._correlate)  # confined by the enclosing statement
        for source in statement.get_final_froms():
            if source not in correlated:
                _from_tables(source, tables, conjuncts, owned)
    else:
        tables.append(statement.table)  # type: ignore[arg-type]
        values = getattr(statement, "_values", None) or {}
        # UPDATE ... FROM and DELETE ... USING read every other table their clauses name
        # (outside subqueries, which are statements of their own, checked in turn)
        read = [statement.whereclause, *values.values()]
        tables.extend(
            {
                column.table
                for clause in read
                if clause is not None
                for column in _columns_outside_statements(clause)
                if isinstance(column.table, Table) and column.table is not statement.table
            }
        )
        if isinstance(statement, Update) and _CLINIC in [getattr(k, "key", k) for k in values]:
            _refuse("rows cannot move to another clinic")
    confined = {table for term in conjuncts if (table := _confined_table(term)) is not None}
    loose = [t.name for t in tables if t in owned and t not in confined]
    if loose:
        _refuse(f"statement not confined to :{CLINIC_PARAMETER} on {', '.join(sorted(loose))}")
    return set(tables)


def _columns_outside_statements(clause: Any) -> Iterator[Column]:
    if isinstance(clause, Column):
        yield clause
        return
    if isinstance(clause, (Select, CompoundSelect, ScalarSelect, Subquery, Exists)):
        return
    for child in clause.get_children():
        yield from _columns_outside_statements(child)


def _from_tables(
    source: Any, tables: list[Table], conjuncts: list[Any], owned: frozenset[Table]
) -> None:
    if isinstance(source, Join):
        _from_tables(source.left, tables, conjuncts, owned)
        _from_tables(source.right, tables, conjuncts, owned)
        if source.full:  # ON filters neither side of a full join
            return
        if not source.isouter:
            conjuncts.extend(_and_terms(source.onclause))
        else:  # a left join's ON filters only the joined side's rows
            conjuncts.extend(
                term
                for term in _and_terms(source.onclause)
                if _confined_table(term) is source.right
            )
    elif isinstance(source, Table):
        tables.append(source)
    elif isinstance(source, Alias) and not isinstance(source.element, (Select, CompoundSelect)):
        if isinstance(source.element, Table) and source.element in owned:
            _refuse(f"an alias of {source.element.name} cannot be checked; name the table")
        if not isinstance(source.element, (Update, Delete, Insert)):  # a CTE of DML is checked
            _refuse("a FROM element the check cannot see")
    elif isinstance(source, (Subquery, CTE, Alias)):
        pass  # a SELECT of its own, checked as the walk reaches it
    else:
        _refuse("a FROM element the check cannot see (a lightweight table() or text)")


def _and_terms(clause: Any) -> Iterator[Any]:
    if clause is None:
        return
    if isinstance(clause, BooleanClauseList) and clause.operator is operators.and_:
        for term in clause.clauses:
            yield from _and_terms(term)
    else:
        yield clause


def _confined_table(term: Any) -> Table | None:
    """The table a term `table.clinic_id = :for_clinic` (or `clinic.id = :for_clinic`) confines."""
    if not isinstance(term, BinaryExpression) or term.operator is not operators.eq:
        return None
    for column, other in ((term.left, term.right), (term.right, term.left)):
        if not (isinstance(column, Column) and isinstance(other, BindParameter)):
            continue
        if other.key != CLINIC_PARAMETER or not isinstance(column.table, Table):
            continue
        clinic_column = "id" if column.table is Clinic.__table__ else _CLINIC
        if column.name == clinic_column:
            return column.table
    return None
