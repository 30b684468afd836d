"""Alert rules: who raises what, from which evidence, and that each is raised once per key."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from assessments import load_builtin, score_response
from assessments.alerts import (
    CheckIn,
    deterioration_alerts,
    missed_check_ins_alert,
    overdue_alert,
    safety_alerts,
)
from assessments.change import Change
from tests.assessments.builders import checkin_response

CHECK_IN = load_builtin("weekly-check-in")


def test_a_yes_to_the_safety_item_is_the_highest_priority_alert():
    scored = score_response(CHECK_IN, checkin_response(safety=True))
    alerts = safety_alerts("r-1", scored.flags)
    assert [(a.rule, a.priority, a.key) for a in alerts] == [("safety", 1, "safety:r-1")]
    assert alerts[0].evidence == {"response_id": "r-1", "item": "safety"}


def test_no_to_the_safety_item_raises_nothing():
    assert (
        safety_alerts("r-1", score_response(CHECK_IN, checkin_response(safety=False)).flags) == []
    )


def change(scale, classification, rci="2.50"):
    return Change(scale, Decimal(20), Decimal(30), Decimal(10), Decimal(rci), classification, "")


def test_only_reliable_deterioration_raises_an_alert_one_per_scale():
    alerts = deterioration_alerts(
        "r-2",
        [
            change("detachment", "reliably-deteriorated"),
            change("closeness", "reliably-improved"),
            change("autonomy", "no-reliable-change", "1.00"),
        ],
    )
    assert [(a.rule, a.key) for a in alerts] == [
        ("reliable-deterioration", "reliable-deterioration:r-2:detachment")
    ]
    assert alerts[0].evidence["rci"] == 2.5


def test_overdue_means_more_than_two_days_past_due():
    due = date(2026, 11, 1)
    # due the 1st, 2 days' grace: the 3rd is still within it, the 4th is 3 days overdue
    assert overdue_alert("a-1", due, True, date(2026, 11, 3)) is None
    alert = overdue_alert("a-1", due, True, date(2026, 11, 4))
    assert alert is not None and (alert.key, alert.evidence["days_overdue"]) == ("overdue:a-1", 3)
    assert overdue_alert("a-1", due, False, date(2026, 11, 30)) is None  # completed or cancelled
    assert overdue_alert("a-1", None, True, date(2026, 11, 30)) is None  # no due date
    # across a month end: due 30 November, alert on 3 December
    assert overdue_alert("a-1", date(2026, 11, 30), True, date(2026, 12, 2)) is None
    assert overdue_alert("a-1", date(2026, 11, 30), True, date(2026, 12, 3)) is not None


def weeks(*completed: bool) -> list[CheckIn]:
    """Weekly check-ins due on Mondays from 2 November 2026."""
    return [CheckIn(f"c-{n}", date(2026, 11, 2 + 7 * n), done) for n, done in enumerate(completed)]


def test_three_check_ins_missed_in_a_row_raise_one_alert_keyed_by_the_latest():
    # due 2, 9, 16, 23 November: 9, 16 and 23 missed; on the 24th all three are past
    alert = missed_check_ins_alert("client-1", weeks(True, False, False, False), date(2026, 11, 24))
    assert alert is not None
    assert alert.key == "missed-check-ins:client-1:c-3"
    assert alert.evidence == {"last_missed": "c-3", "since": "2026-11-09"}


def test_a_check_in_not_yet_due_is_not_missed():
    # on the 23rd itself the check-in due that day is not past yet: only two missed
    assert (
        missed_check_ins_alert("client-1", weeks(True, False, False, False), date(2026, 11, 23))
        is None
    )


def test_a_completed_check_in_breaks_the_run():
    assert (
        missed_check_ins_alert("client-1", weeks(False, False, True, False), date(2026, 11, 24))
        is None
    )
    assert missed_check_ins_alert("client-1", weeks(False, False), date(2026, 11, 24)) is None
