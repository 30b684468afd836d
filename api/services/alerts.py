"""Alerts for the counsellor: stored once per key, listed by priority, acknowledged.

The rules live in `assessments.alerts`. A safety alert is raised as the
answer is recorded, in the same transaction (`raise_on_connection`). Overdue
homework and missed check-ins depend on the date, so listing first brings
them up to today (`sweep`); each key is stored once, so sweeping again adds
nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from api.errors import NotFound
from api.persistence.connection import ClinicConnection
from api.persistence.tenancy import scoped
from api.services.instruments import resolve_instrument
from assessments import alerts as rules
from schemas import Alert, AlertStatus, Assignment, AssignmentStatus, Instrument
from schemas.alert import AlertPage, AlertPublic
from schemas.base import utcnow

OPEN = (AssignmentStatus.REQUESTED, AssignmentStatus.IN_PROGRESS)
_table = Alert.__table__  # type: ignore[attr-defined]
_KEY = ["clinic_id", "key"]
_INSERT_NEW = {  # a key already stored is skipped, never rewritten
    "sqlite": scoped(sqlite.insert(_table).on_conflict_do_nothing(index_elements=_KEY)),
    "postgresql": scoped(postgresql.insert(_table).on_conflict_do_nothing(index_elements=_KEY)),
}


async def raise_on_connection(
    connection: ClinicConnection,
    raised: Sequence[rules.Alert],
    client_id: uuid.UUID,
    couple_id: uuid.UUID | None,
) -> None:
    """Store `raised` (skipping keys already stored) in the connection's transaction."""
    if raised:
        await connection.execute(
            _INSERT_NEW[connection.dialect.name], [_row(a, client_id, couple_id) for a in raised]
        )


def _row(alert: rules.Alert, client_id: uuid.UUID, couple_id: uuid.UUID | None) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "client_id": client_id,
        "couple_id": couple_id,
        "rule": alert.rule,
        "priority": alert.priority,
        "key": alert.key,
        "message": alert.message,
        "evidence": alert.evidence,
        "status": AlertStatus.OPEN.value,
        "raised_at": utcnow(),
    }


def sweep(session: Session, today: date) -> None:
    """Raise the date-driven alerts the clinic is due: overdue homework, missed check-ins."""
    known = set(session.exec(select(Alert.key)))
    found: list[tuple[rules.Alert, uuid.UUID, uuid.UUID | None]] = []
    for assignment in session.exec(
        select(Assignment).where(
            Assignment.status.in_(OPEN),  # type: ignore[attr-defined]
            Assignment.due < today,  # type: ignore[operator]
        )
    ):
        alert = rules.overdue_alert(str(assignment.id), assignment.due, True, today)
        if alert is not None:
            found.append((alert, assignment.client_id, assignment.couple_id))
    check_in = resolve_instrument(session, "weekly-check-in")
    versions = select(Instrument.id).where(Instrument.url == check_in.url)
    by_client: dict[uuid.UUID, list[Assignment]] = {}
    for assignment in session.exec(
        select(Assignment).where(
            Assignment.instrument_id.in_(versions),  # type: ignore[attr-defined]
            Assignment.status != AssignmentStatus.CANCELLED,
            Assignment.due < today,  # type: ignore[operator]
        )
    ):
        by_client.setdefault(assignment.client_id, []).append(assignment)
    for client_id, assignments in by_client.items():
        runs = [
            rules.CheckIn(str(a.id), a.due, a.status == AssignmentStatus.COMPLETED)  # type: ignore[arg-type]
            for a in assignments
        ]
        alert = rules.missed_check_ins_alert(str(client_id), runs, today)
        if alert is not None:
            latest = max(assignments, key=lambda a: a.due)  # type: ignore[arg-type,return-value]
            found.append((alert, client_id, latest.couple_id))
    for alert, client_id, couple_id in found:
        if alert.key not in known:
            known.add(alert.key)
            session.add(Alert(**_row(alert, client_id, couple_id)))
    session.flush()


def list_alerts(session: Session, status: AlertStatus | None, today: date) -> AlertPage:
    """The clinic's alerts, highest priority and newest first, after a sweep."""
    sweep(session, today)
    statement = select(Alert).order_by(Alert.priority, Alert.raised_at.desc())  # type: ignore[attr-defined]
    if status is not None:
        statement = statement.where(Alert.status == status)
    return AlertPage(items=[_public(alert) for alert in session.exec(statement)])


def acknowledge(session: Session, alert_id: uuid.UUID, by: str) -> AlertPublic:
    """Mark an alert acknowledged by the calling integration; again, it stays as first marked."""
    alert = session.exec(select(Alert).where(Alert.id == alert_id).with_for_update()).first()
    if alert is None:
        raise NotFound(f"no alert {alert_id}")
    if alert.status == AlertStatus.OPEN:
        alert.status = AlertStatus.ACKNOWLEDGED
        alert.acknowledged_at = utcnow()
        alert.acknowledged_by = by
        session.flush()
    return _public(alert)


def _public(alert: Alert) -> AlertPublic:
    return AlertPublic.model_validate(alert, from_attributes=True)
