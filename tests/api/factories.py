"""Factories for persistence tests: clinics, clients, couples, assignments."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, update

from api.persistence import ClinicSession, across_clinics
from api.services.clinics import create_clinic
from api.services.instruments import resolve_instrument
from api.services.portal_links import token_digest
from schemas import Assignment, Client, ClientIdentifier, Couple, CoupleMember, PortalLink


@contextmanager
def clinic_session(engine: Engine, name: str = "Another Clinic") -> Iterator[ClinicSession]:
    """A second, independent clinic with its own scoped session (committed on creation)."""
    with ClinicSession(engine, expire_on_commit=False) as session:
        create_clinic(session, name)
        session.commit()
        yield session


def make_client(session: ClinicSession, name: str | None = None) -> Client:
    client = Client(name=name)
    session.add(client)
    session.add(
        ClientIdentifier(
            client_id=client.id, system="https://pm.example/clients", value=uuid.uuid4().hex
        )
    )
    session.flush()
    return client


def make_couple(session: ClinicSession, first: Client, second: Client) -> Couple:
    couple = Couple()
    session.add(couple)
    session.add_all(
        [
            CoupleMember(couple_id=couple.id, client_id=first.id, position=1),
            CoupleMember(couple_id=couple.id, client_id=second.id, position=2),
        ]
    )
    session.flush()
    return couple


def make_assignment(
    session: ClinicSession, client: Client, instrument: str = "weekly-check-in"
) -> Assignment:
    assignment = Assignment(
        client_id=client.id, instrument_id=resolve_instrument(session, instrument).id
    )
    session.add(assignment)
    session.flush()
    return assignment


def link_row(engine: Engine, portal_url: str, **values: Any) -> None:
    """Change the stored row of a portal link (by its URL's token): expire or revoke it."""
    with ClinicSession(engine) as system, across_clinics(system):
        system.execute(
            update(PortalLink)
            .where(PortalLink.token_hash == token_digest(portal_url.rsplit("/", 1)[-1]))
            .values(**values)
        )
        system.commit()
