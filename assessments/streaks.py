"""A client's streak on a piece of homework: how many times in a row they have done it.

Shown to the client on their own homework page, as encouragement; the
counsellor's measure is adherence (`assessments.plans.adherence`), which
counts against what was due and is not reset by one missed day.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from assessments.plans import Occurrence


def current_streak(occurrences: Iterable[Occurrence], today: date) -> int:
    """Consecutive occurrences done, counting back from the latest one due so far.

    One due today and not yet logged neither breaks the streak nor adds to it:
    the day is not over. A log ahead of its day counts when that day comes (as
    in adherence). An occurrence logged as not done, or not logged once its
    day has passed, ends the count.
    """
    due = sorted((o for o in occurrences if o.due <= today), key=lambda o: o.due, reverse=True)
    if due and due[0].due == today and not due[0].logged:
        due = due[1:]
    streak = 0
    for occurrence in due:
        if not occurrence.done:
            break
        streak += 1
    return streak
