"""Idempotency keys: a retried POST with the same key and body gets the first answer again.

Answers are stored sealed (they can carry portal links, whose tokens are
otherwise kept only as hashes) and forgotten after 24 hours.

The record is written first (in a savepoint) and completed with the answer in
the same transaction as the write it guards, so a request that fails leaves no
record and a retry runs afresh. Two requests racing with one key: the second
waits on the unique key and is told to retry (PostgreSQL), or runs after the
first has committed and gets its answer (SQLite serializes writers).
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from functools import lru_cache
from typing import Any

from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from api.errors import Conflict, FieldProblem, InvalidInput
from schemas import IdempotencyRecord
from schemas.base import utcnow

KEPT_FOR = timedelta(hours=24)


def fingerprint(method: str, path: str, body: str) -> str:
    return hashlib.sha256(f"{method} {path}\n{body}".encode()).hexdigest()


def replay(session: Session, key: str, digest: str, secret: str) -> tuple[int, Any] | None:
    """The stored answer for `key` (status, body), or None; InvalidInput if the key came
    with another request.

    Keys are remembered for 24 hours; an older record, or one sealed with a
    signing key since replaced, is forgotten here.
    """
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
    try:
        body = json.loads(jwe.decrypt_compact(record.body, _sealing_key(secret)).plaintext)
    except JoseError:
        body = None
    if body is None or record.created_at < utcnow() - KEPT_FOR:
        session.delete(record)
        session.flush()
        return None
    return record.status_code, body


def claim(session: Session, key: str, digest: str) -> IdempotencyRecord:
    """Reserve `key` for this request; Conflict if a concurrent request holds it."""
    forget_expired(session)
    record = IdempotencyRecord(key=key, fingerprint=digest, status_code=0, body=None)
    try:
        with session.begin_nested():
            session.add(record)
    except IntegrityError as error:
        raise Conflict(
            "a request with this Idempotency-Key is still being processed; retry it"
        ) from error
    return record


def settle(record: IdempotencyRecord, status_code: int, body: Any, secret: str) -> None:
    """Store the answer sealed (JWE, dir + A256GCM, key derived from TANDEM_SIGNING_KEY):
    answers can carry portal links, whose tokens are otherwise kept only as hashes."""
    record.status_code = status_code
    plaintext = json.dumps(body, separators=(",", ":")).encode()
    record.body = jwe.encrypt_compact(_SEALING, plaintext, _sealing_key(secret))


def forget_expired(session: Session) -> int:
    """Delete this clinic's records older than 24 hours; returns how many."""
    result = session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.created_at < utcnow() - KEPT_FOR)
    )
    return result.rowcount or 0


_SEALING = {"alg": "dir", "enc": "A256GCM"}


@lru_cache(maxsize=4)
def _sealing_key(secret: str) -> OctKey:
    return OctKey.import_key(hashlib.sha256(f"tandem idempotency\n{secret}".encode()).digest())
