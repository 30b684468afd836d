"""FHIR JSON as text, fast: orjson, with the json module for what orjson refuses.

orjson refuses integers beyond 64 bits (FHIR's decimal and integer64 allow
them); such a document is written by the json module instead, so nothing
valid is refused. Used by validation's control-character screen and, through
`api.persistence.json_codec`, for every JSON column.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> str:
    """`value` as JSON text: UTF-8, no insignificant whitespace."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # an integer beyond 64 bits, or a type orjson does not know
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
