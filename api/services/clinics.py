"""Clinics: the tenants every other row belongs to."""

from __future__ import annotations

from sqlmodel import Session

from api.errors import FieldProblem, InvalidInput
from api.persistence.tenancy import scope_to_clinic
from api.services.instruments import install_builtins
from api.services.integrations import FULL_ACCESS, create_integration
from schemas import ChangeCounter, Clinic, Integration


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
    session.flush()  # the clinic's row first: the rows below refer to it
    scope_to_clinic(session, clinic.id)
    session.add(ChangeCounter(clinic_id=clinic.id))
    install_builtins(session)
    session.flush()
    return clinic


def open_clinic(
    session: Session, name: str, scope: str = FULL_ACCESS
) -> tuple[Clinic, Integration, str]:
    """What `tandem clinic create` makes: a clinic, its first integration (full access),
    and that integration's secret, which is shown once and stored only as a hash."""
    clinic = create_clinic(session, name)
    integration, secret = create_integration(session, "created with the clinic", scope)
    return clinic, integration, secret
