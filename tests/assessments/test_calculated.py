"""Validation and scoring read an SDC instrument with Tandem's calculated values: a carried
total is replaced, and an item enabled by a calculated value follows the real value."""

from __future__ import annotations

from typing import Any

import pytest

from assessments import Instrument, InvalidResponse, check_partial, score_response

URL = "https://tests.tandem.dev/Questionnaire/tally"
CALCULATED = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-calculatedExpression"


def question(link_id: str) -> dict[str, Any]:
    return {"linkId": link_id, "text": f"Question {link_id}", "type": "integer"}


QUESTIONNAIRE = {
    "resourceType": "Questionnaire",
    "url": URL,
    "version": "1",
    "status": "active",
    "item": [
        question("a"),
        question("b"),
        {
            "linkId": "tally",
            "text": "Tally",
            "type": "integer",
            "readOnly": True,
            "extension": [
                {
                    "url": CALCULATED,
                    "valueExpression": {
                        "language": "text/fhirpath",
                        "expression": "%resource.item.where(linkId = 'a' or linkId = 'b')"
                        ".answer.value.sum()",
                    },
                }
            ],
        },
        {
            "linkId": "follow-up",
            "text": "Only when the tally is 5 or more",
            "type": "string",
            "enableWhen": [{"question": "tally", "operator": ">=", "answerInteger": 5}],
        },
    ],
}
TALLY = Instrument.from_documents(
    QUESTIONNAIRE, {"instrument": {"slug": "tally", "url": URL, "version": "1"}, "scales": []}
)


def response(a: int, b: int, *extra: dict[str, Any], status: str = "completed") -> dict[str, Any]:
    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{URL}|1",
        "status": status,
        "item": [
            {"linkId": "a", "answer": [{"valueInteger": a}]},
            {"linkId": "b", "answer": [{"valueInteger": b}]},
            *extra,
        ],
    }


FOLLOW_UP = {"linkId": "follow-up", "answer": [{"valueString": "more"}]}


def test_the_follow_up_is_enabled_by_the_real_tally_without_one_carried():
    # 3 + 4 = 7 >= 5: the follow-up may be answered though the response carries no tally
    scored = score_response(TALLY, response(3, 4, FOLLOW_UP))
    assert scored.score("tally").value == 7
    assert {i["linkId"]: i for i in scored.response["item"]}["tally"]["answer"] == [
        {"valueInteger": 7}
    ]


def test_a_forged_tally_enables_nothing():
    # 1 + 2 = 3 < 5, whatever the carried 9 says: answering the follow-up is a problem
    forged = {"linkId": "tally", "answer": [{"valueInteger": 9}]}
    with pytest.raises(InvalidResponse) as refused:
        score_response(TALLY, response(1, 2, forged, FOLLOW_UP))
    assert [p.code for p in refused.value.problems] == ["not-enabled"]
    assert check_partial(TALLY, response(1, 2, forged, FOLLOW_UP, status="in-progress"))


def test_a_carried_tally_is_replaced():
    carried = {"linkId": "tally", "answer": [{"valueInteger": 0}]}
    scored = score_response(TALLY, response(2, 2, carried))
    assert scored.score("tally").value == 4  # 2 + 2, not the carried 0
    assert scored.score("tally").min is None  # SDC alone does not give the range
