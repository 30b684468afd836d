"""Portal links: the opaque, expiring, revocable tokens that let a client open their homework."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, select, update
from sqlmodel import Session

from api.errors import Unauthorized
from api.persistence.connection import ClinicConnection
from api.persistence.tenancy import by_secret
from schemas import Assignment, AssignmentStatus, PortalLink
from schemas.base import utcnow

INVALID_LINK = "This link does not work any more. Ask your counsellor to send you a new one."


@dataclass(frozen=True)
class PortalVisitor:
    """A client who opened a valid link: they see their own assignments and nothing else."""

    clinic_id: uuid.UUID
    client_id: uuid.UUID


def token_digest(token: str) -> str:
    """SHA-256 of a link token; tokens carry 256 random bits, so a fast hash is enough."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_link(session: Session, assignment: Assignment, days: int) -> tuple[str, PortalLink]:
    """A new link for the assignment's client: the token (stored only as its hash) and the row."""
    token = secrets.token_urlsafe(32)
    link = PortalLink(
        assignment_id=assignment.id,
        client_id=assignment.client_id,
        token_hash=token_digest(token),
        expires_at=utcnow() + timedelta(days=days),
    )
    session.add(link)
    return token, link


def revoke_links(
    session: Session, *, assignment_id: uuid.UUID | None = None, client_id: uuid.UUID | None = None
) -> int:
    """Revoke every live link of an assignment, or of a client; returns how many were live.

    A link opens all of its client's open assignments, so cutting a client off
    (a leaked link) means revoking every link the client holds.
    """
    statement = update(PortalLink).where(PortalLink.revoked_at.is_(None))
    if assignment_id is not None:
        statement = statement.where(PortalLink.assignment_id == assignment_id)
    if client_id is not None:
        statement = statement.where(PortalLink.client_id == client_id)
    result = session.execute(statement.values(revoked_at=utcnow()))
    return result.rowcount or 0


_assignment = Assignment.__table__.c  # type: ignore[attr-defined]
_link = PortalLink.__table__.c  # type: ignore[attr-defined]
_LINK = by_secret(
    select(_link.clinic_id, _link.client_id, _link.expires_at, _link.revoked_at, _assignment.status)
    .select_from(
        PortalLink.__table__.join(  # type: ignore[attr-defined]
            Assignment.__table__,  # type: ignore[attr-defined]
            (_assignment.id == _link.assignment_id) & (_assignment.clinic_id == _link.clinic_id),
        )
    )
    .where(_link.token_hash == bindparam("token_hash"))
)


async def open_link(connection: ClinicConnection, token: str) -> PortalVisitor:
    """The client a live link belongs to; scopes `connection` to their clinic.

    Unknown, expired and revoked links, and links of cancelled assignments,
    all get the same answer, so a token's history cannot be probed.
    """
    found = (await connection.execute(_LINK, {"token_hash": token_digest(token)})).first()
    if (
        found is None
        or found.revoked_at is not None
        or found.expires_at <= utcnow()
        or found.status == AssignmentStatus.CANCELLED
    ):
        raise Unauthorized(
            INVALID_LINK, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
        )
    connection.scope_to(found.clinic_id)
    return PortalVisitor(clinic_id=found.clinic_id, client_id=found.client_id)
