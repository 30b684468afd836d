"""SDC scoring of imported Questionnaires: the LHC-Forms fixtures, unmodified on disk,
and small Questionnaires written here for what the fixtures do not cover (nested groups,
item-level variables, repeating groups, cycles, the sandbox).

Every expected value is worked out by hand from the weights in the Questionnaire (see the
comments beside each table row), never copied from the implementation's output.
"""

from __future__ import annotations

import copy
import json
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assessments import SdcError, calculate_sdc, validate_response, weight_of

FIXTURES = Path(__file__).parents[1] / "fixtures" / "lforms"
LOINC = "http://loinc.org"
ORDINAL = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
ITEM_WEIGHT = "http://hl7.org/fhir/StructureDefinition/itemWeight"
VARIABLE = "http://hl7.org/fhir/StructureDefinition/variable"
SDC = "http://hl7.org/fhir/uv/sdc/StructureDefinition/"
CALCULATED = SDC + "sdc-questionnaire-calculatedExpression"


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def coding(system: str | None, code: str) -> dict[str, Any]:
    value = {"code": code} if system is None else {"system": system, "code": code}
    return {"valueCoding": value}


def question(link_id: str, *answers: dict[str, Any]) -> dict[str, Any]:
    return {"linkId": link_id, "answer": list(answers)}


def group(link_id: str, *items: dict[str, Any]) -> dict[str, Any]:
    return {"linkId": link_id, "item": list(items)}


def response(*items: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "QuestionnaireResponse", "status": "completed", "item": list(items)}


def expression(url: str, text: str, name: str | None = None) -> dict[str, Any]:
    value = {"language": "text/fhirpath", "expression": text}
    return {"url": url, "valueExpression": value | ({"name": name} if name else {})}


def variable(name: str, text: str) -> dict[str, Any]:
    return expression(VARIABLE, text, name)


def calculated(text: str) -> dict[str, Any]:
    return expression(CALCULATED, text)


def questionnaire(*items: dict[str, Any], extension: list[Any] | None = None) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Questionnaire", "status": "active"}
    if extension:
        resource["extension"] = extension
    return resource | {"item": list(items)}


def values_of(result: Any, link_id: str) -> list[Any]:
    return [v.value for v in result.values if v.link_id == link_id]


# --- PHQ-9: nine items scored 0-3, total /44261-6 -----------------------------------------

PHQ9_ITEMS = [
    "/44250-9", "/44255-8", "/44259-0", "/44254-1", "/44251-7",
    "/44258-2", "/44252-5", "/44253-3", "/44260-8",
]  # fmt: skip
PHQ9_TOTAL = "/44261-6"
PHQ9_DIFFICULTY = "/69722-7"  # answer options without weights
FREQUENCY = ["LA6568-5", "LA6569-3", "LA6570-1", "LA6571-9"]  # ordinals 0, 1, 2, 3
PHQ9_FILES = ["phq9.json", "phq9-with-the-weight-function.json"]


def phq9_response(ordinals: list[int | None], total: Any = None) -> dict[str, Any]:
    items = [
        question(link_id, coding(LOINC, FREQUENCY[o]))
        for link_id, o in zip(PHQ9_ITEMS, ordinals, strict=True)
        if o is not None
    ]
    if total is not None:
        items.append(question(PHQ9_TOTAL, {"valueDecimal": total}))
    return response(*items)


@pytest.mark.parametrize("name", PHQ9_FILES)
@pytest.mark.parametrize(
    ("ordinals", "total"),
    [
        ([0] * 9, 0),  # every answer "not at all": 0
        ([1, 2, 0, 3, 1, 1, 0, 2, 1], 11),  # 1 + 2 + 0 + 3 + 1 + 1 + 0 + 2 + 1 = 11
        ([3] * 9, 27),  # 9 x 3 = 27, the maximum
        ([2, None, None, None, None, None, None, None, None], 2),  # one answer: 2
        ([None, 3, None, 1, None, None, None, None, 2], 6),  # 3 + 1 + 2 = 6, gaps skipped
        ([None] * 8 + [3], 3),  # only the last (optional) item: 3
    ],
)
def test_phq9_total_is_the_sum_of_the_item_ordinals(name, ordinals, total):
    result = calculate_sdc(load(name), phq9_response(ordinals))
    assert result.value(PHQ9_TOTAL) == total
    assert [(v.link_id, v.kind) for v in result.values] == [(PHQ9_TOTAL, "calculated")]


def test_phq9_total_is_empty_until_an_item_is_answered():
    # The variable form wraps the sum in iif(any answered, ..., {}).
    assert calculate_sdc(load("phq9.json"), phq9_response([None] * 9)).value(PHQ9_TOTAL) is None


def test_phq9_weight_form_sums_an_empty_collection_to_zero():
    # The weight() form is `answer.weight().sum()` with no guard, and FHIRPath defines sum()
    # as aggregate($this + $total, 0): with nothing answered the total is 0, not empty.
    result = calculate_sdc(load("phq9-with-the-weight-function.json"), phq9_response([None] * 9))
    assert result.value(PHQ9_TOTAL) == 0


@pytest.mark.parametrize("name", PHQ9_FILES)
def test_the_difficulty_item_does_not_count(name):
    # /69722-7's options carry no weight; answering it leaves 1 + 1 = 2 unchanged.
    answers = phq9_response([1, 1, None, None, None, None, None, None, None])
    answers["item"].append(question(PHQ9_DIFFICULTY, coding(LOINC, "LA6575-0")))
    assert calculate_sdc(load(name), answers).value(PHQ9_TOTAL) == 2


@pytest.mark.parametrize("name", PHQ9_FILES)
def test_a_total_the_response_carries_is_recomputed_not_trusted(name):
    carried = calculate_sdc(load(name), phq9_response([0] * 9, total=27)).calculated(PHQ9_TOTAL)
    # the answers give 0; the response claims 27
    assert (carried.value, carried.carried, carried.differs) == (0, (27,), True)
    assert carried.pointer == "/item/9"


@pytest.mark.parametrize("name", PHQ9_FILES)
def test_a_correct_carried_total_does_not_differ(name):
    # 1 + 2 + 0 + 3 + 1 + 1 + 0 + 2 + 1 = 11, carried as the decimal 11.0
    answers = phq9_response([1, 2, 0, 3, 1, 1, 0, 2, 1], total=11.0)
    total = calculate_sdc(load(name), answers).calculated(PHQ9_TOTAL)
    assert (total.value, total.differs) == (11, False)


def test_a_missing_total_is_calculated_where_the_questionnaire_puts_it():
    total = calculate_sdc(load("phq9.json"), phq9_response([1] * 9)).calculated(PHQ9_TOTAL)
    # 9 x 1 = 9; the response has no total item, so there is no pointer and nothing carried
    assert (total.value, total.carried, total.differs, total.pointer) == (9, (), False, None)


@settings(max_examples=40, deadline=None)
@given(
    ordinals=st.lists(st.one_of(st.none(), st.integers(0, 3)), min_size=9, max_size=9),
    carried=st.one_of(st.none(), st.integers(0, 40)),
)
def test_phq9_total_is_the_sum_of_chosen_ordinals_for_any_answers(ordinals, carried):
    answered = [o for o in ordinals if o is not None]
    answers = phq9_response(ordinals, total=carried)
    by_variables = calculate_sdc(load("phq9.json"), answers).calculated(PHQ9_TOTAL)
    by_weight = calculate_sdc(load("phq9-with-the-weight-function.json"), answers)
    assert by_variables.value == (sum(answered) if answered else None)
    assert by_weight.value(PHQ9_TOTAL) == sum(answered)
    assert by_variables.differs == (carried is not None and carried != by_variables.value)


# --- APGAR: five items scored 0-2, total 9272-6 only when all five are answered ----------------

APGAR_CODES = {  # codes of each item, in weight order 0, 1, 2
    "32406-1": ["LA6722-8", "LA6723-6", "LA6724-4"],
    "32407-9": ["LA6716-0", "LA6717-8", "LA6718-6"],
    "32409-5": ["LA6719-4", "LA6720-2", "LA6721-0"],
    "32408-7": ["LA6713-7", "LA6714-5", "LA6715-2"],
    "32410-3": ["LA6725-1", "LA6726-9", "LA6727-7"],
}
APGAR_TOTAL = "9272-6"


def apgar_response(weights: list[int | None], total: Any = None) -> dict[str, Any]:
    items = [
        question(link_id, coding(LOINC, codes[w]))
        for (link_id, codes), w in zip(APGAR_CODES.items(), weights, strict=True)
        if w is not None
    ]
    if total is not None:
        items.append(question(APGAR_TOTAL, {"valueDecimal": total}))
    return response(*items)


@pytest.mark.parametrize(
    ("weights", "total"),
    [
        ([2, 2, 2, 2, 2], 10),  # 5 x 2 = 10, the maximum
        ([0, 0, 0, 0, 0], 0),  # all five answered, all 0
        ([2, 1, 0, 2, 1], 6),  # 2 + 1 + 0 + 2 + 1 = 6
        ([2, 2, 2, 2, None], None),  # four of five: no total at all
        ([None, 1, None, None, None], None),  # one of five: no total
        ([None] * 5, None),
    ],
)
def test_apgar_total_needs_all_five_items(weights, total):
    result = calculate_sdc(load("apgar-with-itemWeight-variable.json"), apgar_response(weights))
    assert result.value(APGAR_TOTAL) == total


def test_apgar_carried_total_is_recomputed():
    # 1 + 1 + 1 + 1 + 1 = 5, the response says 9
    answers = apgar_response([1, 1, 1, 1, 1], total=9)
    total = calculate_sdc(load("apgar-with-itemWeight-variable.json"), answers).calculated(
        APGAR_TOTAL
    )
    assert (total.value, total.carried, total.differs) == (5, (9,), True)


def test_apgar_total_the_response_gives_without_all_answers_differs():
    # four answers: Tandem's total is empty, so any total carried disagrees
    answers = apgar_response([2, 2, 2, 2, None], total=8)
    total = calculate_sdc(load("apgar-with-itemWeight-variable.json"), answers).calculated(
        APGAR_TOTAL
    )
    assert (total.value, total.differs) == (None, True)


# --- enableWhen on a calculated value: fruitScore = count of "yes" -------------------------

FRUITS = ["Q1apples", "Q2berries", "Q3cherries", "Q4dates", "Q5figs"]
YES, NO = "LA33-6", "LA32-8"  # ordinals 1 and 0


def fruit_response(answers: str, carried: int | None = None) -> dict[str, Any]:
    """One letter per fruit: Y, N, or - for unanswered."""
    codes = {"Y": YES, "N": NO}
    items = [
        question(link_id, coding(LOINC, codes[a]))
        for link_id, a in zip(FRUITS, answers, strict=True)
        if a != "-"
    ]
    if carried is not None:
        items.append(question("fruitScore", {"valueInteger": carried}))
    return response(*items)


@pytest.mark.parametrize(
    ("answers", "score", "negative", "positive"),
    [
        ("YYYYN", 4, False, True),  # 1+1+1+1+0 = 4 >= 4
        ("YYYYY", 5, False, True),  # 5 x 1 = 5
        ("YYYNN", 3, True, False),  # 1+1+1+0+0 = 3 < 4, all five answered
        ("NNNNN", 0, True, False),  # 0 < 4
        ("YYYY-", 4, False, False),  # 4, but Q5figs unanswered: neither interpretation
        ("Y----", 1, False, False),  # 1 < 4, four unanswered
        ("-----", None, False, False),  # nothing answered: no score
    ],
)
def test_interpretation_is_enabled_by_the_calculated_score(answers, score, negative, positive):
    result = calculate_sdc(
        load("enableWhenOnCalculatedValueFromFHIRPath.json"), fruit_response(answers)
    )
    assert result.value("fruitScore") == score
    assert result.enabled["negResultInterpretation"] is negative
    assert result.enabled["posResultInterpretation"] is positive
    # the display items inside follow their parent
    assert result.enabled["negResultDisplayMsg"] is negative
    assert result.enabled["posResultDisplayMsg"] is positive
    assert result.enabled["Q1apples"] is True


def test_enable_when_uses_tandems_score_not_the_carried_one():
    # the answers give 1+1+1+0+0 = 3; the response claims 5, which would enable the positive
    result = calculate_sdc(
        load("enableWhenOnCalculatedValueFromFHIRPath.json"), fruit_response("YYYNN", carried=5)
    )
    score = result.calculated("fruitScore")
    assert (score.value, score.carried, score.differs) == (3, (5,), True)
    assert result.enabled["negResultInterpretation"] is True
    assert result.enabled["posResultInterpretation"] is False


# --- weights from a contained ValueSet (same code in two systems) ------------------------------

CONTAINED = "q-with-contained-valueset-with-itemWeight.json"
# expansion order: 1 = system-1/code-1 (itemWeight 1), 2 = system-2/code-1 (ordinalValue 10),
# 3 = system-1/code-2 (ordinalValue 2), 4 = system-2/code-2 (itemWeight 20)
EXPANSION = [
    ("some-system-1", "some-code-1"),
    ("some-system-2", "some-code-1"),
    ("some-system-1", "some-code-2"),
    ("some-system-2", "some-code-2"),
]


def contained_response(first: int | None, second: int | None) -> dict[str, Any]:
    """Options (1-4) chosen for link-1.1.1 (`#id` reference) and link-1.1.2 (url reference)."""
    answers = [
        question(link_id, coding(*EXPANSION[option - 1]))
        for link_id, option in (("link-1.1.1", first), ("link-1.1.2", second))
        if option is not None
    ]
    return response(group("link-1", group("link-1.1", *answers)))


@pytest.mark.parametrize(
    ("first", "second", "total"),
    [
        (2, 3, 12),  # 10 + 2 = 12
        (1, 4, 21),  # 1 + 20 = 21
        (1, 2, 11),  # same code-1, two systems: 1 + 10 = 11
        (4, 3, 22),  # same code-2, two systems: 20 + 2 = 22
        (2, None, 10),  # one answer: 10
        (None, None, 0),  # sum() of nothing is 0
    ],
)
def test_weights_of_a_contained_value_set_match_system_and_code(first, second, total):
    result = calculate_sdc(load(CONTAINED), contained_response(first, second))
    assert result.value("link-2") == total


def test_a_code_without_its_system_has_no_weight():
    # code-1 alone matches neither system's entry, so it counts nothing: 0 + 2 (option 3) = 2
    answers = contained_response(None, 3)
    answers["item"][0]["item"][0]["item"].insert(
        0, question("link-1.1.1", coding(None, "some-code-1"))
    )
    assert calculate_sdc(load(CONTAINED), answers).value("link-2") == 2


@pytest.mark.parametrize(("first", "second"), [(2, 3), (1, 4), (None, None)])
def test_initial_expression_is_computed_over_the_initial_values_only(first, second):
    # link-3's initialExpression sums the weights of the form as it opens: link-1.1.2's initial
    # coding is system-1/code-1, weight 1. The submitted answers do not change it.
    initial = calculate_sdc(load(CONTAINED), contained_response(first, second)).calculated("link-3")
    assert (initial.kind, initial.value) == ("initial", 1)


@pytest.mark.parametrize(
    ("code", "link_id", "weight"),
    [
        (("some-system-1", "some-code-1"), "link-1.1.1", 1),
        (("some-system-2", "some-code-1"), "link-1.1.2", 10),
        (("some-system-1", "some-code-2"), None, 2),
        (("some-system-2", "some-code-2"), None, 20),
        (("some-system-3", "some-code-2"), None, None),
    ],
)
def test_weight_of_a_coding(code, link_id, weight):
    system, value = code
    assert weight_of(load(CONTAINED), {"system": system, "code": value}, link_id=link_id) == (
        weight
    )


def test_weight_of_phq9_answer_codes():
    assert [
        weight_of(load("phq9.json"), {"system": LOINC, "code": code}, link_id="/44250-9")
        for code in FREQUENCY
    ] == [0, 1, 2, 3]


# --- Questionnaires written here -----------------------------------------------------------

SCALE = "https://tests.tandem.dev/CodeSystem/frequency"


def option(code: str, weight: int, url: str = ORDINAL) -> dict[str, Any]:
    return {
        "valueCoding": {"system": SCALE, "code": code},
        "extension": [{"url": url, "valueDecimal": weight}],
    }


# both extensions, as imported instruments mix them
OPTIONS = [
    option("never", 0),
    option("sometimes", 1),
    option("often", 2, ITEM_WEIGHT),
    option("always", 3, ITEM_WEIGHT),
]
WEIGHT = {"never": 0, "sometimes": 1, "often": 2, "always": 3}


def choice(link_id: str, **extra: Any) -> dict[str, Any]:
    return {"linkId": link_id, "type": "choice", "answerOption": OPTIONS} | extra


def frequency(code: str) -> dict[str, Any]:
    return coding(SCALE, code)


def nested_questionnaire() -> dict[str, Any]:
    """Variables at three levels: the Questionnaire (factor), a group (outerWeights, innerWeights)
    and the calculated item itself (innerSum); a total that reads the nested score."""
    return questionnaire(
        {
            "linkId": "outer",
            "type": "group",
            "extension": [
                variable("outerWeights", "%context.item.where(linkId = 'o1').answer.weight()")
            ],
            "item": [
                choice("o1"),
                {
                    "linkId": "inner",
                    "type": "group",
                    "extension": [
                        variable(
                            "innerWeights",
                            "%context.item.where(linkId = 'i1' or linkId = 'i2').answer.weight()",
                        )
                    ],
                    "item": [
                        choice("i1"),
                        choice("i2"),
                        {
                            "linkId": "inner-score",
                            "type": "decimal",
                            "extension": [
                                variable("innerSum", "%innerWeights.sum()"),
                                calculated("(%innerSum + %outerWeights.sum()) * %factor"),
                            ],
                        },
                    ],
                },
            ],
        },
        {
            "linkId": "total",
            "type": "integer",
            "extension": [
                calculated("%resource.repeat(item).where(linkId = 'inner-score').answer.value + 1")
            ],
        },
        extension=[variable("factor", "2")],
    )


def nested_response(o1: str | None, i1: str | None, i2: str | None) -> dict[str, Any]:
    inner = [question(k, frequency(v)) for k, v in (("i1", i1), ("i2", i2)) if v]
    outer = [question("o1", frequency(o1))] if o1 else []
    return response(group("outer", *outer, group("inner", *inner)))


@pytest.mark.parametrize(
    ("answers", "inner_score", "total"),
    [
        (("often", "sometimes", "always"), 12, 13),  # (1 + 3 + 2) x 2 = 12; 12 + 1 = 13
        (("often", "sometimes", None), 6, 7),  # (1 + 2) x 2 = 6; 7
        ((None, "always", "always"), 12, 13),  # (3 + 3 + 0) x 2 = 12; 13
        (("never", "never", "never"), 0, 1),  # 0 x 2 = 0; 1
        ((None, None, None), 0, 1),  # empty sums are 0 in FHIRPath: 0; 1
    ],
)
def test_nested_groups_and_variables_in_scope_order(answers, inner_score, total):
    result = calculate_sdc(nested_questionnaire(), nested_response(*answers))
    assert result.value("inner-score") == inner_score
    assert result.value("total") == total


def test_a_carried_nested_score_is_recomputed_in_place():
    answers = nested_response("often", "sometimes", "always")
    answers["item"][0]["item"][1]["item"].append(
        question("inner-score", {"valueDecimal": 99})  # (1 + 3 + 2) x 2 = 12, not 99
    )
    result = calculate_sdc(nested_questionnaire(), answers)
    score = result.calculated("inner-score")
    assert (score.value, score.differs, score.pointer) == (12, True, "/item/0/item/1/item/2")
    assert result.value("total") == 13  # the total reads Tandem's 12, not the carried 99


def test_a_variable_is_not_visible_outside_its_item():
    definition = nested_questionnaire()
    definition["item"].append(
        {"linkId": "elsewhere", "type": "decimal", "extension": [calculated("%innerSum")]}
    )
    with pytest.raises(SdcError) as raised:
        calculate_sdc(definition, nested_response("often", "never", "never"))
    assert raised.value.link_id == "elsewhere"
    assert raised.value.expression == "%innerSum"
    assert "innerSum" in str(raised.value)


def partners_questionnaire() -> dict[str, Any]:
    """A repeating group: each partner's score from a variable on their own group instance."""
    return questionnaire(
        {
            "linkId": "partner",
            "type": "group",
            "repeats": True,
            "extension": [
                variable("mine", "%context.item.where(linkId = 'stress').answer.weight()")
            ],
            "item": [
                choice("stress"),
                {
                    "linkId": "stress-score",
                    "type": "integer",
                    "extension": [calculated("%mine * 10")],
                },
                {
                    "linkId": "support",
                    "type": "boolean",
                    "enableWhen": [
                        {"question": "stress-score", "operator": ">=", "answerInteger": 20}
                    ],
                },
            ],
        },
        {
            "linkId": "couple-total",
            "type": "integer",
            "extension": [
                calculated(
                    "%resource.item.where(linkId = 'partner').item"
                    ".where(linkId = 'stress-score').answer.value.sum()"
                )
            ],
        },
    )


def test_each_instance_of_a_repeating_group_is_calculated_on_its_own():
    answers = response(
        group("partner", question("stress", frequency("sometimes"))),
        group(
            "partner",
            question("stress", frequency("often")),
            question("support", {"valueBoolean": True}),
        ),
        group("partner"),
    )
    result = calculate_sdc(partners_questionnaire(), answers)
    # sometimes = 1 -> 10; often = 2 -> 20; unanswered -> empty
    assert values_of(result, "stress-score") == [10, 20, None]
    assert result.value("couple-total") == 30  # 10 + 20
    assert [v.enabled for v in result.values if v.link_id == "stress-score"] == [True] * 3
    assert result.enabled["support"] is True  # enabled in the second instance (20 >= 20)


def test_enable_when_in_a_repeating_group_looks_at_its_own_instance():
    answers = response(group("partner", question("stress", frequency("sometimes"))))
    result = calculate_sdc(partners_questionnaire(), answers)
    assert values_of(result, "stress-score") == [10]
    assert result.enabled["support"] is False  # 10 < 20


def gated_questionnaire() -> dict[str, Any]:
    return questionnaire(
        {"linkId": "consent", "type": "boolean"},
        {
            "linkId": "score",
            "type": "integer",
            "enableWhen": [{"question": "consent", "operator": "=", "answerBoolean": True}],
            "extension": [calculated("5")],
        },
        {
            "linkId": "double",
            "type": "integer",
            "extension": [calculated("%resource.item.where(linkId = 'score').answer.value * 2")],
        },
    )


def test_a_calculated_item_that_is_not_enabled_has_no_value():
    given_consent = calculate_sdc(
        gated_questionnaire(), response(question("consent", {"valueBoolean": True}))
    )
    assert (given_consent.value("score"), given_consent.value("double")) == (5, 10)  # 5 x 2

    refused = calculate_sdc(
        gated_questionnaire(),
        response(
            question("consent", {"valueBoolean": False}), question("score", {"valueInteger": 5})
        ),
    )
    score = refused.calculated("score")
    assert (score.value, score.enabled, score.differs) == (None, False, True)
    assert refused.value("double") is None  # nothing to double


def test_values_settle_whatever_the_document_order():
    definition = questionnaire(
        {
            "linkId": "first",
            "type": "integer",
            "extension": [calculated("%resource.item.where(linkId = 'second').answer.value + 1")],
        },
        {
            "linkId": "second",
            "type": "integer",
            "extension": [calculated("%resource.item.where(linkId = 'n').answer.value * 3")],
        },
        {"linkId": "n", "type": "integer"},
    )
    result = calculate_sdc(definition, response(question("n", {"valueInteger": 4})))
    assert (result.value("second"), result.value("first")) == (12, 13)  # 4 x 3 = 12; 12 + 1


def test_a_cycle_that_never_settles_is_an_error():
    def counting(other: str) -> dict[str, Any]:
        value = f"%resource.item.where(linkId = '{other}').answer.value"
        return calculated(f"iif({value}.exists(), {value} + 1, 0)")

    definition = questionnaire(
        {"linkId": "a", "type": "integer", "extension": [counting("b")]},
        {"linkId": "b", "type": "integer", "extension": [counting("a")]},
    )
    with pytest.raises(SdcError, match="do not settle"):
        calculate_sdc(definition, response())


def test_weight_reads_the_questionnaire_not_the_response():
    definition = questionnaire(
        choice("q"),
        {
            "linkId": "minutes",
            "type": "integer",
            "answerOption": [
                {"valueInteger": 5, "extension": [{"url": ORDINAL, "valueDecimal": 0}]},
                {"valueInteger": 30, "extension": [{"url": ORDINAL, "valueDecimal": 4}]},
            ],
        },
        {
            "linkId": "answers",
            "type": "decimal",
            "extension": [calculated("%resource.item.answer.weight().sum()")],
        },
        {
            "linkId": "codings",
            "type": "decimal",
            "extension": [calculated("%resource.item.answer.value.ordinal().sum()")],
        },
        {
            "linkId": "all-options",
            "type": "decimal",
            "extension": [
                calculated(
                    "%questionnaire.item.where(linkId = 'q').answerOption.valueCoding.weight().sum()"
                )
            ],
        },
    )
    forged = {
        "system": SCALE,
        "code": "often",
        "extension": [{"url": ITEM_WEIGHT, "valueDecimal": 100}],  # a weight the client sent
    }
    result = calculate_sdc(
        definition,
        response(question("q", {"valueCoding": forged}), question("minutes", {"valueInteger": 30})),
    )
    assert result.value("answers") == 6  # often = 2 (not 100) + 30 minutes = 4
    assert result.value("codings") == 2  # answer.value: only the Coding has a weight
    assert result.value("all-options") == 6  # 0 + 1 + 2 + 3


def test_calculation_modifies_neither_argument():
    definition, answers = nested_questionnaire(), nested_response("often", "sometimes", None)
    answers["item"].append(question("total", {"valueInteger": 1}))
    before = copy.deepcopy((definition, answers))
    calculate_sdc(definition, answers)
    assert (definition, answers) == before


def test_validation_of_the_fixture_response_still_applies():
    # calculate_sdc does not validate; validate_response still reports an unknown option
    answers = phq9_response([0] * 9)
    answers["item"][0]["answer"][0]["valueCoding"]["code"] = "LA0000-0"
    definition = load("phq9.json") | {"url": "https://tests.tandem.dev/Questionnaire/phq-9"}
    answers["questionnaire"] = definition["url"]
    assert [p.code for p in validate_response(definition, answers)] == ["not-an-option"]
    assert calculate_sdc(definition, answers).value(PHQ9_TOTAL) == 0  # the unknown code adds 0


# --- expressions that are wrong ------------------------------------------------------------


def one_calculation(text: str, item_type: str = "decimal", **item: Any) -> dict[str, Any]:
    return questionnaire(
        {"linkId": "n", "type": "integer"},
        {"linkId": "result", "type": item_type, "extension": [calculated(text)]} | item,
    )


N_IS_5 = response(question("n", {"valueInteger": 5}))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("iif(", "syntax error"),
        ("1 2", "syntax error"),  # fhirpathpy alone would silently give 1
        ("%nowhere + 1", "nowhere"),
        ("'five'", "does not fit a decimal item"),
        ("1 | 2", "gives 2 values but the item does not repeat"),
        ("1" + " + 1" * 3000, "longer than"),
    ],
)
def test_an_expression_that_cannot_be_evaluated_names_the_item_and_expression(text, message):
    with pytest.raises(SdcError, match=message) as raised:
        calculate_sdc(one_calculation(text), N_IS_5)
    assert raised.value.link_id == "result"
    assert raised.value.expression == text
    assert str(raised.value).startswith(f"item 'result': calculatedExpression `{text[:40]}")


def test_a_repeating_item_takes_every_value():
    result = calculate_sdc(one_calculation("1 | 2 | 3", repeats=True), N_IS_5)
    assert result.calculated("result").values == (1, 2, 3)


def test_an_integer_item_takes_whole_numbers_only():
    assert (
        calculate_sdc(
            one_calculation("%resource.item.where(linkId = 'n').answer.value / 5", "integer"),
            N_IS_5,
        ).value("result")
        == 1
    )  # 5 / 5 = 1.0, whole
    with pytest.raises(SdcError, match="does not fit an integer item"):
        calculate_sdc(
            one_calculation("%resource.item.where(linkId = 'n').answer.value / 2", "integer"),
            N_IS_5,
        )


def test_expression_extensions_tandem_does_not_evaluate_are_listed():
    definition = one_calculation("1")
    definition["item"][0]["extension"] = [
        {
            "url": SDC + "sdc-questionnaire-enableWhenExpression",
            "valueExpression": {"language": "text/fhirpath", "expression": "true"},
        }
    ]
    result = calculate_sdc(definition, N_IS_5)
    assert result.not_evaluated == ("item 'n': enableWhenExpression is not evaluated",)


# --- the sandbox ---------------------------------------------------------------------------

TEN = "(" + " | ".join(str(n) for n in range(1, 11)) + ")"


@pytest.mark.parametrize(
    "text",
    [
        "(1).repeat($this + 1).count()",  # never ends
        # %ten is (1 | ... | 10): 10^6 evaluations of the innermost count(); the text is short,
        # so parsing it takes a few milliseconds and the time goes to evaluation. Each level
        # reads the one outside it ($this), so none is a constant worked out once
        "%ten" + ".select(($this | %ten)" * 6 + ".count()" + ").count()" * 6,
    ],
    ids=["endless-repeat", "exponential-select"],
)
def test_a_pathological_expression_is_stopped_at_the_deadline(text):
    # run in a thread, so that a broken guard fails the test instead of hanging it
    outcome: list[BaseException | None] = []

    def calculate() -> None:
        try:
            definition = one_calculation(text)
            definition["extension"] = [variable("ten", TEN)]
            calculate_sdc(definition, N_IS_5, deadline_ms=200)
            outcome.append(None)
        except BaseException as error:
            outcome.append(error)

    started = time.monotonic()
    worker = threading.Thread(target=calculate, daemon=True)
    worker.start()
    worker.join(timeout=10)
    elapsed = time.monotonic() - started
    assert outcome, "the expression was still running after 10 s"
    error = outcome[0]
    assert isinstance(error, SdcError)
    assert "deadline of 200 ms" in str(error)
    assert error.link_id == "result"
    assert elapsed < 2, f"stopped after {elapsed:.2f} s"


def test_the_deadline_covers_parsing():
    # 3,000 arguments take the pure-Python parser over a second; the first literal is unique to
    # this test, so no cached parse is reused
    text = "coalesce(" + ", ".join([str(time.time_ns())] + ["1"] * 3000) + ")"
    started = time.monotonic()
    with pytest.raises(SdcError, match="deadline of 50 ms"):
        calculate_sdc(one_calculation(text), N_IS_5, deadline_ms=50)
    assert time.monotonic() - started < 0.5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # 10 characters doubled 20 times would be 10 million
        (
            "(" + " | ".join(map(str, range(20))) + ").aggregate($total & $total, 'xxxxxxxxxx')"
            ".length()",
            "text of more than 100000 characters",
        ),
        (
            # 1 -> 121 -> 7441 -> 453961 characters: the third replace is refused
            "'x'" + (".replace('', '" + "y" * 60 + "')") * 4 + ".length()",
            "replace\\(\\) would build",
        ),
        # 3 squared 10 times would have 2^10 x 1.6 bits
        (TEN + ".aggregate($total * $total, 3)", "integer beyond 64 bits"),
        # a collection of 10 doubled 20 times
        (
            "("
            + " | ".join(map(str, range(20)))
            + ").aggregate($total.combine($total), "
            + TEN
            + ").count()",
            "collection of more than 100000 items",
        ),
    ],
    ids=["text", "replace", "integer", "collection"],
)
def test_sizes_are_bounded(text, message):
    with pytest.raises(SdcError, match=message):
        calculate_sdc(one_calculation(text), N_IS_5, deadline_ms=5000)


def test_regular_expressions_are_refused():
    with pytest.raises(SdcError, match="matches\\(\\) is not available"):
        calculate_sdc(
            one_calculation("'aaaaaaaaaaaaaaaaaaaaaaaaaaaaab'.matches('(a+)+$')", "boolean"), N_IS_5
        )


_NETWORK_EVENTS: list[str] | None = None


def _record_outside_access(event: str, args: tuple[Any, ...]) -> None:
    if _NETWORK_EVENTS is not None and event.startswith(
        ("socket.", "urllib.", "http.", "ftplib.", "smtplib.", "subprocess.", "os.system",
         "os.exec", "os.posix_spawn", "os.spawn", "open", "webbrowser.")
    ):  # fmt: skip
        _NETWORK_EVENTS.append(event)


@pytest.fixture
def outside_access():
    """Every attempt to reach outside the process (audit events) while the test runs."""
    global _NETWORK_EVENTS
    if not getattr(sys, "_tandem_sdc_audit_hook", False):
        sys.addaudithook(_record_outside_access)  # hooks cannot be removed; it records only here
        sys._tandem_sdc_audit_hook = True  # type: ignore[attr-defined]
    _NETWORK_EVENTS = []
    yield _NETWORK_EVENTS
    _NETWORK_EVENTS = None


@pytest.mark.parametrize(
    "text",
    [
        "'http://tandem-test.invalid/Patient/1'.resolve().count()",
        "%resource.item.answer.value.resolve().count()",
        "%resource.item.answer.value.reference.memberOf('http://tandem-test.invalid/ValueSet/x')",
    ],
)
def test_resolve_and_terminology_functions_reach_nothing(text, outside_access):
    answers = response(
        question("n", {"valueReference": {"reference": "http://tandem-test.invalid/Patient/1"}})
    )
    definition = questionnaire(
        {"linkId": "n", "type": "reference"},
        {"linkId": "result", "type": "decimal", "extension": [calculated(text)]},
    )
    with pytest.raises(SdcError, match="not available: Tandem evaluates expressions without"):
        calculate_sdc(definition, answers)
    assert outside_access == []


def test_an_x_fhir_query_variable_is_not_run(outside_access):
    definition = one_calculation("%patients.count()")
    definition["item"][1]["extension"].insert(
        0,
        {
            "url": VARIABLE,
            "valueExpression": {
                "name": "patients",
                "language": "application/x-fhir-query",
                "expression": "http://tandem-test.invalid/Patient?name=x",
            },
        },
    )
    with pytest.raises(SdcError, match="patients"):
        calculate_sdc(definition, N_IS_5)
    assert outside_access == []
    definition["item"][1]["extension"][1] = calculated("1")
    assert calculate_sdc(definition, N_IS_5).not_evaluated == (
        "item 'result': variable in 'application/x-fhir-query' is not evaluated "
        "(Tandem evaluates text/fhirpath only)",
    )


def test_trace_writes_nothing(capfd):
    result = calculate_sdc(
        one_calculation("%resource.item.where(linkId = 'n').answer.value.trace('n').sum()"), N_IS_5
    )
    assert result.value("result") == 5
    assert capfd.readouterr() == ("", "")


def test_a_value_used_twice_is_not_changed_by_negation():
    # fhirpathpy negates a one-item list in place; each use of %x must still read 3
    definition = one_calculation("-%x + %x")
    definition["item"][1]["extension"].insert(0, variable("x", "3"))
    assert calculate_sdc(definition, N_IS_5).value("result") == 0  # -3 + 3


def test_a_deadline_must_be_positive():
    with pytest.raises(ValueError, match="deadline_ms"):
        calculate_sdc(one_calculation("1"), N_IS_5, deadline_ms=0)


def test_results_are_exact_decimals():
    result = calculate_sdc(one_calculation("0.1 + 0.2"), N_IS_5)
    assert result.value("result") == Decimal("0.3")
