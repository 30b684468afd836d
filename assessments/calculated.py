"""Responses to SDC-scored Questionnaires, read with Tandem's own calculated values.

An imported instrument may compute items itself (`calculatedExpression`, see
`assessments.sdc`). Before a response to it is validated or scored, each
calculated item's answer is replaced by the value Tandem computes from the
other answers: a total the response carries is never trusted, and an item
whose `enableWhen` depends on a calculated value is enabled by the real value.
A top-level calculated item the response leaves out is added (so what depends
on it sees it); a nested one is set where the response has it.

Each calculated item with a numeric value also becomes a score (its linkId is
the scale's code, its text the label); the range and bands are not known from
SDC alone, so they stay empty unless the instrument's Tandem spec says more.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from assessments.sdc import CalculatedValue, SdcError, calculate_sdc

if TYPE_CHECKING:
    from assessments.catalogue import Instrument
    from assessments.scoring import ScaleScore

_VALUE_KEY = {
    "decimal": "valueDecimal",
    "integer": "valueInteger",
    "boolean": "valueBoolean",
    "string": "valueString",
    "text": "valueString",
    "date": "valueDate",
    "dateTime": "valueDateTime",
    "quantity": "valueQuantity",
}


def calculates(questionnaire: dict[str, Any]) -> bool:
    """Whether any item of the Questionnaire is calculated (a calculatedExpression)."""
    return "sdc-questionnaire-calculatedExpression" in str(questionnaire.get("item", ""))


def with_calculations(
    instrument: Instrument, response: Any
) -> tuple[Any, tuple[CalculatedValue, ...], str | None]:
    """The response with Tandem's values in its calculated items, those values, and why
    there are none when the calculation failed (a broken or overlong expression)."""
    if not isinstance(response, dict) or not instrument.calculates:
        return response, (), None
    try:
        result = calculate_sdc(instrument.questionnaire, response)
    except SdcError as error:
        return response, (), f"the instrument's calculation failed: {error}"
    calculated = tuple(v for v in result.values if v.kind == "calculated")
    prepared = copy.deepcopy(response)
    top_level = {item.get("linkId") for item in instrument.questionnaire.get("item", [])}
    for value in calculated:
        answers = _answers(instrument, value)
        if value.pointer is not None:
            item = _at(prepared, value.pointer)
            if isinstance(item, dict):
                if answers:
                    item["answer"] = answers
                else:
                    item.pop("answer", None)
        elif answers and value.enabled and value.link_id in top_level:
            prepared.setdefault("item", []).append({"linkId": value.link_id, "answer": answers})
    return prepared, calculated, None


def calculated_scores(
    instrument: Instrument, calculated: tuple[CalculatedValue, ...], failure: str | None
) -> list[ScaleScore]:
    """One score per calculated numeric item (first instance), or unscored with the reason."""
    from assessments.scoring import ScaleScore

    scores: list[ScaleScore] = []
    seen: set[str] = set()
    spec_scales = {scale.code for scale in instrument.scoring.scales}
    for value in calculated:
        definition = instrument.definition.by_link_id.get(value.link_id)
        if definition is None or definition.type not in ("decimal", "integer"):
            continue
        if value.link_id in seen or value.link_id in spec_scales:
            continue
        seen.add(value.link_id)
        number = value.value
        scores.append(
            ScaleScore(
                scale=value.link_id,
                label=definition.text or value.link_id,
                value=None if number is None else float(Decimal(number)),
                min=None,
                max=None,
                band=None,
                band_label=None,
                interpretation=None,
                items_used=(),
                unscored_reason=None
                if number is not None
                else "the instrument's calculation gave no value (not enough answered)",
            )
        )
    if failure is not None:
        scores += [
            ScaleScore(
                scale=item.link_id,
                label=item.text or item.link_id,
                value=None,
                min=None,
                max=None,
                band=None,
                band_label=None,
                interpretation=None,
                items_used=(),
                unscored_reason=failure,
            )
            for item in instrument.definition.by_link_id.values()
            if item.type in ("decimal", "integer") and item.link_id in _calculated_ids(instrument)
        ]
    return scores


def _answers(instrument: Instrument, value: CalculatedValue) -> list[dict[str, Any]]:
    definition = instrument.definition.by_link_id.get(value.link_id)
    key = _VALUE_KEY.get(definition.type if definition else "", "valueDecimal")
    answers = []
    for number in value.values:
        if number is None:
            continue
        if isinstance(number, Decimal):
            number = (
                int(number)
                if number == number.to_integral_value() and key == "valueInteger"
                else float(number)
            )
        answers.append({key: number})
    return answers


def _at(document: dict[str, Any], pointer: str) -> Any:
    node: Any = document
    for part in pointer.strip("/").split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return None
    return node


def _calculated_ids(instrument: Instrument) -> set[str]:
    found: set[str] = set()

    def walk(items: Any) -> None:
        for item in items or []:
            if "sdc-questionnaire-calculatedExpression" in str(item.get("extension", "")):
                found.add(item.get("linkId"))
            walk(item.get("item"))

    walk(instrument.questionnaire.get("item"))
    return found
