"""Portal links: the opaque, expiring, revocable tokens that let a client open their homework."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import Session, select

from api.errors import Unauthorized
from api.persistence.tenancy import across_clinics, scope_to_clinic
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


def open_link(session: Session, token: str) -> PortalVisitor:
    """The client a live link belongs to; scopes `session` to their clinic.

    Unknown, expired and revoked links, and links of cancelled assignments,
    all get the same answer, so a token's history cannot be probed.
    """
    with across_clinics(session):
        found = session.exec(
            select(
                PortalLink.clinic_id,
                PortalLink.client_id,
                PortalLink.expires_at,
                PortalLink.revoked_at,
                Assignment.status,
            )
            .join(
                Assignment,
                (Assignment.id == PortalLink.assignment_id)
                & (Assignment.clinic_id == PortalLink.clinic_id),
            )
            .where(PortalLink.token_hash == token_digest(token))
        ).first()
    if (
        found is None
        or found.revoked_at is not None
        or found.expires_at <= utcnow()
        or found.status == AssignmentStatus.CANCELLED
    ):
        raise Unauthorized(
            INVALID_LINK, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}
        )
    scope_to_clinic(session, found.clinic_id)
    return PortalVisitor(clinic_id=found.clinic_id, client_id=found.client_id)
