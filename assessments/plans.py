"""Drafting a couple's plan from their scores, and expanding an activity's cadence into dates.

`draft_plan` proposes activities from the intervention library by transparent
rules: an activity is proposed for a partner when one of its indications
holds for that partner's scores (a scale in one of the listed bands), and
for the couple when a pattern between them holds. Every proposal carries the
reasons, in words, with the figures ("detachment 68 is many-signs (>= 60)").
Activities done together are proposed for both partners; activities done
alone, for the partners whose scores call for them. Nothing is assigned here.

`goals_for` states, for every partner and scale a proposal was chosen for,
where the scale is and which band the plan aims at (the best band by the
scale's direction). `adherence` counts homework logged and done against what
was due so far, and `targeted_change` gives the reliable change of each
targeted scale between the scores a plan was drafted from and a
re-assessment.

`due_dates` turns a cadence into the dates homework falls due, in the
clinic's time zone: daily and weekly by the calendar (a daylight-saving
change moves no due time), monthly on the start's day of the month or the
month's last day when it is shorter (31 January, 28 February, 31 March).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

from assessments.catalogue import Instrument
from assessments.change import Change, reliable_change
from assessments.dyad import PartnerComparison, PartnerScore
from assessments.interventions import Activity, Cadence, Indication, Library
from assessments.spec import Band, Scale

MAX_ACTIVITIES = 5
PARTNERS = ("first", "second")


@dataclass(frozen=True)
class Proposal:
    activity_id: str
    title: str
    partners: tuple[str, ...]  # "first", "second", or both
    cadence: Cadence
    reasons: tuple[str, ...]
    targets: tuple[tuple[str, str], ...] = ()  # (partner, scale) whose band chose it


def draft_plan(
    library: Library,
    instrument: Instrument,
    scores: Mapping[str, Mapping[str, PartnerScore]],
    comparison: PartnerComparison,
    limit: int = MAX_ACTIVITIES,
) -> list[Proposal]:
    """Activities whose indications hold, most reasons first (library order breaks ties)."""
    patterns = {(flag.code, flag.evidence.get("scale")) for flag in comparison.patterns}
    proposals = []
    for activity in library.activities:
        reasons: list[str] = []
        partners: set[str] = set()
        targets: list[tuple[str, str]] = []
        for indication in activity.addresses:
            if indication.pattern is not None:
                if _pattern_holds(indication, patterns):
                    reasons.append(_pattern_reason(indication))
                    partners.update(PARTNERS)
                continue
            if indication.instrument != instrument.url:
                continue
            for partner in PARTNERS:
                reason = _band_reason(instrument, indication, scores.get(partner, {}))
                if reason is not None:
                    reasons.append(f"{partner} partner: {reason}")
                    partners.add(partner)
                    targets.append((partner, indication.scale or ""))
        if reasons:
            who = (
                PARTNERS
                if activity.who == "together"
                else tuple(p for p in PARTNERS if p in partners)
            )
            proposals.append(_proposal(activity, who, reasons, targets))
    ranked = sorted(enumerate(proposals), key=lambda pair: (-len(pair[1].reasons), pair[0]))
    return [proposal for _, proposal in ranked[:limit]]


def _proposal(
    activity: Activity,
    partners: tuple[str, ...],
    reasons: list[str],
    targets: list[tuple[str, str]],
) -> Proposal:
    return Proposal(
        activity.id, activity.title, partners, activity.cadence, tuple(reasons), tuple(targets)
    )


def _pattern_holds(indication: Indication, patterns: set[tuple[str, object]]) -> bool:
    if indication.pattern == "partners-differ":
        return ("partners-differ", indication.scale) in patterns
    return any(code == indication.pattern for code, _ in patterns)


def _pattern_reason(indication: Indication) -> str:
    if indication.pattern == "partners-differ":
        return f"the partners differ on {indication.scale}"
    return f"pattern: {indication.pattern}"


def _band_reason(
    instrument: Instrument, indication: Indication, scores: Mapping[str, PartnerScore]
) -> str | None:
    score = scores.get(indication.scale or "")
    if score is None or score.value is None or score.band not in indication.bands:
        return None
    spec = next(s for s in instrument.scoring.scales if s.code == indication.scale)
    band = next(b for b in spec.bands if b.code == score.band)
    return f"{spec.code} {score.value:g} is {band.code} ({_bounds(band)})"


def _bounds(band: Band) -> str:
    return " and ".join(
        f"{sign} {value}"
        for sign, value in ((">=", band.ge), (">", band.gt), ("<=", band.le), ("<", band.lt))
        if value is not None
    )


@dataclass(frozen=True)
class Goal:
    partner: str  # "first" or "second"
    scale: str
    value: float | None
    band: str | None
    target_band: str
    text: str  # in words, with the figures


def goals_for(
    instrument: Instrument,
    proposals: Iterable[Proposal],
    scores: Mapping[str, Mapping[str, PartnerScore]],
) -> list[Goal]:
    """One goal per partner and scale the proposals target: reach the scale's best band."""
    targets = sorted({t for p in proposals for t in p.targets}, key=lambda t: (t[0], t[1]))
    specs = {scale.code: scale for scale in instrument.scoring.scales}
    goals = []
    for partner, code in targets:
        spec = specs[code]
        best = best_band(spec)
        score = scores.get(partner, {}).get(code)
        value = None if score is None else score.value
        band = None if score is None else score.band
        now = "" if value is None else f" (now {value:g}, {band})"
        goals.append(
            Goal(
                partner,
                code,
                value,
                band,
                best.code,
                f"{partner} partner: {spec.label} into {best.code} ({_bounds(best)}){now}",
            )
        )
    return goals


def best_band(scale: Scale) -> Band:
    """The band a plan aims for: the highest when higher is better, the lowest when lower
    is, the band holding zero for a gap; the middle one for a scale with no direction."""

    def lower(band: Band) -> Decimal:
        bound = band.ge if band.ge is not None else band.gt
        return bound if bound is not None else Decimal("-Infinity")

    ordered = sorted(scale.bands, key=lower)
    if scale.direction == "higher-is-better":
        return ordered[-1]
    if scale.direction == "lower-is-better":
        return ordered[0]
    if scale.direction == "toward-zero":
        return next(band for band in ordered if band.contains(Decimal(0)))
    return ordered[len(ordered) // 2]


@dataclass(frozen=True)
class Occurrence:
    """One piece of homework: when it was due, whether it was logged and said done."""

    due: date
    logged: bool
    done: bool


@dataclass(frozen=True)
class Adherence:
    expected: int  # due on or before today
    logged: int  # of those, logged
    done: int  # of those, logged as done
    rate: Fraction | None  # done / expected; None before anything is due
    upcoming: int  # due after today


def adherence(occurrences: Iterable[Occurrence], today: date) -> Adherence:
    """Done against due so far. Homework due today counts as expected: a log for today is
    on time, a missing one shows until it comes in. A log ahead of its day counts when
    that day comes."""
    due = [o for o in occurrences if o.due <= today]
    upcoming = sum(1 for o in occurrences if o.due > today)
    done = sum(1 for o in due if o.done)
    return Adherence(
        expected=len(due),
        logged=sum(1 for o in due if o.logged),
        done=done,
        rate=Fraction(done, len(due)) if due else None,
        upcoming=upcoming,
    )


def targeted_change(
    instrument: Instrument,
    scales: Iterable[str],
    before: Mapping[str, PartnerScore],
    after: Mapping[str, PartnerScore],
) -> list[Change]:
    """Reliable change of each targeted scale scored both before and after."""
    specs = {scale.code: scale for scale in instrument.scoring.scales}
    changes = []
    for code in sorted(set(scales)):
        first, last = before.get(code), after.get(code)
        if first is None or last is None or first.value is None or last.value is None:
            continue
        changes.append(reliable_change(specs[code], first.value, last.value))
    return changes


def due_dates(cadence: Cadence, start: date, end: date, at: time, zone: str) -> list[datetime]:
    """When homework on `cadence` falls due from `start` to `end` (inclusive), at local
    time `at` in `zone`, as aware datetimes in that zone."""
    tz = ZoneInfo(zone)
    days: list[date] = []
    if cadence == "once":
        days = [start]
    elif cadence in ("daily", "weekly"):
        step = timedelta(days=1 if cadence == "daily" else 7)
        day = start
        while day <= end:
            days.append(day)
            day += step
    else:  # monthly
        months = 0
        while True:
            year, month = divmod(start.month - 1 + months, 12)
            year, month = start.year + year, month + 1
            last = calendar.monthrange(year, month)[1]
            day = date(year, month, min(start.day, last))
            if day > end:
                break
            days.append(day)
            months += 1
    return [datetime.combine(day, at, tzinfo=tz) for day in days if day <= end]
