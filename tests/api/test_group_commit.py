"""SQLite's group commit: writers who come together share one commit, and each writer's
work still lands whole or not at all (`api.persistence.connection.GroupCommit`)."""

from __future__ import annotations

import asyncio
import uuid

import httpx2
import pytest
from sqlalchemy import func, insert, select

from api.app import create_app
from api.persistence import ClinicSession, scope_to_clinic
from api.persistence.session import WriteTurns
from api.persistence.tenancy import scoped
from schemas import Assignment, AssignmentStatus, Client, Response, Score
from schemas.base import new_id, utcnow
from tests.assessments.builders import STATEMENTS, balance_response


@pytest.fixture
def app(settings):
    if not settings.is_sqlite:
        pytest.skip("PostgreSQL commits each writer's transaction; the group is SQLite's")
    return create_app(settings)


def _count(engine, clinic_id: str, table, *where) -> int:
    with ClinicSession(engine) as session:
        scope_to_clinic(session, uuid.UUID(clinic_id))
        return session.exec(select(func.count()).select_from(table).where(*where)).one()[0]


async def _submit_all(app, submissions: list[tuple[dict, dict]]) -> list[httpx2.Response]:
    """Every submission sent at once, as many phones would, through the ASGI app."""
    async with app.router.lifespan_context(app):
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://t") as client:
            return await asyncio.gather(
                *(
                    client.post(
                        f"/portal/api/assignments/{assignment['id']}/submit",
                        json=document,
                        headers={"Authorization": f"Bearer {assignment['token']}"},
                    )
                    for assignment, document in submissions
                )
            )


def _assignments(integrator, count: int) -> list[dict]:
    made = []
    for n in range(count):
        client = integrator.client(f"G-{n}")
        (assignment,) = integrator.assign("balance-assessment", client_id=client["id"])
        assignment["token"] = assignment["portal_url"].rsplit("/", 1)[1]
        made.append(assignment)
    return made


def test_writers_together_share_commits_and_a_bad_one_takes_nothing_with_it(
    app, engine, integrator, credentials
):
    good = balance_response({lid: 3 for lid in STATEMENTS}, gap_now=2, gap_wanted=4)
    bad = balance_response({lid: 3 for lid in STATEMENTS}, gap_now=2, gap_wanted=4)
    bad["item"][0]["answer"] = [{"valueCoding": {"code": "not-an-option"}}]
    made = _assignments(integrator, 12)
    submissions = [(a, bad if n % 4 == 3 else good) for n, a in enumerate(made)]

    group = app.state.connection_binds.group
    settle, commits = group.settle, []

    def counting_settle() -> None:
        commits.append(len(group._members))
        settle()

    group.settle = counting_settle
    answers = asyncio.run(_submit_all(app, submissions))

    statuses = [answer.status_code for answer in answers]
    assert statuses == [422 if n % 4 == 3 else 200 for n in range(12)], statuses
    # 9 good submissions landed: 9 responses, 9 x 6 balance scales, 9 assignments completed.
    good_ids = [uuid.UUID(a["id"]) for n, a in enumerate(made) if n % 4 != 3]
    bad_ids = [uuid.UUID(a["id"]) for n, a in enumerate(made) if n % 4 == 3]
    clinic = credentials.clinic_id
    assert _count(engine, clinic, Response, Response.assignment_id.in_(good_ids)) == 9
    assert _count(engine, clinic, Score, Score.client_id.in_(
        [uuid.UUID(a["client_id"]) for n, a in enumerate(made) if n % 4 != 3])) == 9 * 6  # fmt: skip
    assert _count(engine, clinic, Assignment, Assignment.id.in_(good_ids),
                  Assignment.status == AssignmentStatus.COMPLETED) == 9  # fmt: skip
    # The 3 refused ones left no trace, though their neighbours' work was committed with them.
    assert _count(engine, clinic, Response, Response.assignment_id.in_(bad_ids)) == 0
    assert _count(engine, clinic, Assignment, Assignment.id.in_(bad_ids),
                  Assignment.status == AssignmentStatus.REQUESTED) == 3  # fmt: skip
    # Commits were shared: fewer commits than writers, and every writer in one of them.
    real = [members for members in commits if members]
    assert sum(real) == 9 and len(real) < 9, commits


def test_a_writer_answers_only_once_its_commit_has_landed(app, engine, integrator, credentials):
    """Each 200 is sent after the commit: a read on another connection, the moment the
    answers are in, finds every response."""
    good = balance_response({lid: 2 for lid in STATEMENTS}, gap_now=1, gap_wanted=1)
    made = _assignments(integrator, 6)
    answers = asyncio.run(_submit_all(app, [(a, good) for a in made]))
    assert [a.status_code for a in answers] == [200] * 6
    ids = [uuid.UUID(a.json()["response_id"]) for a in answers]
    assert _count(engine, credentials.clinic_id, Response, Response.id.in_(ids)) == 6
    assert app.state.connection_binds.group._connection is None  # nothing left open


_CLIENT = Client.__table__  # type: ignore[attr-defined]
_ADD_CLIENT = scoped(insert(_CLIENT))


def _client_row(name: str) -> dict:
    return {"id": new_id(), "name": name, "birth_date": None, "created_at": utcnow(),
            "updated_at": utcnow()}  # fmt: skip


def test_a_writer_that_fails_after_writing_is_rolled_back_alone(app, engine, credentials):
    """The first writer writes a row, then fails; the second writes in the same open
    transaction and succeeds. Only the second's row is committed."""
    clinic_id = uuid.UUID(credentials.clinic_id)
    group = app.state.connection_binds.group
    turns = WriteTurns(1)
    kept, dropped = _client_row("kept"), _client_row("dropped")

    class Refused(Exception):
        pass

    async def failing() -> None:
        async with group.member(turns) as connection:
            connection.scope_to(clinic_id)
            await connection.execute(_ADD_CLIENT, [dropped])
            await asyncio.sleep(0)  # let the other writer queue up behind this one
            raise Refused

    async def succeeding() -> None:
        async with group.member(turns) as connection:
            connection.scope_to(clinic_id)
            await connection.execute(_ADD_CLIENT, [kept])

    async def both() -> list:
        return await asyncio.gather(failing(), succeeding(), return_exceptions=True)

    first, second = asyncio.run(both())
    assert isinstance(first, Refused) and second is None
    with ClinicSession(engine) as session:
        scope_to_clinic(session, clinic_id)
        names = set(session.exec(select(Client.name).where(
            Client.id.in_([kept["id"], dropped["id"]]))).scalars())  # fmt: skip
    assert names == {"kept"}
