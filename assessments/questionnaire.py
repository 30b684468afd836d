"""A FHIR R4 Questionnaire read once into an immutable item tree.

Validation and scoring walk this tree instead of the raw JSON, so the
Questionnaire's rules (types, options, ranges, enableWhen) are interpreted in
one place. Reading a malformed Questionnaire raises `QuestionnaireError` with
every defect found, not just the first.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from functools import cached_property
from typing import Any

from assessments.answers import value_entry


def exact(number: Decimal | int | Fraction) -> int | Fraction:
    """A number as an exact rational: an int when it is whole (int arithmetic is
    exact and several times faster than Fraction's), else a Fraction."""
    value = Fraction(number)
    return value.numerator if value.denominator == 1 else value


ORDINAL_VALUE = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
ITEM_WEIGHT = "http://hl7.org/fhir/StructureDefinition/itemWeight"
MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
MIN_LENGTH = "http://hl7.org/fhir/StructureDefinition/minLength"
MAX_DECIMAL_PLACES = "http://hl7.org/fhir/StructureDefinition/maxDecimalPlaces"

ITEM_TYPES = frozenset(
    {
        "group", "display", "boolean", "decimal", "integer", "date", "dateTime", "time",
        "string", "text", "url", "choice", "open-choice", "attachment", "reference", "quantity",
    }
)  # fmt: skip

# The answer value[x] each question type takes (choice types take their options' types).
VALUE_KEYS_BY_TYPE: dict[str, frozenset[str]] = {
    "boolean": frozenset({"valueBoolean"}),
    "decimal": frozenset({"valueDecimal"}),
    "integer": frozenset({"valueInteger"}),
    "date": frozenset({"valueDate"}),
    "dateTime": frozenset({"valueDateTime"}),
    "time": frozenset({"valueTime"}),
    "string": frozenset({"valueString"}),
    "text": frozenset({"valueString"}),
    "url": frozenset({"valueUri"}),
    "choice": frozenset({"valueCoding"}),
    "open-choice": frozenset({"valueCoding", "valueString"}),
    "attachment": frozenset({"valueAttachment"}),
    "reference": frozenset({"valueReference"}),
    "quantity": frozenset({"valueQuantity"}),
}

ENABLE_WHEN_OPERATORS = frozenset({"exists", "=", "!=", ">", "<", ">=", "<="})


class QuestionnaireError(ValueError):
    """The Questionnaire itself is malformed; `defects` lists every defect found."""

    def __init__(self, defects: list[str]) -> None:
        super().__init__("; ".join(defects))
        self.defects = defects


@dataclass(frozen=True)
class AnswerOption:
    """One permitted answer: its value[x] key and value, and its ordinal weight if any."""

    value_key: str
    value: Any
    ordinal: Decimal | None

    @cached_property
    def weight(self) -> int | Fraction | None:
        """The ordinal weight as an exact number (an int when whole), for scoring."""
        return None if self.ordinal is None else exact(self.ordinal)

    def matches(self, value_key: str, value: Any) -> bool:
        if value_key != self.value_key:
            return False
        if value_key == "valueCoding":
            return codings_match(self.value, value)
        return bool(value == self.value)


@dataclass(frozen=True)
class EnableWhen:
    question: str
    operator: str
    answer_key: str  # e.g. "answerBoolean"
    answer: Any


@dataclass(frozen=True)
class ItemDefinition:
    link_id: str
    type: str
    text: str | None
    required: bool
    repeats: bool
    options: tuple[AnswerOption, ...]
    enable_when: tuple[EnableWhen, ...]
    enable_behavior: str  # "all" or "any"
    min_value: Any
    max_value: Any
    min_length: int | None
    max_length: int | None
    max_decimal_places: int | None
    children: tuple[ItemDefinition, ...]
    parent: str | None = field(default=None, compare=False)

    @cached_property
    def descendants(self) -> frozenset[str]:
        """The linkIds of every item below this one."""
        return frozenset(
            link_id for child in self.children for link_id in (child.link_id, *child.descendants)
        )

    @property
    def is_question(self) -> bool:
        return self.type not in ("group", "display")

    @cached_property
    def allowed_value_keys(self) -> frozenset[str]:
        """The answer value[x] keys this item accepts."""
        if self.type in ("choice", "open-choice") and self.options:
            keys = frozenset(option.value_key for option in self.options)
            return keys | {"valueString"} if self.type == "open-choice" else keys
        return VALUE_KEYS_BY_TYPE.get(self.type, frozenset())

    def option_for(self, value_key: str, value: Any) -> AnswerOption | None:
        """The option an answer chose, looked up by code (codings) or value."""
        if value_key == "valueCoding":
            code = value.get("code") if isinstance(value, dict) else None
            candidates = self._options_by_code.get(code, ()) if isinstance(code, str) else ()
        else:
            candidates = self.options
        for option in candidates:
            if option.matches(value_key, value):
                return option
        return None

    @cached_property
    def _options_by_code(self) -> dict[str, tuple[AnswerOption, ...]]:
        index: dict[str, list[AnswerOption]] = {}
        for option in self.options:
            if option.value_key == "valueCoding" and isinstance(option.value, dict):
                index.setdefault(option.value.get("code"), []).append(option)
        return {code: tuple(options) for code, options in index.items()}

    @cached_property
    def exact_range(self) -> tuple[int | Fraction, int | Fraction] | None:
        """`value_range` as exact numbers (ints when whole), worked out once."""
        bounds = self.value_range
        return None if bounds is None else (exact(bounds[0]), exact(bounds[1]))

    @cached_property
    def value_range(self) -> tuple[Decimal, Decimal] | None:
        """The lowest and highest numeric value an answer to this item can carry."""
        if self.options:
            ordinals = [o.ordinal for o in self.options]
            if any(o is None for o in ordinals):
                return None
            return min(ordinals), max(ordinals)  # type: ignore[type-var]
        if self.type == "boolean":
            return Decimal(0), Decimal(1)
        if self.type in ("integer", "decimal") and None not in (self.min_value, self.max_value):
            return Decimal(str(self.min_value)), Decimal(str(self.max_value))
        return None


@dataclass(frozen=True)
class QuestionnaireDefinition:
    url: str | None
    version: str | None
    title: str | None
    items: tuple[ItemDefinition, ...]
    by_link_id: dict[str, ItemDefinition] = field(compare=False, repr=False)

    @property
    def canonical(self) -> str | None:
        if self.url is None:
            return None
        return f"{self.url}|{self.version}" if self.version else self.url

    @cached_property
    def siblings(self) -> dict[str | None, dict[str, ItemDefinition]]:
        """The items at each level by linkId, in the Questionnaire's order, under their
        parent's linkId (None: the top; an item without children has an empty level)."""
        levels: dict[str | None, dict[str, ItemDefinition]] = {None: {}}
        for item in self.walk():
            levels.setdefault(item.parent, {})[item.link_id] = item
            levels.setdefault(item.link_id, {})
        return levels

    def walk(self) -> Iterator[ItemDefinition]:
        """Every item, depth first, in document order."""
        stack = list(reversed(self.items))
        while stack:
            item = stack.pop()
            yield item
            stack.extend(reversed(item.children))

    @classmethod
    def from_fhir(cls, resource: Any) -> QuestionnaireDefinition:
        if not isinstance(resource, dict) or resource.get("resourceType") != "Questionnaire":
            raise QuestionnaireError(["resource is not a FHIR Questionnaire"])
        defects: list[str] = []
        items = _read_items(resource.get("item", []), "/item", None, defects)
        by_link_id: dict[str, ItemDefinition] = {}
        definition = cls(
            url=_optional_str(resource.get("url")),
            version=_optional_str(resource.get("version")),
            title=_optional_str(resource.get("title")),
            items=items,
            by_link_id=by_link_id,
        )
        for item in definition.walk():
            if item.link_id in by_link_id:
                defects.append(f"linkId '{item.link_id}' is used more than once")
            by_link_id[item.link_id] = item
        for item in definition.walk():
            for condition in item.enable_when:
                if condition.question not in by_link_id:
                    defects.append(
                        f"item '{item.link_id}': enableWhen refers to unknown question "
                        f"'{condition.question}'"
                    )
        if defects:
            raise QuestionnaireError(defects)
        return definition


def codings_match(expected: Any, given: Any) -> bool:
    """Codings match on code, and on system when the expected coding names one."""
    if not isinstance(expected, dict) or not isinstance(given, dict):
        return False
    if expected.get("code") != given.get("code"):
        return False
    return "system" not in expected or expected.get("system") == given.get("system")


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _extension_value(element: dict, url: str) -> Any:
    extensions = element.get("extension")
    for extension in extensions if isinstance(extensions, list) else ():
        if isinstance(extension, dict) and extension.get("url") == url:
            entry = value_entry(extension)
            return entry[1] if entry else None
    return None


def _list(raw: Any, what: str, defects: list[str]) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        defects.append(f"{what} must be a list")
        return []
    return raw


def _read_items(
    raw_items: Any, pointer: str, parent: str | None, defects: list[str]
) -> tuple[ItemDefinition, ...]:
    items = []
    for index, raw in enumerate(_list(raw_items, f"{pointer}: item", defects)):
        item = _read_item(raw, f"{pointer}/{index}", parent, defects)
        if item is not None:
            items.append(item)
    return tuple(items)


def _read_item(
    raw: Any, pointer: str, parent: str | None, defects: list[str]
) -> ItemDefinition | None:
    if not isinstance(raw, dict):
        defects.append(f"{pointer}: item must be an object")
        return None
    link_id = raw.get("linkId")
    item_type = raw.get("type")
    if not isinstance(link_id, str) or not link_id:
        defects.append(f"{pointer}: item has no linkId")
        return None
    if item_type not in ITEM_TYPES:
        defects.append(f"item '{link_id}': unknown type {item_type!r}")
        return None
    where = f"item '{link_id}'"
    return ItemDefinition(
        link_id=link_id,
        type=item_type,
        text=_optional_str(raw.get("text")),
        required=raw.get("required") is True,
        repeats=raw.get("repeats") is True,
        options=_read_options(raw.get("answerOption"), where, defects),
        enable_when=_read_conditions(raw.get("enableWhen"), where, defects),
        enable_behavior="any" if raw.get("enableBehavior") == "any" else "all",
        min_value=_bound(raw, MIN_VALUE, item_type, where, defects),
        max_value=_bound(raw, MAX_VALUE, item_type, where, defects),
        min_length=_count(_extension_value(raw, MIN_LENGTH), f"{where}: minLength", defects),
        max_length=_count(raw.get("maxLength"), f"{where}: maxLength", defects),
        max_decimal_places=_count(
            _extension_value(raw, MAX_DECIMAL_PLACES), f"{where}: maxDecimalPlaces", defects
        ),
        children=_read_items(raw.get("item"), f"{pointer}/item", link_id, defects),
        parent=parent,
    )


def _read_options(raw: Any, where: str, defects: list[str]) -> tuple[AnswerOption, ...]:
    options = []
    for index, option in enumerate(_list(raw, f"{where}: answerOption", defects)):
        entry = value_entry(option)
        if entry is None:
            defects.append(f"{where}: answerOption {index} needs one value[x]")
            continue
        key, value = entry
        if key == "valueCoding" and not (
            isinstance(value, dict) and isinstance(value.get("code"), str)
        ):
            defects.append(f"{where}: answerOption {index} needs a Coding with a code")
            continue
        weight = _weight(option)
        if weight is None and key == "valueCoding":
            weight = _weight(value)
        ordinal = None
        if weight is not None:
            ordinal = _decimal(weight)
            if ordinal is None:
                defects.append(f"{where}: answerOption {index} has a non-numeric ordinal value")
                continue
        options.append(AnswerOption(key, value, ordinal))
    return tuple(options)


def _weight(element: dict) -> Any:
    weight = _extension_value(element, ORDINAL_VALUE)
    return _extension_value(element, ITEM_WEIGHT) if weight is None else weight


def _read_conditions(raw: Any, where: str, defects: list[str]) -> tuple[EnableWhen, ...]:
    conditions = []
    for index, condition in enumerate(_list(raw, f"{where}: enableWhen", defects)):
        entry = value_entry(condition, "answer")
        operator = condition.get("operator") if isinstance(condition, dict) else None
        question = condition.get("question") if isinstance(condition, dict) else None
        if entry is None or operator not in ENABLE_WHEN_OPERATORS or not isinstance(question, str):
            defects.append(
                f"{where}: enableWhen {index} needs question, a known operator and one answer[x]"
            )
            continue
        conditions.append(EnableWhen(question, operator, entry[0], entry[1]))
    return tuple(conditions)


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        return None
    return number if number.is_finite() else None


def _count(value: Any, what: str, defects: list[str]) -> int | None:
    if value is None:
        return None
    if type(value) is not int or value < 0:
        defects.append(f"{what} must be a whole number of at least 0")
        return None
    return value


_BOUND_TYPES = {
    "integer": (int,),
    "decimal": (int, float),
    "date": (str,),
    "dateTime": (str,),
    "time": (str,),
}


def _bound(raw: dict, url: str, item_type: str, where: str, defects: list[str]) -> Any:
    value = _extension_value(raw, url)
    if value is None:
        return None
    allowed = _BOUND_TYPES.get(item_type)
    if allowed is None or isinstance(value, bool) or not isinstance(value, allowed):
        defects.append(f"{where}: {url.rsplit('/', 1)[-1]} does not fit a {item_type} item")
        return None
    return value
