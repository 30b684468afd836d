"""Drafting plans from scores (each proposal with its reasons), and cadences into due dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from assessments import load_builtin
from assessments.dyad import PartnerScore, compare_partners
from assessments.interventions import load_library
from assessments.plans import draft_plan, due_dates

BALANCE = load_builtin("balance-assessment")


def scores(**values) -> dict[str, PartnerScore]:
    return {k.replace("_", "-"): PartnerScore(*v) for k, v in values.items()}


def draft(first, second, limit=20):
    comparison = compare_partners(BALANCE, first, second)
    return draft_plan(
        load_library(), BALANCE, {"first": first, "second": second}, comparison, limit
    )


def test_a_partner_with_many_signs_of_detachment_gets_activities_that_address_it_with_the_figure():
    first = scores(detachment=(68, "many-signs"))
    second = scores(detachment=(20, "few-signs"))
    proposals = {p.activity_id: p for p in draft(first, second)}
    # micro-commitments (each partner alone) addresses detachment some/many signs: first only
    micro = proposals["micro-commitments"]
    assert micro.partners == ("first",)
    assert micro.reasons == ("first partner: detachment 68 is many-signs (>= 60)",)
    # daily-touchpoint is done together: proposed for both, for the first partner's score
    assert proposals["daily-touchpoint"].partners == ("first", "second")
    assert "reflective-journal" not in proposals  # addresses autonomy and enmeshment only


def test_patterns_between_partners_propose_couple_activities():
    first = scores(balance_position=(-40, "enmeshed-leaning"))
    second = scores(balance_position=(35, "detached-leaning"))
    proposals = {p.activity_id: p for p in draft(first, second)}
    assert "pattern: pursue-withdraw" in proposals["needs-check-in"].reasons
    assert proposals["needs-check-in"].partners == ("first", "second")


def test_nothing_is_proposed_for_a_couple_in_balance():
    first = scores(closeness=(80, "met"), autonomy=(80, "met"), balance_position=(0, "balanced"))
    second = scores(closeness=(75, "met"), autonomy=(78, "met"), balance_position=(5, "balanced"))
    assert draft(first, second) == []


def test_the_draft_is_capped_and_ranked_by_how_many_reasons_each_has():
    first = scores(
        closeness=(30, "unmet"),
        detachment=(70, "many-signs"),
        closeness_gap=(3, "wants-more-closeness"),
    )
    second = scores(closeness=(35, "unmet"), detachment=(65, "many-signs"))
    proposals = draft(first, second, limit=3)
    assert len(proposals) == 3
    counts = [len(p.reasons) for p in proposals]
    assert counts == sorted(counts, reverse=True)
    # daily-touchpoint: closeness unmet (both), detachment many signs (both), gap (first): 5
    assert (proposals[0].activity_id, len(proposals[0].reasons)) == ("daily-touchpoint", 5)


def test_weekly_due_dates_keep_their_local_time_across_a_daylight_saving_change():
    # Europe/Berlin leaves summer time on 25 October 2026: 18:00 local is 16:00 UTC before, 17:00 after
    dates = due_dates("weekly", date(2026, 10, 19), date(2026, 11, 2), time(18), "Europe/Berlin")
    assert [d.astimezone(UTC) for d in dates] == [
        datetime(2026, 10, 19, 16, tzinfo=UTC),
        datetime(2026, 10, 26, 17, tzinfo=UTC),
        datetime(2026, 11, 2, 17, tzinfo=UTC),
    ]
    assert {d.hour for d in dates} == {18}


def test_monthly_due_dates_fall_on_the_last_day_of_shorter_months():
    dates = due_dates("monthly", date(2027, 1, 31), date(2027, 5, 31), time(9), "UTC")
    assert [d.date() for d in dates] == [
        date(2027, 1, 31), date(2027, 2, 28), date(2027, 3, 31), date(2027, 4, 30), date(2027, 5, 31),
    ]  # fmt: skip


def test_daily_and_once():
    daily = due_dates("daily", date(2026, 12, 30), date(2027, 1, 2), time(8), "UTC")
    assert [d.date() for d in daily] == [
        date(2026, 12, 30), date(2026, 12, 31), date(2027, 1, 1), date(2027, 1, 2),
    ]  # fmt: skip
    once = due_dates("once", date(2026, 12, 30), date(2027, 3, 1), time(8), "UTC")
    assert [d.date() for d in once] == [date(2026, 12, 30)]
