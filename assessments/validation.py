"""Checking a QuestionnaireResponse against the exact Questionnaire version it names.

`validate_response` never raises on bad input: it walks the whole response and
returns every problem at once, each with the linkId it concerns, a stable
`code` an integrator can switch on, and a JSON pointer into the response.

`in-progress` responses may be partial; `completed` and `amended` ones must
answer every required item that is enabled. Answers to items whose enableWhen
is false are rejected, not silently kept. enableWhen is evaluated per instance:
a condition inside a repeating group looks at the answers of its own group
instance first (FHIR's "nearest occurrence" rule).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from assessments import json_text
from assessments.answers import answers_by_link_id, value_entry
from assessments.questionnaire import (
    AnswerOption,
    EnableWhen,
    ItemDefinition,
    QuestionnaireDefinition,
    codings_match,
)

RESPONSE_STATUSES = frozenset(
    {"in-progress", "completed", "amended", "entered-in-error", "stopped"}
)
# Whole responses: submitted, or a correction of one. Only these are scored.
WHOLE_STATUSES = frozenset({"completed", "amended"})
_KIND = {"group": "group", "display": "display item"}

_DATE = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$")
_DATE_TIME = re.compile(
    r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01])"
    r"(T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00)))?)?)?$"
)
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?$")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a response.

    `code` is one of: invalid-structure, invalid-resource-type, invalid-status,
    questionnaire-mismatch, invalid-text, unknown-item, misplaced-item, repeated-item,
    too-many-answers, answer-not-allowed, wrong-type, not-an-option,
    out-of-range, too-long, too-short, too-many-decimals, required, not-enabled.
    Services checking a response in context add their own codes (e.g. the
    recording service's subject-mismatch).
    """

    code: str
    location: str
    message: str
    link_id: str | None = None


class InvalidResponse(ValueError):
    """A response failed validation; `problems` holds every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(f"{len(problems)} problem(s) in the response")
        self.problems = problems


def validate_response(
    questionnaire: QuestionnaireDefinition | dict[str, Any], response: Any
) -> list[Problem]:
    """Every problem in `response` against `questionnaire`; an empty list means valid."""
    return validate_choices(questionnaire, response)[0]


# The option each answer chose, by (the question's linkId, the answer object's id()): the
# same answer object given to two questions chose an option of each.
Choices = dict[tuple[str, int], AnswerOption]


def validate_choices(
    questionnaire: QuestionnaireDefinition | dict[str, Any], response: Any
) -> tuple[list[Problem], Choices]:
    """`validate_response`, and the option each answer with options chose, found on the
    way (keyed by the question and `id()` of the answer's JSON object, so valid only while
    `response` is unchanged): scoring reads its weights there instead of finding them again."""
    definition = (
        questionnaire
        if isinstance(questionnaire, QuestionnaireDefinition)
        else QuestionnaireDefinition.from_fhir(questionnaire)
    )
    problems: list[Problem] = []
    if not isinstance(response, dict):
        return [Problem("invalid-structure", "", "the response must be a JSON object")], {}
    if response.get("resourceType") != "QuestionnaireResponse":
        problems.append(
            Problem(
                "invalid-resource-type",
                "/resourceType",
                "resourceType must be 'QuestionnaireResponse'",
            )
        )
    status = response.get("status")
    if not isinstance(status, str) or status not in RESPONSE_STATUSES:
        problems.append(
            Problem(
                "invalid-status",
                "/status",
                f"status must be one of {', '.join(sorted(RESPONSE_STATUSES))}",
            )
        )
    _check_questionnaire_reference(definition, response.get("questionnaire"), problems)
    if _MAYBE_CONTROL.search(json_text.dumps(response)):  # fast screen; the walk finds where
        problems.extend(_control_characters(response, ""))

    items = response.get("item", [])
    if not isinstance(items, list):
        problems.append(Problem("invalid-structure", "/item", "item must be a list"))
        return problems, {}
    whole = isinstance(status, str) and status in WHOLE_STATUSES
    walker = _Walker(definition, whole=whole, problems=problems)
    root = _Instance(parent=None, items=items, scope=None)
    walker.walk_level(None, items, "/item", root, enabled=True)
    return problems, walker.choices


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# JSON writes those characters as \u0000-\u001f, but backspace and form feed as \b and \f
# (and tab, LF and CR as \t \n \r). An escaped backslash before a b or f ("C:\\bin") passes
# the screen too: the walk then finds nothing, which is right.
_MAYBE_CONTROL = re.compile(r"\\(?:u00[01][0-9a-fA-F]|[bf])")


def _control_characters(value: Any, pointer: str) -> list[Problem]:
    """FHIR strings hold no control characters but tab, CR and LF; find any, anywhere."""
    if isinstance(value, str):
        if _CONTROL.search(value):
            return [Problem("invalid-text", pointer, "text must not contain control characters")]
        return []
    if isinstance(value, dict):
        entries = value.items()
    elif isinstance(value, list):
        entries = enumerate(value)  # type: ignore[assignment]
    else:
        return []
    found = []
    for key, item in entries:
        escaped = str(key).replace("~", "~0").replace("/", "~1")
        found.extend(_control_characters(item, f"{pointer}/{escaped}"))
    return found


def _check_questionnaire_reference(
    definition: QuestionnaireDefinition, named: Any, problems: list[Problem]
) -> None:
    expected = definition.canonical
    if not isinstance(named, str) or not named:
        problems.append(
            Problem(
                "questionnaire-mismatch",
                "/questionnaire",
                f"questionnaire must name the Questionnaire as '{expected}'",
            )
        )
        return
    if "|" not in named and definition.version:
        problems.append(
            Problem(
                "questionnaire-mismatch",
                "/questionnaire",
                f"questionnaire must name its version: '{named}|{definition.version}'",
            )
        )
    elif named != expected:
        problems.append(
            Problem(
                "questionnaire-mismatch",
                "/questionnaire",
                f"questionnaire names '{named}' but this is '{expected}'",
            )
        )


@dataclass
class _Instance:
    """One occurrence of a group (or the response root, or an answer holding items).

    `scope` holds the linkIds the instance's definition contains (None at the
    root: all of them). enableWhen looks for a question in the nearest
    instance whose scope holds it; if that instance did not answer it, it is
    unanswered, whatever sibling instances said.
    """

    parent: _Instance | None
    items: list[Any]
    scope: frozenset[str] | None
    _index: dict[str, list[dict[str, Any]]] | None = field(default=None, repr=False)

    def answers_for(self, link_id: str) -> list[dict[str, Any]]:
        if self._index is None:
            self._index = answers_by_link_id(self.items)
        return self._index.get(link_id, [])


@dataclass
class _Walker:
    definition: QuestionnaireDefinition
    whole: bool
    problems: list[Problem]
    choices: Choices = field(default_factory=dict)

    def add(self, code: str, location: str, message: str, link_id: str | None) -> None:
        self.problems.append(Problem(code, location, message, link_id))

    def walk_level(
        self,
        parent: ItemDefinition | None,
        items: list[Any],
        pointer: str,
        instance: _Instance,
        enabled: bool,
    ) -> None:
        """Check the sibling `items` against the definitions of `parent`'s children (the
        Questionnaire's top items when None)."""
        known = self.definition.siblings[parent.link_id if parent else None]
        occurrences: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                self.add(
                    "invalid-structure", f"{pointer}/{index}", "item must be a JSON object", None
                )
                continue
            link_id = item.get("linkId")
            if not isinstance(link_id, str) or not link_id:
                self.add(
                    "invalid-structure", f"{pointer}/{index}/linkId", "item has no linkId", None
                )
                continue
            if link_id in known:
                occurrences.setdefault(link_id, []).append((index, item))
            elif link_id in self.definition.by_link_id:
                home = self.definition.by_link_id[link_id].parent
                where = f"inside '{home}'" if home else "at the top level"
                self.add(
                    "misplaced-item",
                    f"{pointer}/{index}",
                    f"item '{link_id}' belongs {where}, not here",
                    link_id,
                )
            else:
                self.add(
                    "unknown-item",
                    f"{pointer}/{index}",
                    f"item '{link_id}' is not in the Questionnaire",
                    link_id,
                )

        for definition in known.values():  # in the Questionnaire's order
            found = occurrences.get(definition.link_id, [])
            item_enabled = enabled and enable_when_holds(definition, instance)
            if len(found) > 1 and not (definition.type == "group" and definition.repeats):
                why = (
                    "does not repeat"
                    if definition.type == "group" or not definition.repeats
                    else "is a repeating question: give all its answers in one item"
                )
                for index, _ in found[1:]:
                    self.add(
                        "repeated-item",
                        f"{pointer}/{index}",
                        f"item '{definition.link_id}' {why} but appears {len(found)} times",
                        definition.link_id,
                    )
                found = found[:1]
            if not found:
                if self.whole and item_enabled and definition.required:
                    self.add(
                        "required",
                        pointer,
                        f"item '{definition.link_id}' is required",
                        definition.link_id,
                    )
                continue
            for index, item in found:
                self.check_item(definition, item, f"{pointer}/{index}", instance, item_enabled)

    def check_item(
        self,
        definition: ItemDefinition,
        item: dict[str, Any],
        pointer: str,
        instance: _Instance,
        enabled: bool,
    ) -> None:
        link_id = definition.link_id
        answers = item.get("answer", [])
        children = item.get("item", [])
        if not isinstance(answers, list):
            self.add("invalid-structure", f"{pointer}/answer", "answer must be a list", link_id)
            return
        if not isinstance(children, list):
            self.add("invalid-structure", f"{pointer}/item", "item must be a list", link_id)
            return
        if not enabled:
            if _has_answers(item):
                self.add(
                    "not-enabled",
                    pointer,
                    f"item '{link_id}' is not enabled by the answers given, so it must "
                    "not be answered",
                    link_id,
                )
            return

        if definition.type in ("group", "display"):
            if answers:
                self.add(
                    "answer-not-allowed",
                    f"{pointer}/answer",
                    f"item '{link_id}' is a {_KIND[definition.type]} and takes no answer",
                    link_id,
                )
            if definition.type == "display":
                if children:
                    self.add(
                        "answer-not-allowed",
                        f"{pointer}/item",
                        f"item '{link_id}' is a display item and holds no items",
                        link_id,
                    )
                return
            group_instance = _Instance(instance, children, definition.descendants)
            self.walk_level(definition, children, f"{pointer}/item", group_instance, True)
            if self.whole and definition.required and not _has_answers(item):
                self.add(
                    "required",
                    pointer,
                    f"group '{link_id}' is required: answer at least one of its items",
                    link_id,
                )
            return

        if len(answers) > 1 and not definition.repeats:
            self.add(
                "too-many-answers",
                f"{pointer}/answer",
                f"item '{link_id}' takes one answer, not {len(answers)}",
                link_id,
            )
        for index, answer in enumerate(answers):
            answer_pointer = f"{pointer}/answer/{index}"
            self.check_answer(definition, answer, answer_pointer)
            nested = answer.get("item", []) if isinstance(answer, dict) else []
            if nested:
                if not isinstance(nested, list):
                    self.add(
                        "invalid-structure", f"{answer_pointer}/item", "must be a list", link_id
                    )
                    continue
                nested_instance = _Instance(instance, nested, definition.descendants)
                self.walk_level(definition, nested, f"{answer_pointer}/item", nested_instance, True)
        if children:
            if answers and any(isinstance(a, dict) and a.get("item") for a in answers):
                self.add(
                    "invalid-structure",
                    f"{pointer}/item",
                    "nested items go under the answer or under the item, not both",
                    link_id,
                )
            else:
                child_instance = _Instance(instance, children, definition.descendants)
                self.walk_level(definition, children, f"{pointer}/item", child_instance, True)
        if self.whole and definition.required and not answers:
            self.add("required", pointer, f"item '{link_id}' is required", link_id)

    def check_answer(self, definition: ItemDefinition, answer: Any, pointer: str) -> None:
        link_id = definition.link_id
        if not isinstance(answer, dict):
            self.add("invalid-structure", pointer, "answer must be a JSON object", link_id)
            return
        entry = value_entry(answer)
        if entry is None:
            self.add(
                "invalid-structure",
                pointer,
                f"answer to '{link_id}' must carry exactly one value[x]",
                link_id,
            )
            return
        key, value = entry
        allowed = definition.allowed_value_keys
        if key not in allowed:
            self.add(
                "wrong-type",
                f"{pointer}/{key}",
                f"item '{link_id}' is of type {definition.type} and takes "
                f"{' or '.join(sorted(allowed)) or 'no answer'}, not {key}",
                link_id,
            )
            return
        shape_error = _shape_error(key, value)
        if shape_error:
            self.add("wrong-type", f"{pointer}/{key}", f"{key} {shape_error}", link_id)
            return
        if definition.options and (definition.type == "choice" or key != "valueString"):
            option = definition.option_for(key, value)
            if option is None:
                self.add(
                    "not-an-option",
                    f"{pointer}/{key}",
                    f"{_describe(key, value)} is not one of the options of '{link_id}'",
                    link_id,
                )
            else:
                self.choices[link_id, id(answer)] = option
            return
        self.check_constraints(definition, key, value, f"{pointer}/{key}")

    def check_constraints(
        self, definition: ItemDefinition, key: str, value: Any, pointer: str
    ) -> None:
        link_id = definition.link_id
        comparable = _comparable(key, value)
        if comparable is not None:
            low = _comparable(key, definition.min_value)
            high = _comparable(key, definition.max_value)
            if low is not None and _less(comparable, low):
                self.add(
                    "out-of-range",
                    pointer,
                    f"{_describe(key, value)} is below the minimum "
                    f"{definition.min_value} of '{link_id}'",
                    link_id,
                )
            if high is not None and _less(high, comparable):
                self.add(
                    "out-of-range",
                    pointer,
                    f"{_describe(key, value)} is above the maximum "
                    f"{definition.max_value} of '{link_id}'",
                    link_id,
                )
        if key in ("valueString", "valueUri"):
            if definition.max_length is not None and len(value) > definition.max_length:
                self.add(
                    "too-long",
                    pointer,
                    f"answer to '{link_id}' has {len(value)} characters; at most "
                    f"{definition.max_length} are allowed",
                    link_id,
                )
            if definition.min_length is not None and len(value) < definition.min_length:
                self.add(
                    "too-short",
                    pointer,
                    f"answer to '{link_id}' has {len(value)} characters; at least "
                    f"{definition.min_length} are needed",
                    link_id,
                )
        if key == "valueDecimal" and definition.max_decimal_places is not None:
            exponent = Decimal(str(value)).normalize().as_tuple().exponent
            places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
            if places > definition.max_decimal_places:
                self.add(
                    "too-many-decimals",
                    pointer,
                    f"answer to '{link_id}' has {places} decimal places; at most "
                    f"{definition.max_decimal_places} are allowed",
                    link_id,
                )


def enable_when_holds(definition: ItemDefinition, instance: _Instance) -> bool:
    """Whether the item's enableWhen conditions hold for this instance of it (answers
    looked up nearest first, as FHIR says); an item without conditions is enabled.
    Validation and the SDC calculation (`assessments.sdc`) both decide here."""
    if not definition.enable_when:
        return True
    results = (
        _condition_holds(condition, _nearest_answers(condition.question, instance))
        for condition in definition.enable_when
    )
    return any(results) if definition.enable_behavior == "any" else all(results)


def _nearest_answers(link_id: str, instance: _Instance | None) -> list[dict[str, Any]]:
    """Answers of the nearest occurrence of `link_id`: in the innermost enclosing
    instance whose definition contains the question, from this instance outwards."""
    while instance is not None:
        if instance.scope is None or link_id in instance.scope:
            return instance.answers_for(link_id)
        instance = instance.parent
    return []


def _condition_holds(condition: EnableWhen, answers: list[dict[str, Any]]) -> bool:
    values = [entry for answer in answers if (entry := value_entry(answer)) is not None]
    if condition.operator == "exists":
        return bool(values) == (condition.answer is True)
    if condition.operator == "!=":
        # FHIR: "true if no answer has a value equal to" the enableWhen answer, so an
        # unanswered question satisfies it.
        return not any(_equal(condition, key, value) for key, value in values)
    if not values:
        return False
    if condition.operator == "=":
        return any(_equal(condition, key, value) for key, value in values)
    expected = _comparable(condition.answer_key, condition.answer)
    if expected is None:
        return False
    for key, value in values:
        actual = _comparable(key, value)
        if actual is None or type(actual) is not type(expected):
            continue
        if (
            (condition.operator == ">" and actual > expected)
            or (condition.operator == "<" and actual < expected)
            or (condition.operator == ">=" and actual >= expected)
            or (condition.operator == "<=" and actual <= expected)
        ):
            return True
    return False


def _equal(condition: EnableWhen, key: str, value: Any) -> bool:
    if condition.answer_key == "answerCoding":
        return key == "valueCoding" and codings_match(condition.answer, value)
    if condition.answer_key == "answerReference":
        return (
            key == "valueReference"
            and isinstance(value, dict)
            and isinstance(condition.answer, dict)
            and value.get("reference") == condition.answer.get("reference")
        )
    expected = _comparable(condition.answer_key, condition.answer)
    actual = _comparable(key, value)
    return expected is not None and type(actual) is type(expected) and actual == expected


def _comparable(key: str, value: Any) -> Any:
    """A value that orders correctly within its kind, or None."""
    if value is None:
        return None
    kind = key.removeprefix("value").removeprefix("answer")
    if kind in ("Integer", "Decimal"):
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return None
        try:
            return Decimal(str(value))
        except ArithmeticError:
            return None
    if kind == "Quantity" and isinstance(value, dict):
        return _comparable("valueDecimal", value.get("value"))
    if kind in ("Date", "DateTime", "Time", "String", "Uri") and isinstance(value, str):
        return value
    if kind == "Boolean" and isinstance(value, bool):
        return value
    return None


def _shape_error(key: str, value: Any) -> str | None:
    """Why `value` is not a well-formed `key`, or None when it is."""
    if key == "valueBoolean":
        return None if isinstance(value, bool) else "must be true or false"
    if key == "valueInteger":
        return None if type(value) is int else "must be a whole number"
    if key == "valueDecimal":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok and value == value and abs(value) != float("inf") else "must be a number"
    if key in ("valueString", "valueUri"):
        return None if isinstance(value, str) and value.strip() else "must be non-empty text"
    if key == "valueDate":
        ok = isinstance(value, str) and _DATE.match(value) and _real_day(value)
        return None if ok else "must be a date (YYYY-MM-DD)"
    if key == "valueDateTime":
        ok = isinstance(value, str) and _DATE_TIME.match(value) and _real_day(value)
        return None if ok else "must be a FHIR dateTime"
    if key == "valueTime":
        return (
            None if isinstance(value, str) and _TIME.match(value) else "must be a time (hh:mm:ss)"
        )
    if key == "valueCoding":
        ok = isinstance(value, dict) and isinstance(value.get("code"), str)
        return None if ok else "must be a Coding with a code"
    if key in ("valueQuantity", "valueReference", "valueAttachment"):
        return None if isinstance(value, dict) else "must be a JSON object"
    return "is not a value type FHIR allows"


def _less(a: Any, b: Any) -> bool:
    """a < b; ISO dates and times compare on their common precision, so the partial
    date 2020 is neither below 2020-01-01 nor above 2020-12-31."""
    if isinstance(a, str) and isinstance(b, str):
        shared = min(len(a), len(b))
        return a[:shared] < b[:shared]
    return bool(a < b)


def _real_day(value: str) -> bool:
    """A full date part must name a day that exists (no 31 February)."""
    if len(value) < 10:
        return True
    try:
        date.fromisoformat(value[:10])
    except ValueError:
        return False
    return True


def _describe(key: str, value: Any) -> str:
    if key == "valueCoding" and isinstance(value, dict):
        system = value.get("system")
        return f"code '{value.get('code')}'" + (f" of {system}" if system else "")
    return repr(value)


def _has_answers(item: Any) -> bool:
    if not isinstance(item, dict):
        return False
    answers = item.get("answer")
    if isinstance(answers, list) and answers:
        return True
    children = item.get("item")
    return isinstance(children, list) and any(_has_answers(child) for child in children)
