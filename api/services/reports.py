"""The couple report: both partners' balance side by side, patterns, and recent check-ins.

The rules (differences, patterns, check-in trends) live in `assessments/`;
this module gathers each partner's rows and hands them over. The report is
the counsellor's view: it carries private answers and flags.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlmodel import Session, select

import assessments
from api.services.clients import couple_members
from api.services.instruments import InstrumentKey, clinical_definition, resolve_instrument
from api.services.responses import scored_responses
from assessments.answers import answers_by_link_id, plain_value, value_entry
from assessments.checkins import CheckInPoint, summarise_check_ins
from assessments.dyad import DIFFER_SHARE, PartnerScore, compare_partners
from schemas import Assignment, AssignmentStatus, Instrument, Response, Score
from schemas.base import utcnow
from schemas.instrument import InstrumentRef
from schemas.report import (
    BalanceSection,
    CheckInPartner,
    CheckInSection,
    CoupleReport,
    PartnerBalance,
    PartnerScorePublic,
    PatternPublic,
    PrivateAnswer,
    RaisedFlag,
    ScaleComparisonPublic,
)

BALANCE, CHECK_IN = "balance-assessment", "weekly-check-in"


def couple_report(
    session: Session, couple_id: uuid.UUID, weeks: int, differ_share: Decimal = DIFFER_SHARE
) -> CoupleReport:
    members = couple_members(session, couple_id)
    now = utcnow()
    return CoupleReport(
        couple_id=couple_id,
        generated_at=now,
        balance=_balance(session, members, differ_share),
        check_ins=_check_ins(session, members, weeks, now.date()),
    )


@dataclass(frozen=True)
class LatestBalance:
    """Each partner's latest scored balance assessment (in the couple's order) and its scores."""

    instrument: Instrument
    definition: assessments.Instrument
    responses: list[tuple[uuid.UUID, datetime] | None]
    scores: list[dict[str, PartnerScore]]


def latest_balance(
    session: Session, members: list[uuid.UUID], after: datetime | None = None
) -> LatestBalance:
    """The partners' latest balance assessments (authored after `after`, when given)."""
    instrument = resolve_instrument(session, BALANCE)
    definition = clinical_definition(session, InstrumentKey.of(instrument))
    responses: list[tuple[uuid.UUID, datetime] | None] = []
    scores = []
    for client_id in members:
        statement = (
            select(Response.id, Response.authored)
            .join(Instrument, Instrument.id == Response.instrument_id)
            .where(
                Response.client_id == client_id,
                Instrument.url == instrument.url,
                Response.status.in_(sorted(assessments.WHOLE_STATUSES)),  # type: ignore[attr-defined]
            )
            .order_by(Response.authored.desc(), Response.created_at.desc())  # type: ignore[attr-defined]
            .limit(1)
        )
        if after is not None:
            statement = statement.where(Response.authored > after)
        latest = session.exec(statement).first()
        responses.append((latest[0], latest[1]) if latest else None)
        scores.append(response_scores(session, latest[0]) if latest else {})
    return LatestBalance(instrument, definition, responses, scores)


def response_scores(session: Session, response_id: uuid.UUID) -> dict[str, PartnerScore]:
    """A response's scores by scale."""
    rows = session.exec(
        select(Score.scale, Score.value, Score.band).where(Score.response_id == response_id)
    ).all()
    return {scale: PartnerScore(value, band) for scale, value, band in rows}


def _balance(session: Session, members: list[uuid.UUID], differ_share: Decimal) -> BalanceSection:
    latest = latest_balance(session, members)
    instrument, definition, scores = latest.instrument, latest.definition, latest.scores
    partners = [
        PartnerBalance(
            client_id=client_id,
            response_id=found[0] if found else None,
            authored=found[1] if found else None,
        )
        for client_id, found in zip(members, latest.responses, strict=True)
    ]
    comparison = compare_partners(definition, scores[0], scores[1], differ_share)
    return BalanceSection(
        instrument=InstrumentRef(
            slug=instrument.slug, url=instrument.url, version=instrument.version
        ),
        partners=partners,
        scales=[
            ScaleComparisonPublic(
                scale=c.scale,
                label=c.label,
                first=_score(c.first),
                second=_score(c.second),
                difference=float(c.difference) if c.difference is not None else None,
                threshold=float(c.threshold),
                partners_differ=c.partners_differ,
            )
            for c in comparison.scales
        ],
        patterns=[
            PatternPublic(code=p.code, rule=p.rule, evidence=p.evidence)
            for p in comparison.patterns
        ],
    )


def _score(score: PartnerScore | None) -> PartnerScorePublic | None:
    return None if score is None else PartnerScorePublic(value=score.value, band=score.band)


def _check_ins(
    session: Session, members: list[uuid.UUID], weeks: int, today: date
) -> CheckInSection:
    since = today - timedelta(weeks=weeks)
    start = datetime.combine(since, time(0), tzinfo=utcnow().tzinfo)
    check_in = resolve_instrument(session, CHECK_IN)
    private = set(clinical_definition(session, InstrumentKey.of(check_in)).scoring.private_items)
    versions = select(Instrument.id).where(Instrument.url == check_in.url)
    partners = []
    for client_id in members:
        responses = scored_responses(session, client_id, versions, since=start)
        values: dict[uuid.UUID, dict[str, Any]] = {r.id: {} for r in responses}
        if responses:
            for response_id, scale, value, band in session.exec(
                select(Score.response_id, Score.scale, Score.value, Score.band).where(
                    Score.response_id.in_(list(values))  # type: ignore[attr-defined]
                )
            ):
                values[response_id][scale] = (value, band)
        points = [
            CheckInPoint(
                authored=r.authored,
                balance_rating=values[r.id].get("balance-rating", (None, None))[0],
                ritual_kept=_kept(values[r.id].get("ritual-kept")),
            )
            for r in responses
        ]
        missed = session.exec(
            select(Assignment.id).where(
                Assignment.client_id == client_id,
                Assignment.instrument_id.in_(versions),  # type: ignore[attr-defined]
                Assignment.due >= since,  # type: ignore[operator]
                Assignment.due < today,  # type: ignore[operator]
                Assignment.status.in_([AssignmentStatus.REQUESTED, AssignmentStatus.IN_PROGRESS]),  # type: ignore[attr-defined]
            )
        ).all()
        summary = summarise_check_ins(points, len(missed))
        partners.append(
            CheckInPartner(
                client_id=client_id,
                responses=summary.responses,
                mean_balance_rating=_float(summary.mean_balance_rating),
                trend=summary.trend,
                slope_per_week=_float(summary.slope_per_week),
                rituals_kept=summary.rituals_kept,
                rituals_reported=summary.rituals_reported,
                weeks_missed=summary.weeks_missed,
                flags=[
                    RaisedFlag(**flag, response_id=r.id, authored=r.authored)
                    for r in responses
                    for flag in r.flags
                ],
                private_answers=[
                    answer for r in responses for answer in _private_answers(r, private)
                ],
            )
        )
    return CheckInSection(weeks=weeks, since=since, partners=partners)


def _kept(score: tuple[float | None, str | None] | None) -> bool | None:
    if score is None or score[1] is None:
        return None
    return score[1] == "kept"


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _private_answers(response: Response, private: set[str]) -> list[PrivateAnswer]:
    found = []
    for link_id, answers in answers_by_link_id(response.questionnaire_response.get("item")).items():
        if link_id not in private:
            continue
        for answer in answers:
            entry = value_entry(answer)
            value = plain_value(*entry) if entry else None
            if isinstance(value, str) and value:
                found.append(
                    PrivateAnswer(
                        response_id=response.id,
                        authored=response.authored,
                        link_id=link_id,
                        text=value,
                    )
                )
    return found
