"""Reading answers out of FHIR JSON: one value[x] per element, answers by linkId."""

from __future__ import annotations

from typing import Any


def value_entry(element: Any, prefix: str = "value") -> tuple[str, Any] | None:
    """The single `<prefix>[x]` member of `element` as (key, value); None if not exactly one."""
    if not isinstance(element, dict):
        return None
    if len(element) == 1:  # the usual answer: its value[x] and nothing else
        ((key, value),) = element.items()
        return (key, value) if key.startswith(prefix) and key != prefix else None
    entries = [(k, v) for k, v in element.items() if k.startswith(prefix) and k != prefix]
    return entries[0] if len(entries) == 1 else None


def plain_value(value_key: str, value: Any) -> Any:
    """What a flag rule compares an answer with: a Coding's code, else the value itself."""
    return value.get("code") if value_key == "valueCoding" and isinstance(value, dict) else value


def answers_by_link_id(items: Any) -> dict[str, list[dict[str, Any]]]:
    """For each linkId in `items` (depth first, nested answers included), the answers of its
    first occurrence. Malformed parts are skipped: validation reports them."""
    index: dict[str, list[dict[str, Any]]] = {}
    _collect(items, index)
    return index


def _collect(items: Any, index: dict[str, list[dict[str, Any]]]) -> None:
    if not isinstance(items, list):
        return
    for item in items:
        if not isinstance(item, dict):
            continue
        link_id = item.get("linkId")
        answers = item.get("answer")
        answers = [a for a in answers if isinstance(a, dict)] if isinstance(answers, list) else []
        if isinstance(link_id, str) and answers and link_id not in index:
            index[link_id] = answers
        children = item.get("item")
        if children:
            _collect(children, index)
        for answer in answers:
            nested = answer.get("item")
            if nested:
                _collect(nested, index)
