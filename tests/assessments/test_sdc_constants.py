"""Sub-expressions of constants, worked out once an evaluation (`assessments.sdc._repeated`).

fhirpathpy evaluates the parameter of `where`, `select` and the like again for each item
of its input. Inside `answerOption.where(valueCoding.code = %resource.item.where(...)...)`,
the right-hand side reads only `%resource` and so is the same for every option: the
sandbox works it out once per evaluation. These tests pin down which sub-expressions
count as constants, and check, expression by expression, that an evaluation with the
sandbox gives what fhirpathpy alone gives for the same tree, including where fhirpathpy
leaves `$this` set by an inner `where` for what follows it.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fhirpathpy import apply_parsed_path

from assessments.sdc import _R4, _REPEATED, _SANDBOX_FUNCTIONS, _parse, _repeated, _Sandbox

FIXTURES = Path(__file__).parents[1] / "fixtures" / "lforms"


def marked(text: str) -> set[str]:
    """The texts of the nodes the sandbox remembers in `text` (fhirpathpy's node texts drop
    the spaces)."""
    tree = _parse(text)
    texts: set[str] = set()

    def walk(node: dict[str, Any]) -> None:
        if id(node) in tree[_REPEATED]:
            texts.add(node["text"])
        for child in node.get("children") or ():
            walk(child)

    for child in tree["children"]:
        walk(child)
    assert tree[_REPEATED] == _repeated(tree)  # stored with the parse, as worked out
    return texts


def test_the_phq9_answer_lookup_inside_the_option_filter_is_a_constant():
    # the LHC-Forms PHQ-9's first variable: the options are filtered by the code of the
    # response's answer, looked up again for each of the four options without the sandbox
    total = next(
        item for item in json.loads((FIXTURES / "phq9.json").read_text())["item"]
        if item["linkId"] == "/44261-6"
    )  # fmt: skip
    (text,) = (
        e["valueExpression"]["expression"] for e in total["extension"]
        if e.get("valueExpression", {}).get("name") == "q1_value"
    )  # fmt: skip
    assert marked(text) == {"%resource.item.where(linkId='/44250-9').answer.valueCoding.code"}


@pytest.mark.parametrize(
    ("text", "constants"),
    [
        # outside any parameter a sub-expression runs once anyway: nothing to remember
        ("%resource.item.where(linkId = 'a').count()", set()),
        # where's criteria read each item (implicit focus): not constants
        ("%resource.item.where(linkId = 'a')", set()),
        # the outermost constant only; its own parameter's focus is its own items
        (
            "%ten.where($this > %five.where($this > 1).count())",
            {"%five.where($this>1).count()"},
        ),
        # iif's parameters run on its own input, which here is a constant
        ("%ten.select(%five.iif(count() > 3, 1, 2))", {"%five.iif(count()>3,1,2)"}),
        # the constant part of a sum whose other part reads the item
        ("%ten.select(%five.count() + $this)", {"%five.count()"}),
        # a constant inside a constant's own parameter is remembered too
        (
            "%ten.select(%five.select(%ten.count()).count())",
            {"%five.select(%ten.count()).count()", "%ten.count()"},
        ),
    ],
)
def test_constants_start_from_a_variable_and_read_nothing_outside(text, constants):
    assert marked(text) == constants


@pytest.mark.parametrize(
    "text",
    [
        # $index and $total are set only by some functions: anywhere inside, not a constant
        "%ten.select(%five.select($index).count())",
        "%ten.select(%five.aggregate($total + $this, 0))",
        # substring's parameter is evaluated on fhirpathpy's current $this: the outer item
        "%ten.select(%word.substring($this.count()))",
        # the focus, or the outer $this, read directly
        "%ten.select(($this | %five).count())",
        # a function the sandbox does not know, or called with a number of parameters
        # fhirpathpy does not take
        "%ten.select(%five.unheardOf())",
        "%ten.select(%five.where(true, false))",
    ],
)
def test_nothing_that_may_read_outside_is_remembered(text):
    assert marked(text) == set()


RESOURCE = {
    "resourceType": "QuestionnaireResponse",
    "item": [
        {"linkId": "a", "answer": [{"valueInteger": 2}]},
        {"linkId": "b", "answer": [{"valueInteger": 7}, {"valueInteger": 9}]},
        {"linkId": "c", "answer": [{"valueCoding": {"code": "x"}}]},
    ],
}
ENVIRONMENT = {
    "ten": list(range(1, 11)),
    "five": list(range(1, 6)),
    "word": "constant",
    "nothing": [],
    "one": {"item": [{"linkId": "q1", "answer": [{"valueCoding": {"code": "c"}}]}]},
    "questionnaire": {
        "item": [{"linkId": "q1", "answerOption": [{"valueCoding": {"code": c}} for c in "abcd"]}]
    },
    "resource": RESOURCE,
}


@pytest.mark.parametrize(
    "text",
    [
        # 2 = the one answer of 'a'; 7 and 9 are the answers of 'b'
        "%ten.where($this = %resource.item.where(linkId = 'a').answer.value)",
        "%ten.where($this > %resource.item.where(linkId = 'b').answer.value.first())",
        "%ten.select(%resource.item.where(linkId = 'b').answer.value.count() * $this)",
        # fhirpathpy leaves $this at the inner where's last item after it: what follows
        # reads that, with or without the sandbox
        "%ten.where(%five.where($this > 3).exists() and $this > 8)",
        "%ten.select(%five.where($this > 2).count() + $this)",
        "%ten.where(%five.select($this * 2).count() = 5 and $this < 3)",
        # $index after an inner where is left at that where's last index
        "%ten.select(%five.where($this > 4).count() + $index)",
        # ... and where the inner function ran over one item it leaves $index at 0, the
        # same int object as the outer index 0: still set, and to be set again each time
        "%ten.select(%five.first().where(true).count() + $index)",
        "%ten.where(%five.first().where(true).exists() and $index > 5)",
        "%ten.where(%five.first().select($this).exists() and $index = 0)",
        # an inner aggregate over nothing leaves $total at None, as the outer one began
        "%ten.aggregate(%nothing.aggregate($this).count() + $total.count())",
        # an operator leaves the focus it was given in $this: (0 + 1).abs() is evaluated on
        # the outer item, so it is not a constant, though it reads nothing outside
        "%ten.select(%five.where(true)[(0 + 1).abs()].combine($this))",
        # the PHQ-9's shape, over a response with one item: its where leaves $index at 0
        "%questionnaire.item.answerOption.where(valueCoding.code = "
        "%one.item.where(linkId = 'q1').answer.valueCoding.code or $index = 0).valueCoding.code",
        # iif and coalesce run their parameters on their input
        "%ten.select(%five.iif(count() > 3, 'many', 'few'))",
        "%ten.where(coalesce(%nothing, %five.where($this = 3)) = $this)",
        # unary minus negates a one-item list in place: the remembered value must not change
        "%ten.select(-(%five.where($this = 2).first()) + $this)",
        "%ten.select(%five.where($this = 2) | %five.where($this = 2))",
        "%resource.item.select(answer.value.where($this = %resource.item.answer.value.last()))",
    ],
)
def test_the_sandbox_gives_what_fhirpathpy_alone_gives(text):
    tree = _parse(text)
    assert tree[_REPEATED], "the expression should have a constant to remember"
    options = {"userInvocationTable": _SANDBOX_FUNCTIONS, "returnRawData": True}
    alone = apply_parsed_path(RESOURCE, tree, dict(ENVIRONMENT), _R4, options)
    sandboxed = _Sandbox(5000).evaluate(RESOURCE, tree, dict(ENVIRONMENT), _SANDBOX_FUNCTIONS)
    assert _plain(sandboxed) == _plain(alone)
    # and again: nothing remembered from one evaluation reaches the next
    again = _Sandbox(5000).evaluate(RESOURCE, tree, dict(ENVIRONMENT), _SANDBOX_FUNCTIONS)
    assert _plain(again) == _plain(alone)


def test_an_operator_on_the_left_of_a_chain_keeps_it_from_being_a_constant():
    assert marked("%ten.select(%five.where(true)[(0 + 1).abs()].combine($this))") == {
        "%five.where(true)"
    }


def test_a_one_value_variable_is_not_changed_in_place():
    # fhirpathpy negates a one-item list in place: given [3] as %single, -%single would
    # change %single for every later use (3, -3, 3, ...). The sandbox gives it bare.
    tree = _parse("%ten.select((-%single).first() + %single.first())")
    environment = dict(ENVIRONMENT, single=[3])
    assert _Sandbox(5000).evaluate(RESOURCE, tree, environment, _SANDBOX_FUNCTIONS) == [0] * 10
    assert environment["single"] == [3]


def _plain(values: list[Any]) -> list[Any]:
    return [float(v) if isinstance(v, Decimal) else v for v in values]


def test_a_remembered_value_is_not_shared_between_evaluations():
    # the same tree over two responses: the second must not see the first's answer
    tree = _parse("%ten.where($this = %resource.item.where(linkId = 'a').answer.value)")
    sandbox = _Sandbox(5000)
    first = sandbox.evaluate(RESOURCE, tree, dict(ENVIRONMENT), _SANDBOX_FUNCTIONS)
    other = {"resourceType": "QuestionnaireResponse",
             "item": [{"linkId": "a", "answer": [{"valueInteger": 6}]}]}  # fmt: skip
    second = sandbox.evaluate(other, tree, dict(ENVIRONMENT, resource=other), _SANDBOX_FUNCTIONS)
    assert (first, second) == ([2], [6])
