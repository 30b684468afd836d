"""What of a client's answers their partner may never see.

An instrument's scoring spec names its private items (free text, safety
items). Every surface that shows a response to anyone but the counsellor
passes it through `redact_private` first; the rule lives here, once.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assessments.catalogue import Instrument


def private_link_ids(instrument: Instrument) -> frozenset[str]:
    return frozenset(instrument.scoring.private_items)


def redact_private(instrument: Instrument, response: dict[str, Any]) -> dict[str, Any]:
    """A copy of `response` without the private items, wherever they are nested."""
    private = private_link_ids(instrument)
    redacted = copy.deepcopy(response)
    if "item" in redacted:
        redacted["item"] = _without(redacted["item"], private)
    return redacted


def _without(items: Any, private: frozenset[str]) -> Any:
    if not isinstance(items, list):
        return items
    kept = []
    for item in items:
        if isinstance(item, dict):
            link_id = item.get("linkId")
            if isinstance(link_id, str) and link_id in private:
                continue
            if "item" in item:
                item["item"] = _without(item["item"], private)
            for answer in item.get("answer", []) if isinstance(item.get("answer"), list) else []:
                if isinstance(answer, dict) and "item" in answer:
                    answer["item"] = _without(answer["item"], private)
        kept.append(item)
    return kept
