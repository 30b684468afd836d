"""How JSON columns are written and read: orjson, with the standard library as the fallback.

Every response keeps its QuestionnaireResponse, flags and scores' items in
JSON columns, so a submission writes and a read decodes several documents;
orjson does each in a tenth of the standard library's time (see the README's
performance section). orjson refuses integers beyond 64 bits; such a document
is written by the standard library instead, so nothing valid is refused.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> str:
    """`value` as JSON text (UTF-8, no insignificant whitespace)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # an integer beyond 64 bits, or a type orjson does not know
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def loads(text: str | bytes) -> Any:
    return orjson.loads(text)


ENGINE_OPTIONS: dict[str, Any] = {"json_serializer": dumps, "json_deserializer": loads}
