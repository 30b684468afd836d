"""Opaque cursors and page limits for lists."""

from __future__ import annotations

import base64
import json
from typing import Any

from api.errors import FieldProblem, InvalidInput

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def encode_cursor(position: dict[str, Any]) -> str:
    raw = json.dumps(position, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None, keys: tuple[str, ...]) -> dict[str, Any] | None:
    """The position a cursor holds, or InvalidInput naming the `cursor` parameter."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw)
    except (ValueError, TypeError) as error:
        raise _bad_cursor() from error
    if not isinstance(position, dict) or set(position) != set(keys):
        raise _bad_cursor()
    return position


def _bad_cursor() -> InvalidInput:
    return InvalidInput(
        "the cursor is not one this list handed out",
        [FieldProblem.of_parameter("cursor", "not a cursor from this list")],
    )
