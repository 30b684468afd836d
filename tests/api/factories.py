"""Factories for persistence tests: clinics, clients, couples, assignments."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine

from api.persistence import ClinicSession
from api.services.clinics import create_clinic
from api.services.instruments import resolve_instrument
from schemas import Assignment, Client, ClientIdentifier, Couple, CoupleMember


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
