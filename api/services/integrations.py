"""Integrations: the OAuth2 credentials a clinic gives its practice-management system."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlmodel import Session, select

from api.auth.scopes import ScopeSyntaxError, parse_scopes
from api.errors import FieldProblem, InvalidInput
from api.persistence.tenancy import across_clinics
from schemas import Integration

FULL_ACCESS = "system/*.cruds"


def secret_digest(secret: str) -> str:
    """SHA-256 of a generated secret. Secrets carry 256 random bits, so a fast hash is enough."""
    return hashlib.sha256(secret.encode()).hexdigest()


def create_integration(
    session: Session, name: str, scope: str = FULL_ACCESS
) -> tuple[Integration, str]:
    """A new integration of the session's clinic, and its secret (shown once, never stored)."""
    try:
        parse_scopes(scope)
    except ScopeSyntaxError as error:
        raise InvalidInput(str(error), [FieldProblem("/scope", str(error))]) from error
    secret = secrets.token_urlsafe(32)
    integration = Integration(
        client_id=secrets.token_urlsafe(18),
        secret_hash=secret_digest(secret),
        name=name,
        scope=scope,
    )
    session.add(integration)
    session.flush()
    return integration, secret


def find_integration(session: Session, client_id: str) -> Integration | None:
    """The live integration with this public client_id, in whichever clinic holds it."""
    with across_clinics(session):
        integration = session.exec(
            select(Integration).where(Integration.client_id == client_id)
        ).first()
    if integration is None or integration.revoked_at is not None:
        return None
    return integration


def secret_matches(integration: Integration, secret: str) -> bool:
    return hmac.compare_digest(integration.secret_hash, secret_digest(secret))
