"""The intervention library: complete, well formed, and pointing at scales that exist."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from assessments import load_builtin
from assessments.interventions import Activity, Indication, Library, check_against, load_library

REQUIRED = {
    "scheduled-solo-time", "daily-touchpoint", "weekly-date", "needs-check-in",
    "boundary-conversation", "reflective-journal", "co-creation-project", "teach-me-something",
    "calendar-layers", "micro-commitments", "feedback-loop", "active-listening",
    "gradual-self-disclosure", "reassurance-practice", "outside-interest",
    "quiet-personal-day", "anger-time-out",
}  # fmt: skip


def activity(**changes) -> dict:
    base = {
        "id": "test-activity",
        "title": "A test activity",
        "addresses": [{"scale": "autonomy", "bands": ["unmet"]}],
        "instructions": "Do the thing described here, once a week, and note how it went.",
        "who": "each-partner",
        "cadence": "weekly",
        "logging": {"minutes": True},
        "rationale": "A counsellor would choose this because it is a test of the library.",
    }
    return base | changes


def test_the_library_holds_every_activity_the_issue_names():
    library = load_library()
    ids = {a.id for a in library.activities}
    assert len(library.activities) >= 15
    assert ids >= REQUIRED, REQUIRED - ids


def test_every_indication_names_a_real_scale_and_band_of_the_balance_assessment():
    assert check_against(load_library(), load_builtin("balance-assessment")) == []


def test_a_renamed_band_is_caught():
    broken = Library(
        version="0",
        activities=(
            Activity.model_validate(
                activity(addresses=[{"scale": "autonomy", "bands": ["unmet", "starved"]}])
            ),
            Activity.model_validate(
                activity(id="other-activity", addresses=[{"scale": "autonmy", "bands": ["unmet"]}])
            ),
        ),
    )
    assert check_against(broken, load_builtin("balance-assessment")) == [
        "test-activity: scale 'autonomy' has no band 'starved'",
        "other-activity: no scale 'autonmy'",
    ]


def test_the_library_covers_every_cadence_and_both_ways_of_doing_it():
    library = load_library()
    assert {a.cadence for a in library.activities} == {"daily", "weekly", "monthly", "once"}
    assert {a.who for a in library.activities} == {"each-partner", "together"}


def test_anger_time_out_carries_its_safety_caution_and_referral_note():
    time_out = load_library().activity("anger-time-out")
    assert time_out.caution is not None and "safety comes first" in time_out.caution
    assert time_out.referral is not None and "behaviour-change" in time_out.referral


def test_activity_ids_are_unique():
    with pytest.raises(ValidationError, match="activity ids repeat: test-activity"):
        Library.model_validate({"version": "0", "activities": [activity(), activity()]})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"id": "Solo Time"}, "lowercase slug"),
        ({"addresses": []}, "at least 1 item"),
        ({"who": "whoever"}, "'each-partner' or 'together'"),
        ({"cadence": "hourly"}, "'daily', 'weekly', 'monthly' or 'once'"),
        ({"instructions": "Too short."}, "at least 40 characters"),
        ({"title": "Tab\tin title"}, "control characters"),
        ({"unknown": 1}, "Extra inputs are not permitted"),
    ],
)
def test_malformed_activities_are_refused(changes, message):
    with pytest.raises(ValidationError, match=message):
        Activity.model_validate(activity(**changes))


@pytest.mark.parametrize(
    ("indication", "message"),
    [
        ({"scale": "autonomy"}, "names a scale and its bands, or a pattern"),
        ({}, "names a scale and its bands, or a pattern"),
        ({"pattern": "partners-differ"}, "names the scale the partners differ on"),
        ({"pattern": "pursue-withdraw", "scale": "x", "bands": ["y"]}, "takes no bands"),
        ({"pattern": "mutual-admiration"}, "Input should be"),
    ],
)
def test_malformed_indications_are_refused(indication, message):
    with pytest.raises(ValidationError, match=message):
        Indication.model_validate(indication)
