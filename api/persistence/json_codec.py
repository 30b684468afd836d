"""How JSON columns are written and read: orjson, with the standard library as the fallback.

Every response keeps its QuestionnaireResponse, flags and scores' items in
JSON columns, so a submission writes and a read decodes several documents;
orjson does each in a tenth of the standard library's time (see the README's
performance section). Documents are written by `assessments.json_text.dumps`,
which falls back to the standard library for what orjson refuses.
"""

from __future__ import annotations

from typing import Any

import orjson

from assessments.json_text import dumps

ENGINE_OPTIONS: dict[str, Any] = {"json_serializer": dumps, "json_deserializer": orjson.loads}
