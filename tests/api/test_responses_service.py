"""Recording responses: validated and scored once, stored whole with their scores, or not at all."""

from __future__ import annotations

import pytest
from sqlmodel import func, select

from api.errors import InvalidInput, NotFound
from api.services.instruments import InstrumentKey, resolve_instrument
from api.services.responses import Replaced, record_response
from schemas import Response, ResponseStatus, Score
from tests.api.factories import clinic_session, make_assignment, make_client
from tests.assessments.builders import balance_response, checkin_response, scale_answers
from tests.databases import run_on_connection


@pytest.fixture
def record(database_url, session):
    """record_response on a clinic connection to the session's clinic, committed
    (the session's own rows are committed first, so the connection sees them)."""

    def run(**arguments):
        session.commit()
        return run_on_connection(
            database_url, session.clinic_id, lambda c: record_response(c, **arguments)
        )

    return run


def replaced(response):
    return Replaced(response.id, response.client_id, response.instrument_id, response.status)


def key(session, reference):
    return InstrumentKey.of(resolve_instrument(session, reference))


def count(session, model):
    return session.exec(select(func.count()).select_from(model)).one()


def test_a_completed_check_in_is_stored_with_its_scores_and_flags(record, session):
    client = make_client(session)
    assignment = make_assignment(session, client)
    recorded = record(
        client_id=client.id,
        instrument=key(session, "weekly-check-in"),
        questionnaire_response=checkin_response(balance_rating=8, safety=True),
        assignment_id=assignment.id,
    )
    session.commit()

    stored = session.get(Response, recorded.id)
    assert stored.status == ResponseStatus.COMPLETED
    assert stored.assignment_id == assignment.id
    assert stored.questionnaire_response["id"] == str(stored.id)
    assert stored.questionnaire_response["subject"] == {"reference": f"Patient/{client.id}"}
    assert stored.authored.tzinfo is not None
    assert [f["code"] for f in stored.flags] == ["safety"]
    scores = {s.scale: s for s in session.exec(select(Score).where(Score.response_id == stored.id))}
    assert len(scores) == 7
    assert (scores["balance-rating"].value, scores["balance-rating"].band) == (8.0, "balanced")
    assert scores["balance-rating"].items_used == ["balance-rating"]


def test_an_unscored_scale_is_stored_with_its_reason(record, session):
    client = make_client(session)
    answers = scale_answers("closeness", [4, 4, 4, None, None, None])
    recorded = record(
        client_id=client.id,
        instrument=key(session, "balance-assessment"),
        questionnaire_response=balance_response(answers),
    )
    closeness = next(s for s in recorded.scores if s.scale == "closeness")
    assert closeness.value is None
    assert closeness.unscored_reason == "3 of 6 items answered; at least 5 (80%) are needed"


def test_an_in_progress_response_is_stored_unscored(record, session):
    client = make_client(session)
    partial = balance_response(
        {"closeness-1": 2}, gap_now=None, gap_wanted=None, status="in-progress"
    )
    recorded = record(
        client_id=client.id,
        instrument=key(session, "balance-assessment"),
        questionnaire_response=partial,
    )
    assert recorded.status == ResponseStatus.IN_PROGRESS
    assert recorded.scores == ()


def test_an_invalid_response_writes_nothing_and_names_every_problem(record, session):
    client = make_client(session)
    session.commit()
    before = (count(session, Response), count(session, Score))
    bad = checkin_response(balance_rating=12)
    bad["item"] = [i for i in bad["item"] if i["linkId"] != "safety"]
    with pytest.raises(InvalidInput) as raised:
        record(
            client_id=client.id,
            instrument=key(session, "weekly-check-in"),
            questionnaire_response=bad,
        )
    assert [(e.pointer, e.code) for e in raised.value.errors] == [
        ("/item/0/answer/0/valueInteger", "out-of-range"),
        ("/item", "required"),
    ]
    session.rollback()
    assert (count(session, Response), count(session, Score)) == before


def test_a_response_about_someone_else_is_refused(record, session):
    client, other = make_client(session), make_client(session)
    response = checkin_response() | {"subject": {"reference": f"Patient/{other.id}"}}
    with pytest.raises(InvalidInput) as raised:
        record(
            client_id=client.id,
            instrument=key(session, "weekly-check-in"),
            questionnaire_response=response,
        )
    assert [(e.pointer, e.code) for e in raised.value.errors] == [("/subject", "subject-mismatch")]


def test_authored_must_be_a_full_timestamp(record, session):
    client = make_client(session)
    with pytest.raises(InvalidInput) as raised:
        record(
            client_id=client.id,
            instrument=key(session, "weekly-check-in"),
            questionnaire_response=checkin_response() | {"authored": "2026-11"},
        )
    assert [e.pointer for e in raised.value.errors] == ["/authored"]


def test_a_client_of_another_clinic_is_not_found(record, engine, session):
    with clinic_session(engine) as other:
        theirs = make_client(other)
        other.commit()
    with pytest.raises(NotFound):
        record(
            client_id=theirs.id,
            instrument=key(session, "weekly-check-in"),
            questionnaire_response=checkin_response(),
        )


def test_a_correction_is_a_new_amended_response_and_the_original_stays(record, session):
    client = make_client(session)
    check_in = key(session, "weekly-check-in")
    original = session.get(
        Response,
        record(
            client_id=client.id,
            instrument=check_in,
            questionnaire_response=checkin_response(balance_rating=2),
        ).id,
    )
    amended = record(
        client_id=client.id,
        instrument=check_in,
        questionnaire_response=checkin_response(balance_rating=7, status="amended"),
        replaces=replaced(original),
    )
    session.commit()
    assert session.get(Response, amended.id).replaces_id == original.id
    assert session.get(Response, original.id).status == ResponseStatus.COMPLETED
    ratings = session.exec(
        select(Score.response_id, Score.value).where(Score.scale == "balance-rating")
    ).all()
    assert sorted(v for _, v in ratings) == [2.0, 7.0]


@pytest.mark.parametrize(
    ("status", "replaces_original", "message"),
    [
        ("amended", False, "an amended response must name the one it replaces"),
        ("completed", True, "only an amended response replaces another"),
        (
            "stopped",
            False,
            "a response with status 'stopped' cannot be recorded; send in-progress, completed, or amended",
        ),
    ],
)
def test_amendment_rules(record, session, status, replaces_original, message):
    client = make_client(session)
    check_in = key(session, "weekly-check-in")
    original = session.get(
        Response,
        record(
            client_id=client.id,
            instrument=check_in,
            questionnaire_response=checkin_response(),
        ).id,
    )
    with pytest.raises(InvalidInput) as raised:
        record(
            client_id=client.id,
            instrument=check_in,
            questionnaire_response=checkin_response(status=status),
            replaces=replaced(original) if replaces_original else None,
        )
    assert message in [e.detail for e in raised.value.errors]


def test_a_saved_unfinished_check_in_keeps_its_safety_flag(record, session):
    client = make_client(session)
    partial = checkin_response(safety=True, status="in-progress")
    partial["item"] = [i for i in partial["item"] if i["linkId"] == "safety"]
    recorded = record(
        client_id=client.id,
        instrument=key(session, "weekly-check-in"),
        questionnaire_response=partial,
    )
    stored = session.get(Response, recorded.id)
    assert [f["code"] for f in stored.flags] == ["safety"]
    assert stored.flags[0]["private"] is True
