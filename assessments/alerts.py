"""The rules that raise alerts for the counsellor, as pure functions.

Each rule looks at facts the caller gathers (a response's flags, a reliable
change, an assignment's due date, a run of check-ins) and returns the alerts
it raises. Every alert carries a `key` naming what it is about, so raising
the same alert twice (a retried job, a second look at the same response)
stores it once.

Priorities: 1 is the highest. A yes to the safety item is priority 1 and is
raised when the response is recorded, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from assessments.change import Change
from assessments.scoring import Flag

OVERDUE_AFTER_DAYS = 2
MISSED_IN_A_ROW = 3
SAFETY, DETERIORATION, OVERDUE, MISSED = 1, 2, 3, 3  # priorities


@dataclass(frozen=True)
class Alert:
    rule: str
    priority: int
    key: str  # what the alert is about; one alert per rule and key
    message: str  # for the counsellor; names the evidence, never the client's answers
    evidence: dict[str, str | float | None] = field(default_factory=dict)


def safety_alerts(response_id: str, flags: Iterable[Flag]) -> list[Alert]:
    """A high-severity flag (the safety item answered yes) is the highest-priority alert."""
    return [
        Alert(
            rule=flag.code,
            priority=SAFETY,
            key=f"{flag.code}:{response_id}",
            message=flag.message,
            evidence={"response_id": response_id, "item": flag.item},
        )
        for flag in flags
        if flag.severity == "high"
    ]


def deterioration_alerts(response_id: str, changes: Iterable[Change]) -> list[Alert]:
    """Every scale that reliably deteriorated since the previous response."""
    return [
        Alert(
            rule="reliable-deterioration",
            priority=DETERIORATION,
            key=f"reliable-deterioration:{response_id}:{change.scale}",
            message=f"{change.scale} reliably deteriorated: {change.before} to {change.after} "
            f"(RCI {change.rci})",
            evidence={
                "response_id": response_id,
                "scale": change.scale,
                "before": float(change.before),
                "after": float(change.after),
                "rci": float(change.rci) if change.rci is not None else None,
            },
        )
        for change in changes
        if change.classification == "reliably-deteriorated"
    ]


def overdue_alert(
    assignment_id: str,
    due: date | None,
    is_open: bool,
    today: date,
    after_days: int = OVERDUE_AFTER_DAYS,
) -> Alert | None:
    """An open assignment more than `after_days` past its due date (`today` in the
    clinic's time zone): due on the 1st with 2 days' grace alerts on the 4th."""
    if due is None or not is_open or today <= due + timedelta(days=after_days):
        return None
    days = (today - due).days
    return Alert(
        rule="overdue",
        priority=OVERDUE,
        key=f"overdue:{assignment_id}",
        message=f"homework {days} days overdue (due {due.isoformat()})",
        evidence={"assignment_id": assignment_id, "due": due.isoformat(), "days_overdue": days},
    )


@dataclass(frozen=True)
class CheckIn:
    """One weekly check-in assignment: when it was due and whether it was completed."""

    assignment_id: str
    due: date
    completed: bool


def missed_check_ins_alert(
    client_key: str, check_ins: Sequence[CheckIn], today: date, in_a_row: int = MISSED_IN_A_ROW
) -> Alert | None:
    """The last `in_a_row` check-ins that fell due before `today` all missed.

    Only check-ins already due count (this week's is not missed yet); the alert
    is keyed by the latest missed one, so a fourth miss raises a new alert and
    the same run is not raised twice.
    """
    past = sorted((c for c in check_ins if c.due < today), key=lambda c: c.due)
    recent = past[-in_a_row:]
    if len(recent) < in_a_row or any(c.completed for c in recent):
        return None
    latest = recent[-1]
    return Alert(
        rule="missed-check-ins",
        priority=MISSED,
        key=f"missed-check-ins:{client_key}:{latest.assignment_id}",
        message=f"{in_a_row} weekly check-ins in a row missed "
        f"({recent[0].due.isoformat()} to {latest.due.isoformat()})",
        evidence={"last_missed": latest.assignment_id, "since": recent[0].due.isoformat()},
    )
