"""Recording a client's QuestionnaireResponse: validated, scored, and stored with its scores.

Every way answers arrive (the portal, `/v1`, `/fhir`, entry from paper) ends
here, so a response is checked and scored the same way whatever its route.
Nothing is written unless everything is valid: the rows are added to the
caller's session together and the caller's single commit lands them.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Text, bindparam, cast, func, insert, type_coerce, update
from sqlmodel import Session, select

import assessments
from api.errors import FieldProblem, InvalidInput, NotFound
from api.persistence.connection import ClinicConnection
from api.persistence.tenancy import CLINIC_PARAMETER, Scoped, constant, one_of, scoped
from api.services import alerts
from api.services.instruments import (
    InstrumentKey,
    clinical_definition,
    clinical_definition_of,
    resolve_instrument,
)
from assessments import alerts as alert_rules
from assessments.change import reliable_change
from assessments.spec import Scale
from schemas import Client, Instrument, Response, ResponseStatus, Score
from schemas.base import JSONDocument, new_id, utcnow
from schemas.instrument import InstrumentRef
from schemas.response import (
    ChangePublic,
    FlagPublic,
    ResultPoint,
    ResultSeries,
    ScaleTrend,
    ScorePublic,
    TrendPoint,
    TrendReport,
)

RECORDABLE = frozenset(
    {ResponseStatus.IN_PROGRESS, ResponseStatus.COMPLETED, ResponseStatus.AMENDED}
)


@dataclass(frozen=True)
class RecordedResponse:
    id: uuid.UUID
    status: ResponseStatus
    flags: tuple[assessments.Flag, ...]
    scores: tuple[assessments.ScaleScore, ...]


class Replaced(NamedTuple):
    """The response an amendment replaces, as much of it as the check needs."""

    id: uuid.UUID
    client_id: uuid.UUID
    instrument_id: uuid.UUID
    status: str


_response = Response.__table__.c  # type: ignore[attr-defined]
_score = Score.__table__.c  # type: ignore[attr-defined]
_instrument = Instrument.__table__.c  # type: ignore[attr-defined]
_clinic = bindparam(CLINIC_PARAMETER)
_CLIENT = scoped(
    select(Client.__table__.c.id).where(  # type: ignore[attr-defined]
        Client.__table__.c.clinic_id == _clinic,  # type: ignore[attr-defined]
        Client.__table__.c.id == bindparam("client_id"),  # type: ignore[attr-defined]
    )
)
_INSERT_RESPONSE = scoped(insert(Response.__table__))  # type: ignore[attr-defined]
_CONTINUE_RESPONSE = scoped(
    update(Response.__table__)  # type: ignore[attr-defined]
    .where(
        _response.clinic_id == _clinic,
        _response.id == bindparam("progress_id"),
        _response.status == constant(ResponseStatus.IN_PROGRESS.value),
        _response.client_id == bindparam("for_client"),
        _response.instrument_id == bindparam("for_instrument"),
    )
    .values(
        status=bindparam("new_status"),
        authored=bindparam("new_authored"),
        questionnaire_response=bindparam("document"),
        flags=bindparam("new_flags"),
        replaces_id=bindparam("new_replaces"),
        identifier_system=bindparam("new_identifier_system"),
        identifier_value=bindparam("new_identifier_value"),
        updated_at=bindparam("now"),
        version=_response.version + 1,
    )
)
_INSERT_SCORES = scoped(insert(Score.__table__))  # type: ignore[attr-defined]
_PREVIOUS = (
    select(_response.id)
    .select_from(
        Response.__table__.join(  # type: ignore[attr-defined]
            Instrument.__table__,  # type: ignore[attr-defined]
            (_instrument.id == _response.instrument_id) & (_instrument.clinic_id == _clinic),
        )
    )
    .where(
        _response.clinic_id == _clinic,
        _response.client_id == bindparam("client_id"),
        _instrument.url == bindparam("url"),
        one_of(_response.status, sorted(assessments.WHOLE_STATUSES)),
        _response.id != bindparam("response_id"),
        _response.authored <= bindparam("authored"),
    )
    .order_by(_response.authored.desc(), _response.created_at.desc())
    .limit(1)
    .scalar_subquery()
)
_PREVIOUS_SCORES = scoped(
    select(_score.scale, _score.value).where(
        _score.clinic_id == _clinic, _score.response_id == _PREVIOUS
    )
)


async def record_response(
    connection: ClinicConnection,
    *,
    client_id: uuid.UUID,
    instrument: InstrumentKey,
    questionnaire_response: dict[str, Any],
    assignment_id: uuid.UUID | None = None,
    replaces: Replaced | None = None,
    progress_id: uuid.UUID | None = None,
    couple_id: uuid.UUID | None = None,
) -> RecordedResponse:
    """Validate, score (when whole) and write one response and its scores.

    Flags (the safety flag) are raised whatever the status, so a yes saved in an
    unfinished check-in reaches the counsellor too.

    Raises `InvalidInput` listing every problem (each with a JSON pointer into
    the response) and `NotFound` for a client outside the connection's clinic.
    A response given for an assignment names the assignment's client: the
    database refuses any other (a composite foreign key). A correction of a
    completed response has status `amended` and names the response it
    `replaces`; the original stays as it was. `progress_id` is the in-progress
    response being continued or finished: it is updated in place, so an
    assignment keeps one response from first save to submission. A high flag
    (the safety item) raises its alert in the same transaction, named for the
    client and, when given, the `couple_id` the answers were given in.

    Nothing is written until everything is valid; then one INSERT or UPDATE
    writes the response and one INSERT all its scores. The INSERTs run when the
    transaction next needs them (`ClinicConnection.execute_later`): on
    PostgreSQL, in the same round trip as the COMMIT.
    """
    if (
        assignment_id is None
        and (await connection.execute(_CLIENT, {"client_id": client_id})).first() is None
    ):
        raise NotFound(f"no client {client_id} in this clinic")
    definition = await clinical_definition_of(connection, instrument)
    # Only top-level members (id, subject, authored) are set below, so a shallow copy
    # keeps the caller's document untouched without copying every item.
    document = (
        dict(questionnaire_response)
        if isinstance(questionnaire_response, dict)
        else questionnaire_response
    )
    problems = _recording_problems(document, client_id, instrument.id, replaces)
    scored, found = check_answers(definition, document)
    problems.extend(found)
    status = document.get("status") if isinstance(document, dict) else None
    authored = _authored(document, problems)
    if problems:
        raise InvalidInput(
            f"the response has {len(problems)} problem(s)",
            [FieldProblem(p.location, p.message, p.code) for p in problems],
        )

    flags = scored.flags if scored else assessments.raise_flags(definition, document)
    if scored is not None and scored.response is not document:
        # An instrument that calculates items itself: keep Tandem's values, not the carried ones.
        document = dict(scored.response)
    response_id = progress_id or new_id()
    now = utcnow()
    document["id"] = str(response_id)
    document["subject"] = {"reference": f"Patient/{client_id}"}
    document["authored"] = authored.isoformat()
    flag_rows = [asdict(flag) for flag in flags]
    identifier = _identifier_of(document)
    if progress_id is None:
        row = {
            "id": response_id,
            "client_id": client_id,
            "assignment_id": assignment_id,
            "instrument_id": instrument.id,
            "status": status,
            "authored": authored,
            "questionnaire_response": document,
            "flags": flag_rows,
            "replaces_id": replaces.id if replaces else None,
            "identifier_system": identifier[0],
            "identifier_value": identifier[1],
            "created_at": now,
            "updated_at": now,
        }
        await connection.execute_later(_INSERT_RESPONSE, [row], rows=1)
    else:
        continued = await connection.execute(
            _CONTINUE_RESPONSE,
            {
                "progress_id": progress_id,
                "for_client": client_id,
                "for_instrument": instrument.id,
                "new_status": status,
                "new_authored": authored,
                "document": document,
                "new_flags": flag_rows,
                "new_replaces": replaces.id if replaces else None,
                "new_identifier_system": identifier[0],
                "new_identifier_value": identifier[1],
                "now": now,
            },
        )
        if continued.rowcount != 1:
            raise ValueError("only an in-progress response of this client and instrument continues")
    if scored and scored.scores:
        await connection.execute_later(
            _INSERT_SCORES,
            [
                {
                    "id": new_id(),
                    "response_id": response_id,
                    "client_id": client_id,
                    "scale": score.scale,
                    "label": score.label,
                    "value": score.value,
                    "min": score.min,
                    "max": score.max,
                    "band": score.band,
                    "interpretation": score.interpretation,
                    "items_used": list(score.items_used),
                    "unscored_reason": score.unscored_reason,
                    "created_at": now,
                }
                for score in scored.scores
            ],
            rows=len(scored.scores),
        )
    raised = alert_rules.safety_alerts(str(response_id), flags)
    if scored and any(scale.reliability for scale in definition.scoring.scales):
        raised += await _deterioration(connection, definition, client_id, response_id,
                                       authored, scored)  # fmt: skip
    await alerts.raise_on_connection(connection, raised, client_id, couple_id)
    return RecordedResponse(
        id=response_id,
        status=ResponseStatus(status),
        flags=flags,
        scores=scored.scores if scored else (),
    )


def check_answers(
    definition: assessments.Instrument, document: Any
) -> tuple[assessments.ScoredResponse | None, list[assessments.Problem]]:
    """The answers checked against the instrument: scored when finished (completed or
    amended), validated as far as they go otherwise; and every problem found.

    Recording and `$validate` both come here, so they cannot disagree.
    """
    status = document.get("status") if isinstance(document, dict) else None
    if status in assessments.WHOLE_STATUSES:
        try:
            return assessments.score_response(definition, document), []
        except assessments.InvalidResponse as invalid:
            return None, list(invalid.problems)
    return None, assessments.check_partial(definition, document)


def statement_problems(
    document: Any,
    client_id: uuid.UUID | None,
    instrument_id: uuid.UUID | None,
    replaces: Replaced | None,
) -> list[assessments.Problem]:
    """What makes a response unrecordable whatever it answers: its shape, status, subject,
    what it replaces, and authored time (the checks `record_response` makes besides the
    answers themselves)."""
    problems = _recording_problems(document, client_id, instrument_id, replaces)
    if isinstance(document, dict):
        _authored(document, problems)
    return problems


async def _deterioration(
    connection: ClinicConnection,
    definition: assessments.Instrument,
    client_id: uuid.UUID,
    response_id: uuid.UUID,
    authored: datetime,
    scored: assessments.ScoredResponse,
) -> list[alert_rules.Alert]:
    """Reliable deterioration since the client's previous scored response to the instrument,
    on the scales whose spec gives the figures (the others cannot say)."""
    previous = {
        row.scale: row.value
        for row in await connection.execute(
            _PREVIOUS_SCORES,
            {
                "client_id": client_id,
                "url": definition.url,
                "response_id": response_id,
                "authored": authored,
            },
        )
    }
    specs = {scale.code: scale for scale in definition.scoring.scales if scale.reliability}
    changes = [
        reliable_change(specs[score.scale], previous[score.scale], score.value)
        for score in scored.scores
        if score.scale in specs
        and score.value is not None
        and previous.get(score.scale) is not None
    ]
    return alert_rules.deterioration_alerts(str(response_id), changes)


def _identifier_of(document: dict[str, Any]) -> tuple[str | None, str | None]:
    """The response's own business identifier (R4: one Identifier), kept for search."""
    given = document.get("identifier")
    if not isinstance(given, dict):
        return None, None
    system, value = given.get("system"), given.get("value")
    return (
        system if isinstance(system, str) and len(system) <= 255 else None,
        value if isinstance(value, str) and len(value) <= 255 else None,
    )


def _recording_problems(
    document: Any,
    client_id: uuid.UUID | None,
    instrument_id: uuid.UUID | None,
    replaces: Replaced | None,
) -> list[assessments.Problem]:
    if not isinstance(document, dict):
        return [assessments.Problem("invalid-structure", "", "the response must be a JSON object")]
    problems = []
    status = document.get("status")
    if isinstance(status, str) and status in set(ResponseStatus) and status not in RECORDABLE:
        problems.append(
            assessments.Problem(
                "invalid-status",
                "/status",
                f"a response with status '{status}' cannot be recorded; send in-progress, "
                "completed, or amended",
            )
        )
    subject = document.get("subject")
    expected = f"Patient/{client_id}"
    if subject is not None and (
        not isinstance(subject, dict) or subject.get("reference") != expected
    ):
        problems.append(
            assessments.Problem(
                "subject-mismatch", "/subject", f"subject must be {expected} or left out"
            )
        )
    if status == ResponseStatus.AMENDED:
        if replaces is None:
            problems.append(
                assessments.Problem(
                    "invalid-status", "/status", "an amended response must name the one it replaces"
                )
            )
        elif (
            replaces.client_id != client_id
            or replaces.instrument_id != instrument_id
            or replaces.status not in assessments.WHOLE_STATUSES
        ):
            problems.append(
                assessments.Problem(
                    "invalid-status",
                    "/status",
                    "only a completed or amended response of this client to this instrument "
                    "can be amended",
                )
            )
    elif replaces is not None:
        problems.append(
            assessments.Problem(
                "invalid-status", "/status", "only an amended response replaces another"
            )
        )
    return problems


def _authored(document: Any, problems: list[assessments.Problem]) -> datetime:
    raw = document.get("authored") if isinstance(document, dict) else None
    if raw is None:
        return utcnow()
    try:
        authored = datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        authored = None
    if authored is None or authored.tzinfo is None or len(raw) < len("2026-01-01T00:00:00Z"):
        problems.append(
            assessments.Problem(
                "invalid-structure",
                "/authored",
                "authored must be a full date and time with a time zone, e.g. "
                "2026-11-22T09:30:00+00:00",
            )
        )
        return utcnow()
    if authored > utcnow() + timedelta(minutes=5):  # a little clock skew is forgiven
        problems.append(
            assessments.Problem("invalid-structure", "/authored", "authored is in the future")
        )
    return authored


_SCORE_FIELDS = tuple(ScorePublic.model_fields)  # as the view's statement builds each score


def _scores_of_response(dialect: str) -> Any:
    """The response's scores as one JSON array, so a response is read in one statement."""
    if dialect == "postgresql":
        aggregate, build = func.jsonb_agg, func.jsonb_build_object
        fields = [_score[name] for name in _SCORE_FIELDS]
    else:
        aggregate, build = func.json_group_array, func.json_object
        fields = [
            func.json(_score[name]) if name == "items_used" else _score[name]
            for name in _SCORE_FIELDS
        ]
    names = [constant(name) for name in _SCORE_FIELDS]
    pairs = [part for pair in zip(names, fields, strict=True) for part in pair]
    return type_coerce(
        select(aggregate(build(*pairs)))
        .where(_score.clinic_id == _clinic, _score.response_id == _response.id)
        .correlate(Response.__table__)  # type: ignore[attr-defined]
        .scalar_subquery(),
        JSONDocument,
    ).label("scores")


def _stored_text(column: Any, dialect: str) -> Any:
    """A JSON column read as its text, not decoded: PostgreSQL renders jsonb as text."""
    return cast(column, Text) if dialect == "postgresql" else type_coerce(column, Text)


def _view_statement(dialect: str) -> Scoped:
    return scoped(
        select(
            _response.id,
            _response.assignment_id,
            _response.client_id,
            _response.status,
            _response.authored,
            _stored_text(_response.questionnaire_response, dialect).label("questionnaire_response"),
            _response.flags,
            _instrument.id.label("instrument_id"),
            _instrument.slug,
            _instrument.url,
            _instrument.version,
            _instrument.source,
            _scores_of_response(dialect),
        )
        .select_from(
            Response.__table__.join(  # type: ignore[attr-defined]
                Instrument.__table__,  # type: ignore[attr-defined]
                (_instrument.id == _response.instrument_id) & (_instrument.clinic_id == _clinic),
            )
        )
        .where(_response.clinic_id == _clinic, _response.id == bindparam("response_id"))
    )


_VIEW = {dialect: _view_statement(dialect) for dialect in ("sqlite", "postgresql")}


async def response_view(connection: ClinicConnection, response_id: uuid.UUID) -> bytes:
    """A response with its scores and flags, for the counsellor's practice system: the
    `ResponsePublic` document as JSON, written by orjson straight from the row.

    The QuestionnaireResponse goes out as the database holds it (valid JSON Tandem
    wrote): decoding and re-encoding the largest part of every read is what this
    saves, and building the envelope's models (see the README's performance
    section). A test holds the body to `ResponsePublic`, field for field and type
    for type.
    """
    view = _VIEW[connection.dialect.name]
    found = (await connection.execute(view, {"response_id": response_id})).first()
    if found is None:
        raise NotFound(f"no response {response_id}")
    definition = await clinical_definition_of(connection, InstrumentKey.of_columns(found))
    scores = _in_spec_order(definition, found.scores or [])
    document = {
        "id": found.id,
        "assignment_id": found.assignment_id,
        "client_id": found.client_id,
        "instrument": {"slug": found.slug, "url": found.url, "version": found.version},
        "status": found.status,
        "authored": found.authored,
        "questionnaire_response": orjson.Fragment(found.questionnaire_response),
        "scores": [_score_document(score) for score in scores],
        "flags": [{field: flag[field] for field in _FLAG_FIELDS} for flag in found.flags],
    }
    return orjson.dumps(document, option=orjson.OPT_UTC_Z)


_FLAG_FIELDS = tuple(FlagPublic.model_fields)


def _score_document(score: dict[str, Any]) -> dict[str, Any]:
    """`ScorePublic` of a score as the view's statement gives it: bounds and value are
    JSON numbers PostgreSQL may spell as integers; the model's are floats."""
    return {
        field: float(score[field])
        if field in _REAL_FIELDS and score[field] is not None
        else score[field]
        for field in _SCORE_FIELDS
    }


_REAL_FIELDS = frozenset({"value", "min", "max"})


def client_results(
    session: Session, client_id: uuid.UUID, instrument_reference: str
) -> ResultSeries:
    """A client's scored responses to one instrument, oldest first.

    A slug or url covers every version of the instrument; `url|version` one.
    A response corrected by an amendment is left out in favour of the correction.
    """
    if session.get(Client, client_id) is None:
        raise NotFound(f"no client {client_id}")
    instrument = resolve_instrument(session, instrument_reference)
    versions = select(Instrument.id).where(Instrument.url == instrument.url)
    if "|" in instrument_reference:
        versions = versions.where(Instrument.version == instrument.version)
    responses = scored_responses(session, client_id, versions)
    definition = clinical_definition(session, InstrumentKey.of(instrument))
    replaced = {r.replaces_id for r in responses if r.replaces_id is not None}
    kept = [r for r in responses if r.id not in replaced]
    scores_by_response: dict[uuid.UUID, list[Any]] = {r.id: [] for r in kept}
    if kept:
        for score in session.exec(
            select(*_SCORE_COLUMNS).where(Score.response_id.in_(list(scores_by_response)))
        ):  # type: ignore[attr-defined]
            scores_by_response[score.response_id].append(score)
    return ResultSeries(
        client_id=client_id,
        instrument=InstrumentRef(
            slug=instrument.slug, url=instrument.url, version=instrument.version
        ),
        points=[
            ResultPoint(
                response_id=r.id,
                assignment_id=r.assignment_id,
                authored=r.authored,
                scores=[
                    _score_public(s) for s in _in_spec_order(definition, scores_by_response[r.id])
                ],
            )
            for r in kept
        ],
    )


def scored_responses(
    session: Session, client_id: uuid.UUID, versions: Any, since: datetime | None = None
) -> list[Response]:
    """A client's completed and amended responses to the instrument `versions` (a select of
    instrument ids), authored at or after `since` if given, oldest first."""
    statement = (
        select(Response)
        .where(
            Response.client_id == client_id,
            Response.instrument_id.in_(versions),  # type: ignore[attr-defined]
            Response.status.in_(sorted(assessments.WHOLE_STATUSES)),  # type: ignore[attr-defined]
        )
        .order_by(Response.authored, Response.created_at)
    )
    if since is not None:
        statement = statement.where(Response.authored >= since)
    return list(session.exec(statement))


def client_trends(session: Session, client_id: uuid.UUID, instrument_reference: str) -> TrendReport:
    """Every scale of a client's scored responses over time, with reliable change from the
    first and from the previous response to the latest (see `assessments.change`).

    Across versions of an instrument the newest version's scales and figures apply.
    """
    series = client_results(session, client_id, instrument_reference)
    definition = clinical_definition(
        session, InstrumentKey.of(resolve_instrument(session, instrument_reference))
    )
    scales = []
    for scale in definition.scoring.scales:
        points = [
            TrendPoint(response_id=p.response_id, authored=p.authored, value=s.value, band=s.band)
            for p in series.points
            for s in p.scores
            if s.scale == scale.code and s.value is not None
        ]
        first, previous = (points[0], points[-2]) if len(points) >= 2 else (None, None)
        scales.append(
            ScaleTrend(
                scale=scale.code,
                label=scale.label,
                direction=scale.direction,
                points=points,
                first_to_latest=_change(scale, first, points[-1]) if first else None,
                previous_to_latest=_change(scale, previous, points[-1]) if previous else None,
            )
        )
    return TrendReport(client_id=client_id, instrument=series.instrument, scales=scales)


def _change(scale: Scale, before: TrendPoint, after: TrendPoint) -> ChangePublic:
    change = reliable_change(scale, before.value, after.value)
    return ChangePublic(
        before=float(change.before),
        after=float(change.after),
        difference=float(change.difference),
        rci=float(change.rci) if change.rci is not None else None,
        classification=change.classification,
        reason=change.reason,
    )


_SCORE_COLUMNS = (
    Score.response_id,
    Score.scale,
    Score.label,
    Score.value,
    Score.min,
    Score.max,
    Score.band,
    Score.interpretation,
    Score.items_used,
    Score.unscored_reason,
)


def _in_spec_order(definition: assessments.Instrument, scores: list[Any]) -> list[Any]:
    """Scores (rows, or mappings) in the order the instrument's scoring spec lists its scales."""
    scales = definition.scoring.scales
    order = {scale.code: i for i, scale in enumerate(scales)}

    def position(score: Any) -> int:
        scale = score["scale"] if isinstance(score, dict) else score.scale
        return order.get(scale, len(order))

    return sorted(scores, key=position)


def _score_public(score: Any) -> ScorePublic:
    return ScorePublic(
        scale=score.scale,
        label=score.label,
        value=score.value,
        min=score.min,
        max=score.max,
        band=score.band,
        interpretation=score.interpretation,
        items_used=score.items_used,
        unscored_reason=score.unscored_reason,
    )
