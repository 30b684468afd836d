"""Clinics: the tenants every other row belongs to."""

from __future__ import annotations

from sqlmodel import Session

from api.errors import FieldProblem, InvalidInput
from api.persistence.tenancy import scope_to_clinic
from api.services.instruments import install_builtins
from schemas import Clinic


def create_clinic(session: Session, name: str) -> Clinic:
    """A new clinic holding every built-in instrument; scopes `session` to it."""
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidInput(
            "a clinic needs a name of 1 to 200 characters",
            [FieldProblem("/name", "must be 1 to 200 characters")],
        )
    clinic = Clinic(name=name)
    session.add(clinic)
    scope_to_clinic(session, clinic.id)
    install_builtins(session)
    session.flush()
    return clinic
