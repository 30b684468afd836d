"""Drafting a couple's plan from their scores, and expanding an activity's cadence into dates.

`draft_plan` proposes activities from the intervention library by transparent
rules: an activity is proposed for a partner when one of its indications
holds for that partner's scores (a scale in one of the listed bands), and
for the couple when a pattern between them holds. Every proposal carries the
reasons, in words, with the figures ("detachment 68 is many-signs (>= 60)").
Activities done together are proposed for both partners; activities done
alone, for the partners whose scores call for them. Nothing is assigned here.

`due_dates` turns a cadence into the dates homework falls due, in the
clinic's time zone: daily and weekly by the calendar (a daylight-saving
change moves no due time), monthly on the start's day of the month or the
month's last day when it is shorter (31 January, 28 February, 31 March).
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from assessments.catalogue import Instrument
from assessments.dyad import PartnerComparison, PartnerScore
from assessments.interventions import Activity, Cadence, Indication, Library

MAX_ACTIVITIES = 5
PARTNERS = ("first", "second")


@dataclass(frozen=True)
class Proposal:
    activity_id: str
    title: str
    partners: tuple[str, ...]  # "first", "second", or both
    cadence: Cadence
    reasons: tuple[str, ...]


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
        if reasons:
            who = (
                PARTNERS
                if activity.who == "together"
                else tuple(p for p in PARTNERS if p in partners)
            )
            proposals.append(_proposal(activity, who, reasons))
    ranked = sorted(enumerate(proposals), key=lambda pair: (-len(pair[1].reasons), pair[0]))
    return [proposal for _, proposal in ranked[:limit]]


def _proposal(activity: Activity, partners: tuple[str, ...], reasons: list[str]) -> Proposal:
    return Proposal(activity.id, activity.title, partners, activity.cadence, tuple(reasons))


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
    bounds = " and ".join(
        f"{sign} {value}"
        for sign, value in ((">=", band.ge), (">", band.gt), ("<=", band.le), ("<", band.lt))
        if value is not None
    )
    return f"{spec.code} {score.value:g} is {band.code} ({bounds})"


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
