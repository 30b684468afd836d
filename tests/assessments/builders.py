"""Small builders for QuestionnaireResponses to the built-in instruments."""

from __future__ import annotations

from typing import Any

from assessments import load_builtin

AGREEMENT_SYSTEM = "https://tandem.dev/fhir/CodeSystem/agreement"
CLOSENESS_SYSTEM = "https://tandem.dev/fhir/CodeSystem/closeness-level"
STRESS_SYSTEM = "https://tandem.dev/fhir/CodeSystem/stress-level"
AGREEMENT_CODES = ["strongly-disagree", "disagree", "neither", "agree", "strongly-agree"]
STRESS_CODES = ["none", "a-little", "somewhat", "very", "extremely"]

BALANCE = load_builtin("balance-assessment")
CHECK_IN = load_builtin("weekly-check-in")
STATEMENTS = [item.link_id for item in BALANCE.definition.by_link_id["statements"].children]


def agreement(level: int) -> dict[str, Any]:
    """1 = strongly disagree ... 5 = strongly agree."""
    return {"valueCoding": {"system": AGREEMENT_SYSTEM, "code": AGREEMENT_CODES[level - 1]}}


def closeness(level: int) -> dict[str, Any]:
    return {"valueCoding": {"system": CLOSENESS_SYSTEM, "code": str(level)}}


def stress(level: int) -> dict[str, Any]:
    return {"valueCoding": {"system": STRESS_SYSTEM, "code": STRESS_CODES[level - 1]}}


def question(link_id: str, *answers: dict[str, Any]) -> dict[str, Any]:
    return {"linkId": link_id, "answer": list(answers)}


def balance_response(
    answers: dict[str, int],
    gap_now: int | None = 4,
    gap_wanted: int | None = 4,
    status: str = "completed",
) -> dict[str, Any]:
    """A balance assessment response; `answers` maps statement linkIds to 1-5 (others skipped)."""
    unknown = set(answers) - set(STATEMENTS)
    assert not unknown, f"not statements: {unknown}"
    gap = [
        question(link_id, closeness(level))
        for link_id, level in (("gap-now", gap_now), ("gap-wanted", gap_wanted))
        if level is not None
    ]
    items = [
        {
            "linkId": "statements",
            "item": [
                question(lid, agreement(answers[lid])) for lid in STATEMENTS if lid in answers
            ],
        },
        {"linkId": "closeness-gap", "item": gap},
    ]
    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": BALANCE.canonical,
        "status": status,
        "item": [group for group in items if group["item"]],
    }


def scale_answers(scale: str, levels: list[int | None]) -> dict[str, int]:
    """Answers for `scale`-1 ... `scale`-n in order; None skips that item."""
    return {f"{scale}-{n}": level for n, level in enumerate(levels, 1) if level is not None}


def checkin_response(
    balance_rating: int = 5,
    close_now: int = 4,
    close_wanted: int = 4,
    time_together: int = 3,
    time_for_myself: int = 3,
    felt_heard: int = 3,
    stress_level: int = 2,
    ritual_kept: bool = True,
    need: str | None = None,
    safety: bool = False,
    status: str = "completed",
) -> dict[str, Any]:
    items = [
        question("balance-rating", {"valueInteger": balance_rating}),
        {
            "linkId": "closeness",
            "item": [
                question("close-now", closeness(close_now)),
                question("close-wanted", closeness(close_wanted)),
            ],
        },
        {
            "linkId": "time",
            "item": [
                question("time-together", agreement(time_together)),
                question("time-for-myself", agreement(time_for_myself)),
            ],
        },
        question("felt-heard", agreement(felt_heard)),
        question("stress", stress(stress_level)),
        question("ritual-kept", {"valueBoolean": ritual_kept}),
    ]
    if need is not None:
        items.append(question("need", {"valueString": need}))
    items.append(question("safety", {"valueBoolean": safety}))
    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": CHECK_IN.canonical,
        "status": status,
        "item": items,
    }
