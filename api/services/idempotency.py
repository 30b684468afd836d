"""Idempotency keys: a retried POST with the same key and body gets the first answer again.

The record is written first (in a savepoint) and completed with the answer in
the same transaction as the write it guards, so a request that fails leaves no
record and a retry runs afresh. Two requests racing with one key: the second
waits on the unique key and is told to retry (PostgreSQL), or runs after the
first has committed and gets its answer (SQLite serializes writers).
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from api.errors import Conflict, FieldProblem, InvalidInput
from schemas import IdempotencyRecord


def fingerprint(method: str, path: str, body: str) -> str:
    return hashlib.sha256(f"{method} {path}\n{body}".encode()).hexdigest()


def replay(session: Session, key: str, digest: str) -> IdempotencyRecord | None:
    """The stored answer for `key`, or None; InvalidInput if the key came with another request."""
    record = session.exec(select(IdempotencyRecord).where(IdempotencyRecord.key == key)).first()
    if record is None:
        return None
    if record.fingerprint != digest:
        raise InvalidInput(
            "this Idempotency-Key was already used with a different request",
            [FieldProblem.of_parameter("Idempotency-Key", "already used with another request")],
        )
    if record.status_code == 0:
        raise Conflict("a request with this Idempotency-Key is still being processed; retry it")
    return record


def claim(session: Session, key: str, digest: str) -> IdempotencyRecord:
    """Reserve `key` for this request; Conflict if a concurrent request holds it."""
    record = IdempotencyRecord(key=key, fingerprint=digest, status_code=0, body=None)
    try:
        with session.begin_nested():
            session.add(record)
    except IntegrityError as error:
        raise Conflict(
            "a request with this Idempotency-Key is still being processed; retry it"
        ) from error
    return record


def settle(record: IdempotencyRecord, status_code: int, body: Any) -> None:
    record.status_code = status_code
    record.body = body
