"""Scoring weighs each answer by the option validation found for that question: the
options found on the way are handed over (`validate_choices`), never those of another
question that shares the answer's JSON object."""

from __future__ import annotations

from typing import Any

from assessments import Instrument, score_response
from assessments.questionnaire import ITEM_WEIGHT
from assessments.scoring import first_answers, item_values
from assessments.validation import validate_choices

URL = "https://tests.tandem.dev/Questionnaire/two-ways"


def question(link_id: str, weights: dict[str, int]) -> dict[str, Any]:
    return {
        "linkId": link_id,
        "text": f"Question {link_id}",
        "type": "choice",
        "answerOption": [
            {
                "valueCoding": {"code": code},
                "extension": [{"url": ITEM_WEIGHT, "valueDecimal": weight}],
            }
            for code, weight in weights.items()
        ],
    }


def scale(link_id: str) -> dict[str, Any]:
    return {
        "code": link_id,
        "label": f"Scale {link_id}",
        "description": f"The weight of the answer to {link_id}",
        "method": "item",
        "items": [link_id],
        "decimals": 0,
        "direction": "higher-is-better",
        "bands": [
            {"code": "any", "label": "Any", "interpretation": "Any weight", "ge": 0, "le": 3}
        ],
    }


# The same code weighs 0 in "ahead" and 3 in "behind" (a reverse-keyed twin).
TWO_WAYS = Instrument.from_documents(
    {
        "resourceType": "Questionnaire",
        "url": URL,
        "version": "1",
        "status": "active",
        "item": [question("ahead", {"a": 0, "b": 3}), question("behind", {"a": 3, "b": 0})],
    },
    {
        "instrument": {"slug": "two-ways", "url": URL, "version": "1"},
        "scales": [scale("ahead"), scale("behind")],
    },
)


def response(ahead: list[dict[str, Any]], behind: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{URL}|1",
        "status": "completed",
        "item": [{"linkId": "ahead", "answer": ahead}, {"linkId": "behind", "answer": behind}],
    }


def test_one_answer_object_given_to_two_questions_weighs_as_each_question_says():
    # Python callers of the library may share one dict; a JSON body never does.
    shared = [{"valueCoding": {"code": "a"}}]
    scored = score_response(TWO_WAYS, response(shared, shared))
    # "a" is 0 in "ahead" and 3 in "behind", whichever question was validated last
    assert [(s.scale, s.value) for s in scored.scores] == [("ahead", 0.0), ("behind", 3.0)]


def test_the_options_validation_found_give_the_weights_it_would_find_again():
    document = response([{"valueCoding": {"code": "b"}}], [{"valueCoding": {"code": "b"}}])
    problems, choices = validate_choices(TWO_WAYS.definition, document)
    assert problems == [] and len(choices) == 2
    answers = first_answers(document)
    found = item_values(TWO_WAYS.definition, answers, choices)
    assert found == item_values(TWO_WAYS.definition, answers) == {"ahead": 3, "behind": 0}
