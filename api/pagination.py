"""Opaque cursors and page limits for lists."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from api.errors import FieldProblem, InvalidInput

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def encode_cursor(position: dict[str, Any]) -> str:
    raw = json.dumps(position, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(
    cursor: str | None, fields: dict[str, Callable[[Any], Any]]
) -> dict[str, Any] | None:
    """The position a cursor holds, each field read by its converter, or InvalidInput
    naming the `cursor` parameter (a cursor is opaque, but a caller can still alter it)."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        position = json.loads(raw)
        if not isinstance(position, dict) or set(position) != set(fields):
            raise ValueError("not a cursor")
        return {key: read(position[key]) for key, read in fields.items()}
    except (ValueError, TypeError) as error:
        raise _bad_cursor() from error


def sequence_number(value: Any) -> int:
    if type(value) is not int or not 0 <= value < 2**62:
        raise ValueError("not a sequence number")
    return value


def aware_time(value: Any) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    if moment is None or moment.tzinfo is None:
        raise ValueError("not a time with a zone")
    return moment


def identifier(value: Any) -> uuid.UUID:
    if not isinstance(value, str):
        raise ValueError("not an id")
    return uuid.UUID(value)


def _bad_cursor() -> InvalidInput:
    return InvalidInput(
        "the cursor is not one this list handed out",
        [FieldProblem.of_parameter("cursor", "not a cursor from this list")],
    )
