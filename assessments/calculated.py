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

from assessments.sdc import CALCULATED_EXPRESSION, CalculatedValue, SdcError, calculate_sdc

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


def calculated_link_ids(questionnaire: dict[str, Any]) -> frozenset[str]:
    """The linkIds of the items the Questionnaire calculates (a calculatedExpression)."""
    found: set[str] = set()

    def walk(items: Any) -> None:
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict):
                continue
            extensions = item.get("extension")
            if isinstance(extensions, list) and any(
                isinstance(e, dict) and e.get("url") == CALCULATED_EXPRESSION for e in extensions
            ):
                found.add(str(item.get("linkId")))
            walk(item.get("item"))

    walk(questionnaire.get("item"))
    return frozenset(found)


def with_calculations(
    instrument: Instrument, response: Any
) -> tuple[Any, tuple[CalculatedValue, ...], str | None]:
    """The response with Tandem's values in its calculated items, those values, and why
    there are none when the calculation failed (a broken or overlong expression)."""
    if not isinstance(response, dict) or not instrument.calculated_items:
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
    """One score per calculated numeric item (its first instance) that the Tandem spec does
    not score itself; unscored, with the reason, where there is no value."""
    from assessments.scoring import ScaleScore

    first: dict[str, CalculatedValue] = {}
    for value in calculated:
        first.setdefault(value.link_id, value)
    spec_scales = {scale.code for scale in instrument.scoring.scales}
    scores = []
    for link_id in sorted(instrument.calculated_items - spec_scales):
        definition = instrument.definition.by_link_id.get(link_id)
        if definition is None or definition.type not in ("decimal", "integer"):
            continue
        found = first.get(link_id)
        number = None if found is None else found.value
        reason = failure or "the instrument's calculation gave no value (not enough answered)"
        scores.append(
            ScaleScore(
                scale=link_id,
                label=definition.text or link_id,
                value=None if number is None else float(Decimal(number)),
                min=None,
                max=None,
                band=None,
                band_label=None,
                interpretation=None,
                items_used=(),
                unscored_reason=None if number is not None else reason,
            )
        )
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
