"""Every validation rule, each with the exact problem it reports.

The rules run against a test Questionnaire that uses every feature the
validator handles (types, options, ranges, lengths, repeats, enableWhen with
`all` and `any`, repeating groups); the built-ins get their own checks at the end.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from assessments import Problem, QuestionnaireDefinition, validate_response
from assessments.catalogue import load_builtin
from assessments.questionnaire import QuestionnaireError
from tests.assessments.builders import (
    BALANCE,
    CHECK_IN,
    STATEMENTS,
    balance_response,
    checkin_response,
)

URL = "https://tests.tandem.dev/Questionnaire/kitchen-sink"
MOODS = "https://tests.tandem.dev/CodeSystem/mood"


def _ext(name: str, **value: Any) -> dict[str, Any]:
    return {"url": f"http://hl7.org/fhir/StructureDefinition/{name}", **value}


def _coding(code: str, system: str = MOODS) -> dict[str, Any]:
    return {"valueCoding": {"system": system, "code": code}}


QUESTIONNAIRE = {
    "resourceType": "Questionnaire",
    "url": URL,
    "version": "2.0",
    "status": "active",
    "item": [
        {"linkId": "intro", "type": "display", "text": "Hello"},
        {
            "linkId": "name",
            "type": "string",
            "required": True,
            "maxLength": 10,
            "extension": [_ext("minLength", valueInteger=2)],
        },
        {
            "linkId": "age",
            "type": "integer",
            "extension": [_ext("minValue", valueInteger=18), _ext("maxValue", valueInteger=120)],
        },
        {
            "linkId": "weight",
            "type": "decimal",
            "extension": [
                _ext("minValue", valueDecimal=0.5),
                _ext("maxDecimalPlaces", valueInteger=1),
            ],
        },
        {
            "linkId": "visit",
            "type": "date",
            "extension": [_ext("minValue", valueDate="2020-01-01")],
        },
        {"linkId": "consent", "type": "boolean", "required": True},
        {
            "linkId": "consent-detail",
            "type": "text",
            "required": True,
            "enableWhen": [{"question": "consent", "operator": "=", "answerBoolean": True}],
        },
        {
            "linkId": "mood",
            "type": "choice",
            "answerOption": [_coding("happy"), _coding("sad")],
        },
        {"linkId": "colour", "type": "open-choice", "answerOption": [_coding("red")]},
        {
            "linkId": "hobbies",
            "type": "choice",
            "repeats": True,
            "answerOption": [{"valueString": "chess"}, {"valueString": "running"}],
        },
        {
            "linkId": "follow-up",
            "type": "group",
            "enableWhen": [
                {"question": "age", "operator": ">", "answerInteger": 65},
                {
                    "question": "mood",
                    "operator": "=",
                    "answerCoding": {"system": MOODS, "code": "sad"},
                },
            ],
            "enableBehavior": "any",
            "item": [{"linkId": "follow-up-note", "type": "string", "required": True}],
        },
        {
            "linkId": "children",
            "type": "group",
            "repeats": True,
            "item": [
                {"linkId": "child-age", "type": "integer"},
                {
                    "linkId": "child-school",
                    "type": "string",
                    "required": True,
                    "enableWhen": [{"question": "child-age", "operator": ">=", "answerInteger": 5}],
                },
            ],
        },
    ],
}
DEFINITION = QuestionnaireDefinition.from_fhir(QUESTIONNAIRE)


def q(link_id: str, *answers: dict[str, Any]) -> dict[str, Any]:
    return {"linkId": link_id, "answer": list(answers)}


def valid_response() -> dict[str, Any]:
    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{URL}|2.0",
        "status": "completed",
        "item": [
            q("name", {"valueString": "Robin"}),
            q("age", {"valueInteger": 40}),
            q("weight", {"valueDecimal": 70.5}),
            q("visit", {"valueDate": "2026-11-02"}),
            q("consent", {"valueBoolean": True}),
            q("consent-detail", {"valueString": "Agreed in session."}),
            q("mood", _coding("happy")),
            q("colour", {"valueString": "teal"}),
            q("hobbies", {"valueString": "chess"}, {"valueString": "running"}),
            {
                "linkId": "children",
                "item": [
                    q("child-age", {"valueInteger": 7}),
                    q("child-school", {"valueString": "Oak"}),
                ],
            },
            {"linkId": "children", "item": [q("child-age", {"valueInteger": 3})]},
        ],
    }


def item_index(response: dict[str, Any], link_id: str) -> int:
    return next(i for i, item in enumerate(response["item"]) if item["linkId"] == link_id)


def replace_answers(response: dict[str, Any], link_id: str, *answers: dict[str, Any]) -> str:
    """Give `link_id` new answers; returns the JSON pointer of the item."""
    index = item_index(response, link_id)
    response["item"][index]["answer"] = list(answers)
    return f"/item/{index}"


def test_a_valid_whole_response_has_no_problems():
    assert validate_response(DEFINITION, valid_response()) == []


def test_a_questionnaire_dict_is_read_the_same_as_a_definition():
    assert validate_response(QUESTIONNAIRE, valid_response()) == []


@pytest.mark.parametrize(
    ("named", "message"),
    [
        (None, f"questionnaire must name the Questionnaire as '{URL}|2.0'"),
        (URL, f"questionnaire must name its version: '{URL}|2.0'"),
        (f"{URL}|1.0", f"questionnaire names '{URL}|1.0' but this is '{URL}|2.0'"),
        ("https://elsewhere.example/Questionnaire/x|2.0",
         f"questionnaire names 'https://elsewhere.example/Questionnaire/x|2.0' but this is '{URL}|2.0'"),
    ],
)  # fmt: skip
def test_the_response_must_name_this_exact_questionnaire_version(named, message):
    response = valid_response()
    if named is None:
        del response["questionnaire"]
    else:
        response["questionnaire"] = named
    assert validate_response(DEFINITION, response) == [
        Problem("questionnaire-mismatch", "/questionnaire", message)
    ]


def test_resource_type_and_status_are_checked():
    response = valid_response() | {"resourceType": "Observation", "status": "done"}
    assert validate_response(DEFINITION, response) == [
        Problem(
            "invalid-resource-type", "/resourceType", "resourceType must be 'QuestionnaireResponse'"
        ),
        Problem(
            "invalid-status",
            "/status",
            "status must be one of amended, completed, entered-in-error, in-progress, stopped",
        ),
    ]


def test_unknown_link_id():
    response = valid_response()
    response["item"].append(q("shoe-size", {"valueInteger": 9}))
    assert validate_response(DEFINITION, response) == [
        Problem(
            "unknown-item", "/item/11", "item 'shoe-size' is not in the Questionnaire", "shoe-size"
        )
    ]


def test_item_outside_its_group_is_misplaced():
    response = valid_response()
    response["item"].append(q("child-age", {"valueInteger": 9}))
    assert validate_response(DEFINITION, response) == [
        Problem(
            "misplaced-item",
            "/item/11",
            "item 'child-age' belongs inside 'children', not here",
            "child-age",
        )
    ]


def test_wrong_answer_type():
    response = valid_response()
    at = replace_answers(response, "age", {"valueString": "forty"})
    assert validate_response(DEFINITION, response) == [
        Problem(
            "wrong-type",
            f"{at}/answer/0/valueString",
            "item 'age' is of type integer and takes valueInteger, not valueString",
            "age",
        )
    ]


@pytest.mark.parametrize(
    ("answer", "key", "why"),
    [
        ({"valueInteger": 40.5}, "valueInteger", "valueInteger must be a whole number"),
        ({"valueInteger": True}, "valueInteger", "valueInteger must be a whole number"),
    ],
)
def test_malformed_values_are_wrong_type(answer, key, why):
    response = valid_response()
    at = replace_answers(response, "age", answer)
    assert validate_response(DEFINITION, response) == [
        Problem("wrong-type", f"{at}/answer/0/{key}", why, "age")
    ]


def test_dates_must_be_fhir_dates():
    response = valid_response()
    at = replace_answers(response, "visit", {"valueDate": "02/11/2026"})
    assert validate_response(DEFINITION, response) == [
        Problem(
            "wrong-type",
            f"{at}/answer/0/valueDate",
            "valueDate must be a date (YYYY-MM-DD)",
            "visit",
        )
    ]


@pytest.mark.parametrize(
    ("coding", "described"),
    [
        ({"system": MOODS, "code": "angry"}, f"code 'angry' of {MOODS}"),
        (
            {"system": "http://other.example", "code": "happy"},
            "code 'happy' of http://other.example",
        ),
    ],
)
def test_answer_not_among_the_options(coding, described):
    response = valid_response()
    at = replace_answers(response, "mood", {"valueCoding": coding})
    assert validate_response(DEFINITION, response) == [
        Problem(
            "not-an-option",
            f"{at}/answer/0/valueCoding",
            f"{described} is not one of the options of 'mood'",
            "mood",
        )
    ]


def test_non_coding_options_are_matched_by_value():
    response = valid_response()
    at = replace_answers(response, "hobbies", {"valueString": "chess"}, {"valueString": "golf"})
    assert validate_response(DEFINITION, response) == [
        Problem(
            "not-an-option",
            f"{at}/answer/1/valueString",
            "'golf' is not one of the options of 'hobbies'",
            "hobbies",
        )
    ]


def test_open_choice_takes_free_text_but_codings_must_be_options():
    response = valid_response()
    at = replace_answers(response, "colour", _coding("blue"))
    assert validate_response(DEFINITION, response) == [
        Problem(
            "not-an-option",
            f"{at}/answer/0/valueCoding",
            f"code 'blue' of {MOODS} is not one of the options of 'colour'",
            "colour",
        )
    ]


def test_too_many_answers_on_a_non_repeating_item():
    response = valid_response()
    at = replace_answers(response, "mood", _coding("happy"), _coding("sad"))
    assert validate_response(DEFINITION, response) == [
        Problem("too-many-answers", f"{at}/answer", "item 'mood' takes one answer, not 2", "mood")
    ]


def test_a_non_repeating_item_may_not_appear_twice():
    response = valid_response()
    response["item"].insert(2, q("name", {"valueString": "Sam"}))
    assert validate_response(DEFINITION, response) == [
        Problem(
            "repeated-item", "/item/2", "item 'name' does not repeat but appears 2 times", "name"
        )
    ]


@pytest.mark.parametrize(
    ("link_id", "answer", "key", "message"),
    [
        ("age", {"valueInteger": 17}, "valueInteger", "17 is below the minimum 18 of 'age'"),
        ("age", {"valueInteger": 121}, "valueInteger", "121 is above the maximum 120 of 'age'"),
        ("weight", {"valueDecimal": 0.4}, "valueDecimal", "0.4 is below the minimum 0.5 of 'weight'"),
        ("visit", {"valueDate": "2019-12-31"}, "valueDate",
         "'2019-12-31' is below the minimum 2020-01-01 of 'visit'"),
    ],
)  # fmt: skip
def test_values_out_of_range(link_id, answer, key, message):
    response = valid_response()
    at = replace_answers(response, link_id, answer)
    assert validate_response(DEFINITION, response) == [
        Problem("out-of-range", f"{at}/answer/0/{key}", message, link_id)
    ]


def test_text_length_and_decimal_places():
    response = valid_response()
    name = replace_answers(response, "name", {"valueString": "Maximilian!"})
    weight = replace_answers(response, "weight", {"valueDecimal": 70.25})
    assert validate_response(DEFINITION, response) == [
        Problem("too-long", f"{name}/answer/0/valueString", "answer to 'name' has 11 characters; at most 10 are allowed", "name"),
        Problem("too-many-decimals", f"{weight}/answer/0/valueDecimal", "answer to 'weight' has 2 decimal places; at most 1 are allowed", "weight"),
    ]  # fmt: skip
    replace_answers(response, "name", {"valueString": "R"})
    replace_answers(response, "weight", {"valueDecimal": 70.5})
    assert validate_response(DEFINITION, response) == [
        Problem("too-short", f"{name}/answer/0/valueString", "answer to 'name' has 1 characters; at least 2 are needed", "name")
    ]  # fmt: skip


def test_required_items_must_be_answered_on_completion():
    response = valid_response()
    del response["item"][item_index(response, "name")]
    del response["item"][item_index(response, "consent")]
    assert validate_response(DEFINITION, response) == [
        Problem("required", "/item", "item 'name' is required", "name"),
        Problem("required", "/item", "item 'consent' is required", "consent"),
        # consent-detail is still answered, but consent (unanswered) no longer enables it
        Problem(
            "not-enabled",
            "/item/3",
            "item 'consent-detail' is not enabled by the answers given, so it must not be answered",
            "consent-detail",
        ),
    ]


def test_an_empty_answer_list_counts_as_unanswered():
    response = valid_response()
    at = replace_answers(response, "name")
    assert validate_response(DEFINITION, response) == [
        Problem("required", at, "item 'name' is required", "name")
    ]


def test_in_progress_responses_may_be_partial():
    response = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{URL}|2.0",
        "status": "in-progress",
        "item": [q("age", {"valueInteger": 40})],
    }
    assert validate_response(DEFINITION, response) == []


def test_in_progress_responses_are_still_checked_for_bad_answers():
    response = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{URL}|2.0",
        "status": "in-progress",
        "item": [q("age", {"valueInteger": 12})],
    }
    assert [p.code for p in validate_response(DEFINITION, response)] == ["out-of-range"]


def test_answering_an_item_whose_enable_when_is_false_is_rejected():
    response = valid_response()
    replace_answers(response, "consent", {"valueBoolean": False})
    at = f"/item/{item_index(response, 'consent-detail')}"
    assert validate_response(DEFINITION, response) == [
        Problem(
            "not-enabled",
            at,
            "item 'consent-detail' is not enabled by the answers given, so it must not be answered",
            "consent-detail",
        )
    ]


def test_a_disabled_required_item_may_be_left_out():
    response = valid_response()
    replace_answers(response, "consent", {"valueBoolean": False})
    del response["item"][item_index(response, "consent-detail")]
    assert validate_response(DEFINITION, response) == []


def test_an_enabled_required_item_inside_an_enabled_group_is_required():
    response = valid_response()
    replace_answers(response, "mood", _coding("sad"))  # enables follow-up (behaviour any)
    response["item"].append({"linkId": "follow-up", "item": []})
    assert validate_response(DEFINITION, response) == [
        Problem("required", "/item/11/item", "item 'follow-up-note' is required", "follow-up-note")
    ]


@pytest.mark.parametrize(
    ("age", "mood", "enabled"),
    [(40, "happy", False), (70, "happy", True), (40, "sad", True), (70, "sad", True)],
)
def test_enable_behavior_any(age, mood, enabled):
    response = valid_response()
    replace_answers(response, "age", {"valueInteger": age})
    replace_answers(response, "mood", _coding(mood))
    response["item"].append(
        {"linkId": "follow-up", "item": [q("follow-up-note", {"valueString": "call"})]}
    )
    codes = [p.code for p in validate_response(DEFINITION, response)]
    assert codes == ([] if enabled else ["not-enabled"])


def test_enable_when_is_evaluated_per_instance_of_a_repeating_group():
    response = valid_response()
    first = item_index(response, "children")
    # First child is 7 (school enabled and answered); second is 3 (school disabled).
    # Give the 3-year-old a school and take it from the 7-year-old.
    response["item"][first]["item"].pop()
    response["item"][first + 1]["item"].append(q("child-school", {"valueString": "Elm"}))
    assert validate_response(DEFINITION, response) == [
        Problem(
            "required", f"/item/{first}/item", "item 'child-school' is required", "child-school"
        ),
        Problem(
            "not-enabled",
            f"/item/{first + 1}/item/1",
            "item 'child-school' is not enabled by the answers given, so it must not be answered",
            "child-school",
        ),
    ]


def test_groups_and_display_items_take_no_answers():
    response = valid_response()
    response["item"].insert(0, q("intro", {"valueString": "hi"}))
    first = item_index(response, "children")
    response["item"][first]["answer"] = [{"valueInteger": 1}]
    assert validate_response(DEFINITION, response) == [
        Problem("answer-not-allowed", "/item/0/answer", "item 'intro' is a display item and takes no answer", "intro"),
        Problem("answer-not-allowed", f"/item/{first}/answer", "item 'children' is a group and takes no answer", "children"),
    ]  # fmt: skip


def test_malformed_structure_is_reported_not_raised():
    response = valid_response()
    response["item"][0]["answer"] = [{"valueString": "a", "valueInteger": 1}]
    response["item"][1]["answer"] = ["forty"]
    response["item"].append("not an item")
    response["item"].append({"answer": []})
    assert validate_response(DEFINITION, response) == [
        Problem("invalid-structure", "/item/11", "item must be a JSON object"),
        Problem("invalid-structure", "/item/12/linkId", "item has no linkId"),
        Problem("invalid-structure", "/item/0/answer/0", "answer to 'name' must carry exactly one value[x]", "name"),
        Problem("invalid-structure", "/item/1/answer/0", "answer must be a JSON object", "age"),
    ]  # fmt: skip


@pytest.mark.parametrize("document", [None, [], "text", 42])
def test_a_response_that_is_not_an_object(document):
    assert validate_response(DEFINITION, document) == [
        Problem("invalid-structure", "", "the response must be a JSON object")
    ]


def test_every_problem_is_reported_at_once():
    response = valid_response()
    response["questionnaire"] = URL
    replace_answers(response, "age", {"valueInteger": 200})
    replace_answers(response, "mood", _coding("angry"))
    del response["item"][item_index(response, "name")]
    codes = sorted(p.code for p in validate_response(DEFINITION, response))
    assert codes == ["not-an-option", "out-of-range", "questionnaire-mismatch", "required"]


def test_a_malformed_questionnaire_lists_every_defect():
    broken = copy.deepcopy(QUESTIONNAIRE)
    broken["item"].append({"linkId": "name", "type": "string"})
    broken["item"].append({"linkId": "x", "type": "essay"})
    broken["item"].append(
        {
            "linkId": "y",
            "type": "string",
            "enableWhen": [{"question": "nope", "operator": "exists", "answerBoolean": True}],
        }
    )
    with pytest.raises(QuestionnaireError) as raised:
        QuestionnaireDefinition.from_fhir(broken)
    assert raised.value.defects == [
        "item 'x': unknown type 'essay'",
        "linkId 'name' is used more than once",
        "item 'y': enableWhen refers to unknown question 'nope'",
    ]


# The built-in instruments


def test_built_in_check_in_requires_the_safety_question():
    response = checkin_response()
    response["item"] = [item for item in response["item"] if item["linkId"] != "safety"]
    assert validate_response(CHECK_IN.definition, response) == [
        Problem("required", "/item", "item 'safety' is required", "safety")
    ]


def test_built_in_check_in_rating_is_0_to_10():
    problems = validate_response(CHECK_IN.definition, checkin_response(balance_rating=11))
    assert problems == [
        Problem(
            "out-of-range",
            "/item/0/answer/0/valueInteger",
            "11 is above the maximum 10 of 'balance-rating'",
            "balance-rating",
        )
    ]


def test_built_in_balance_statements_may_be_skipped_but_the_ladder_is_required():
    response = balance_response({"closeness-1": 4}, gap_now=None, gap_wanted=5)
    assert validate_response(BALANCE.definition, response) == [
        Problem("required", "/item/1/item", "item 'gap-now' is required", "gap-now")
    ]


def test_the_check_in_safety_message_shows_only_after_a_yes():
    definition = CHECK_IN.definition
    support = definition.by_link_id["safety-support"]
    assert support.type == "display"
    assert [(c.question, c.operator, c.answer) for c in support.enable_when] == [
        ("safety", "=", True)
    ]


# Found in review: nearest-occurrence, malformed definitions, operators, dates


def test_a_group_instance_without_the_controlling_answer_is_not_enabled_by_a_sibling():
    response = valid_response()
    second = item_index(response, "children") + 1
    # The second child has no age; the first child's age (7) must not enable its school.
    response["item"][second]["item"] = [q("child-school", {"valueString": "Elm"})]
    assert validate_response(DEFINITION, response) == [
        Problem(
            "not-enabled",
            f"/item/{second}/item/0",
            "item 'child-school' is not enabled by the answers given, so it must not be answered",
            "child-school",
        )
    ]
    response["item"][second]["item"] = []
    assert validate_response(DEFINITION, response) == []  # and its school is not required


def test_a_repeating_question_gives_all_answers_in_one_item():
    response = valid_response()
    response["item"].insert(9, q("hobbies", {"valueString": "chess"}))
    assert validate_response(DEFINITION, response) == [
        Problem(
            "repeated-item",
            "/item/9",
            "item 'hobbies' is a repeating question: give all its answers in one item but appears 2 times",
            "hobbies",
        )
    ]


NOT_EQUAL = {
    "resourceType": "Questionnaire",
    "url": URL,
    "version": "3",
    "item": [
        {"linkId": "mood", "type": "choice", "answerOption": [_coding("happy"), _coding("sad")]},
        {
            "linkId": "cheer",
            "type": "string",
            "required": True,
            "enableWhen": [
                {
                    "question": "mood",
                    "operator": "!=",
                    "answerCoding": {"system": MOODS, "code": "sad"},
                }
            ],
        },
    ],
}


@pytest.mark.parametrize(
    ("mood", "cheer_required"),
    [(None, True), ("happy", True), ("sad", False)],
    ids=["unanswered", "happy", "sad"],
)
def test_not_equal_holds_when_no_answer_equals_including_no_answer(mood, cheer_required):
    # FHIR R4: "!=" is "true if no answer has a value that is equal to the enableWhen answer"
    items = [q("mood", _coding(mood))] if mood else []
    response = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{URL}|3",
        "status": "completed",
        "item": items,
    }
    codes = [p.code for p in validate_response(NOT_EQUAL, response)]
    assert codes == (["required"] if cheer_required else [])


@pytest.mark.parametrize(
    ("visit", "codes"),
    [
        ("2026-02-31", ["wrong-type"]),  # no such day
        ("2024-02-29", []),  # a leap day
        ("2020", []),  # a partial date overlapping the minimum 2020-01-01 is not below it
        ("2019-12", ["out-of-range"]),
    ],
)
def test_dates_are_real_days_and_partial_dates_compare_on_their_precision(visit, codes):
    response = valid_response()
    replace_answers(response, "visit", {"valueDate": visit})
    assert [p.code for p in validate_response(DEFINITION, response)] == codes


@pytest.mark.parametrize(
    ("item", "defect"),
    [
        ({"linkId": "x", "type": "choice", "answerOption": 5}, "item 'x': answerOption must be a list"),
        ({"linkId": "x", "type": "choice", "answerOption": [{"valueCoding": "yes"}]},
         "item 'x': answerOption 0 needs a Coding with a code"),
        ({"linkId": "x", "type": "choice", "answerOption": [
            {"valueCoding": {"code": "a"}, "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/ordinalValue", "valueString": "abc"}]}]},
         "item 'x': answerOption 0 has a non-numeric ordinal value"),
        ({"linkId": "x", "type": "string", "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/minLength", "valueString": "3"}]},
         "item 'x': minLength must be a whole number of at least 0"),
        ({"linkId": "x", "type": "string", "maxLength": -1}, "item 'x': maxLength must be a whole number of at least 0"),
        ({"linkId": "x", "type": "integer", "extension": [{"url": "http://hl7.org/fhir/StructureDefinition/minValue", "valueString": "1"}]},
         "item 'x': minValue does not fit a integer item"),
        ({"linkId": "x", "type": "string", "enableWhen": {"question": "name"}}, "item 'x': enableWhen must be a list"),
    ],
)  # fmt: skip
def test_a_malformed_questionnaire_is_refused_not_crashed_on(item, defect):
    with pytest.raises(QuestionnaireError) as raised:
        QuestionnaireDefinition.from_fhir({"resourceType": "Questionnaire", "item": [item]})
    assert raised.value.defects == [defect]


@pytest.mark.parametrize("code", [c for c in range(0x20) if chr(c) not in "\t\n\r"])
def test_every_control_character_but_tab_cr_and_lf_is_refused_wherever_it_hides(code):
    """JSON spells backspace and form feed \\b and \\f, not \\u0008 and \\u000c: the fast
    screen must catch those spellings too (it once let a backspace through)."""
    definition = load_builtin("balance-assessment").definition
    response = balance_response({lid: 3 for lid in STATEMENTS}, gap_now=2, gap_wanted=4)
    response["item"][1]["text"] = f"x{chr(code)}y"
    problems = validate_response(definition, response)
    assert [(p.code, p.location) for p in problems] == [("invalid-text", "/item/1/text")]


@pytest.mark.parametrize("text", ["tab\there", "two\r\nlines", "C:\\bin\\fonts", "\\u0001"])
def test_tab_cr_lf_and_backslashes_that_only_look_like_escapes_are_accepted(text):
    definition = load_builtin("balance-assessment").definition
    response = balance_response({lid: 3 for lid in STATEMENTS}, gap_now=2, gap_wanted=4)
    response["item"][0]["text"] = text
    assert validate_response(definition, response) == []
