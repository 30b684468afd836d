"""Drafting plans from scores (each proposal with its reasons), and cadences into due dates."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time
from decimal import Decimal
from fractions import Fraction

from assessments import load_builtin
from assessments.dyad import PartnerScore, compare_partners
from assessments.interventions import load_library
from assessments.plans import (
    Occurrence,
    adherence,
    draft_plan,
    due_dates,
    goals_for,
    targeted_change,
)
from assessments.spec import Reliability

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


def test_every_targeted_partner_and_scale_gets_one_goal_aimed_at_the_best_band():
    first = scores(detachment=(68, "many-signs"), closeness=(30, "unmet"))
    second = scores(detachment=(20, "few-signs"), closeness_gap=(-3, "wants-more-space"))
    proposals = draft(first, second)
    goals = goals_for(BALANCE, proposals, {"first": first, "second": second})
    by_target = {(g.partner, g.scale): g for g in goals}
    # the first partner's detachment (lower is better): the lowest band, few-signs (< 40)
    detachment = by_target[("first", "detachment")]
    assert (detachment.value, detachment.band, detachment.target_band) == (
        68,
        "many-signs",
        "few-signs",
    )
    assert detachment.text == (
        "first partner: Detachment (too much distance) into few-signs (< 40) (now 68, many-signs)"
    )
    # closeness (higher is better): the highest band, met (>= 70)
    assert by_target[("first", "closeness")].target_band == "met"
    # a gap (toward zero): the band holding zero, about-right (> -2 and < 2)
    assert by_target[("second", "closeness-gap")].target_band == "about-right"
    # the second partner's detachment is few-signs: no activity targets it, so no goal
    assert ("second", "detachment") not in by_target
    assert len(goals) == len(by_target)  # one goal each, however many activities target it


def test_adherence_counts_done_against_due_so_far():
    today = date(2026, 11, 22)
    log = [
        Occurrence(date(2026, 11, 20), logged=True, done=True),
        Occurrence(date(2026, 11, 21), logged=True, done=False),  # logged: not done
        Occurrence(date(2026, 11, 22), logged=False, done=False),  # due today, not yet logged
        Occurrence(date(2026, 11, 23), logged=True, done=True),  # logged ahead: not yet expected
        Occurrence(date(2026, 11, 24), logged=False, done=False),
    ]
    result = adherence(log, today)
    # expected: the 20th, 21st and 22nd = 3; logged 2 of them; done 1; 1/3
    assert (result.expected, result.logged, result.done, result.upcoming) == (3, 2, 1, 2)
    assert result.rate == Fraction(1, 3)
    assert adherence(log, date(2026, 11, 19)).rate is None  # nothing due yet


def test_targeted_change_uses_the_specs_figures_or_says_why_it_cannot():
    detachment = next(s for s in BALANCE.scoring.scales if s.code == "detachment")
    figures = Reliability(sd=10, r=Decimal("0.5"), source="a test's own figures")
    scales = [detachment.model_copy(update={"reliability": figures})]
    with_figures = replace(BALANCE, scoring=BALANCE.scoring.model_copy(update={"scales": scales}))
    before = {"detachment": PartnerScore(68, "many-signs"), "autonomy": PartnerScore(30, "unmet")}
    after = {"detachment": PartnerScore(50, "some-signs")}
    [change] = targeted_change(with_figures, ["detachment"], before, after)
    # SE_diff = sqrt(2 * 10^2 * (1 - 0.5)) = sqrt(100) = 10; RCI = (50 - 68) / 10 = -1.80
    assert (change.difference, change.rci, change.classification) == (
        Decimal(-18),
        Decimal("-1.80"),
        "no-reliable-change",
    )
    # the shipped spec has no figures for detachment; autonomy was not re-scored: skipped
    [plain] = targeted_change(BALANCE, ["detachment", "autonomy"], before, after)
    assert (plain.scale, plain.rci, plain.classification) == ("detachment", None, "not-computable")
