"""docs/clinical-rules.md states the figures the code uses."""

from __future__ import annotations

import re
from pathlib import Path

from assessments import load_builtin
from assessments.alerts import MISSED_IN_A_ROW, OVERDUE_AFTER_DAYS
from assessments.change import THRESHOLD
from assessments.dyad import compare_partners
from assessments.interventions import load_library
from assessments.plans import MAX_ACTIVITIES

DOC = (Path(__file__).parents[2] / "docs" / "clinical-rules.md").read_text()


def test_the_partners_differ_table_matches_the_thresholds():
    thresholds = {
        c.scale: c.threshold
        for c in compare_partners(load_builtin("balance-assessment"), {}, {}).scales
    }
    assert "| closeness, autonomy, enmeshment, detachment | 0 to 100 | 15 points |" in DOC
    assert {thresholds[s] for s in ("closeness", "autonomy", "enmeshment", "detachment")} == {15}
    assert f"| closeness gap | -6 to 6 | {thresholds['closeness-gap']} |" in DOC
    assert f"| balance position | -100 to 100 | {thresholds['balance-position']} points |" in DOC


def test_the_doc_states_the_figures_of_the_rules():
    assert f"beyond\n+{THRESHOLD} or -{THRESHOLD}" in DOC
    assert f"more than {OVERDUE_AFTER_DAYS} days past its due date" in DOC
    assert "the last three weekly check-ins" in DOC and MISSED_IN_A_ROW == 3
    assert "stops at five" in DOC and MAX_ACTIVITIES == 5
    activities = load_library().activities
    assert re.search(rf"holds {len(activities)} activities", DOC)
    cautioned = {a.title for a in activities if a.caution}
    assert len(cautioned) == 3 and "Three\nactivities say so in their caution" in DOC
