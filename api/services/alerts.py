"""Alerts for the counsellor: stored once per key, listed by priority, acknowledged.

The rules live in `assessments.alerts`. A safety alert is raised as the
answer is recorded, in the same transaction (`raise_on_connection`). Overdue
homework and missed check-ins depend on the date, so listing first brings
them up to today (`sweep`, in a write transaction of its own); each key is
stored once, so sweeping again, or two sweeps at once, add nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import and_, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from api.errors import NotFound
from api.persistence.connection import ClinicConnection
from api.persistence.tenancy import CLINIC_PARAMETER, one_of, scoped
from assessments import alerts as rules
from assessments.catalogue import load_builtin
from schemas import Alert, AlertStatus, Assignment, AssignmentStatus, Instrument
from schemas.alert import AlertPage, AlertPublic
from schemas.base import new_id, utcnow

CHECK_IN = "weekly-check-in"
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
        "id": new_id(),
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


_assignment = Assignment.__table__  # type: ignore[attr-defined]
_instrument = Instrument.__table__  # type: ignore[attr-defined]
_clinic = bindparam(CLINIC_PARAMETER)
_OVERDUE = scoped(
    select(_assignment.c.id, _assignment.c.client_id, _assignment.c.couple_id, _assignment.c.due)
    .where(_assignment.c.clinic_id == _clinic)
    .where(one_of(_assignment.c.status, [status.value for status in OPEN]))
    .where(_assignment.c.due < bindparam("today"))
)
_CHECK_INS = scoped(
    select(
        _assignment.c.id,
        _assignment.c.client_id,
        _assignment.c.couple_id,
        _assignment.c.due,
        _assignment.c.status,
    )
    .select_from(
        _assignment.join(
            _instrument,
            and_(
                _instrument.c.clinic_id == _assignment.c.clinic_id,
                _instrument.c.id == _assignment.c.instrument_id,
            ),
        )
    )
    .where(_assignment.c.clinic_id == _clinic, _instrument.c.clinic_id == _clinic)
    .where(_instrument.c.url == bindparam("url"))
    .where(_assignment.c.status != AssignmentStatus.CANCELLED.value)
    .where(_assignment.c.due < bindparam("today"))
)


async def sweep(
    connection: ClinicConnection, today: date, overdue_after_days: int = rules.OVERDUE_AFTER_DAYS
) -> None:
    """Raise the date-driven alerts the clinic is due: overdue homework, missed check-ins.

    It runs in a transaction of its own on the write bind, in the request's
    turn to write (`writing_connection`); a key stored already, by an earlier
    sweep or a concurrent one, is skipped by the insert itself.
    """
    found: list[tuple[rules.Alert, uuid.UUID, uuid.UUID | None]] = []
    for row in await connection.execute(_OVERDUE, {"today": today}):
        alert = rules.overdue_alert(str(row.id), row.due, True, today, overdue_after_days)
        if alert is not None:
            found.append((alert, row.client_id, row.couple_id))
    by_client: dict[uuid.UUID, list[Any]] = {}
    rows = await connection.execute(_CHECK_INS, {"today": today, "url": _check_in_url()})
    for row in rows:
        by_client.setdefault(row.client_id, []).append(row)
    for client_id, runs in by_client.items():
        check_ins = [
            rules.CheckIn(str(r.id), r.due, r.status == AssignmentStatus.COMPLETED.value)
            for r in runs
        ]
        alert = rules.missed_check_ins_alert(str(client_id), check_ins, today)
        if alert is not None:
            latest = max(runs, key=lambda r: r.due)
            found.append((alert, client_id, latest.couple_id))
    unique = {alert.key: (alert, client_id, couple_id) for alert, client_id, couple_id in found}
    if unique:
        await connection.execute(
            _INSERT_NEW[connection.dialect.name],
            [_row(alert, client_id, couple_id) for alert, client_id, couple_id in unique.values()],
        )


def _check_in_url() -> str:
    return load_builtin(CHECK_IN).url


def list_alerts(session: Session, status: AlertStatus | None) -> AlertPage:
    """The clinic's alerts, highest priority and newest first."""
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
