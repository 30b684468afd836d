"""Clients (people in care) and couples, found by the practice system's own identifiers."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from api.errors import Conflict, FieldProblem, InvalidInput, NotFound, PreconditionFailed
from api.pagination import aware_time, decode_cursor, encode_cursor
from schemas import Client, ClientIdentifier, Couple, CoupleMember
from schemas.base import utcnow
from schemas.clinic import (
    ClientCreate,
    ClientPage,
    ClientPublic,
    CoupleCreate,
    CouplePublic,
    Identifier,
)


def register_client(session: Session, body: ClientCreate) -> tuple[ClientPublic, bool]:
    """The client with this identifier: created now (True) or found (False).

    Two requests racing with one identifier both end with the same client: the
    loser's insert fails on the unique identifier and it reads the winner's.
    """
    existing = _client_by_identifier(session, body.identifier)
    if existing is not None:
        return existing, False
    client = Client(name=body.name, birth_date=body.birth_date)
    try:
        with session.begin_nested():
            session.add(client)
            session.add(
                ClientIdentifier(
                    client_id=client.id,
                    system=body.identifier.system,
                    value=body.identifier.value,
                )
            )
    except IntegrityError:
        existing = _client_by_identifier(session, body.identifier)
        if existing is None:
            raise
        return existing, False
    return _public([client], {client.id: [body.identifier]})[0], True


def get_client(session: Session, client_id: uuid.UUID) -> ClientPublic:
    client = session.get(Client, client_id)
    if client is None:
        raise NotFound(f"no client {client_id}")
    return _public([client], _identifiers(session, [client.id]))[0]


def find_clients(
    session: Session, identifier: str | None, cursor: str | None, limit: int
) -> ClientPage:
    """Clients, oldest first; `identifier` as `system|value` narrows to that one."""
    if identifier is not None:
        system, separator, value = identifier.partition("|")
        if not separator or not system or not value:
            raise InvalidInput(
                "identifier must be system|value",
                [FieldProblem.of_parameter("identifier", "must be system|value")],
            )
        found = _client_by_identifier(session, Identifier(system=system, value=value))
        return ClientPage(items=[found] if found else [], next_cursor=None)
    statement = select(Client).order_by(Client.created_at, Client.id).limit(limit + 1)
    position = decode_cursor(cursor, {"t": aware_time, "id": identifier})
    if position is not None:
        after = (position["t"], position["id"])
        statement = statement.where(
            (Client.created_at > after[0])
            | ((Client.created_at == after[0]) & (Client.id > after[1]))
        )
    clients = list(session.exec(statement))
    page = clients[:limit]
    next_cursor = None
    if len(clients) > limit:
        last = page[-1]
        next_cursor = encode_cursor({"t": last.created_at.isoformat(), "id": str(last.id)})
    return ClientPage(
        items=_public(page, _identifiers(session, [c.id for c in page])), next_cursor=next_cursor
    )


def register_couple(session: Session, body: CoupleCreate) -> tuple[CouplePublic, bool]:
    """A couple of two of this clinic's clients; with an identifier, idempotent on it."""
    first, second = body.members
    problems = []
    if first == second:
        problems.append(FieldProblem("/members/1", "the two members must be different clients"))
    for index, member in enumerate(body.members):
        if session.get(Client, member) is None:
            problems.append(FieldProblem(f"/members/{index}", f"no client {member} in this clinic"))
    if problems:
        raise InvalidInput("a couple needs two different clients of this clinic", problems)
    if body.identifier is not None:
        existing = _couple_by_identifier(session, body)
        if existing is not None:
            return existing, False
    couple = Couple(
        identifier_system=body.identifier.system if body.identifier else None,
        identifier_value=body.identifier.value if body.identifier else None,
    )
    try:
        with session.begin_nested():
            session.add(couple)
            session.add_all(
                CoupleMember(couple_id=couple.id, client_id=member, position=position)
                for position, member in enumerate(body.members, 1)
            )
    except IntegrityError:
        # Another request made the couple with this identifier meanwhile: theirs it is.
        existing = _couple_by_identifier(session, body) if body.identifier else None
        if existing is None:
            raise
        return existing, False
    return CouplePublic(
        id=couple.id,
        members=list(body.members),
        identifier=body.identifier,
        created_at=couple.created_at,
    ), True


def _couple_by_identifier(session: Session, body: CoupleCreate) -> CouplePublic | None:
    """The couple with the body's identifier; Conflict if its members are others."""
    assert body.identifier is not None
    found = session.exec(
        select(Couple).where(
            Couple.identifier_system == body.identifier.system,
            Couple.identifier_value == body.identifier.value,
        )
    ).first()
    if found is None:
        return None
    couple = _couple_public(session, found)
    if set(couple.members) != set(body.members):
        raise Conflict(
            "a couple with this identifier already exists with other members",
            [FieldProblem("/identifier", "already used by another couple")],
        )
    return couple


def get_couple(session: Session, couple_id: uuid.UUID) -> CouplePublic:
    couple = session.get(Couple, couple_id)
    if couple is None:
        raise NotFound(f"no couple {couple_id}")
    return _couple_public(session, couple)


def couple_members(session: Session, couple_id: uuid.UUID) -> list[uuid.UUID]:
    """The two partners of a couple, in their order; NotFound for another clinic's couple."""
    members = list(
        session.exec(
            select(CoupleMember.client_id)
            .where(CoupleMember.couple_id == couple_id)
            .order_by(CoupleMember.position)
        )
    )
    if not members:
        raise NotFound(f"no couple {couple_id}")
    return members


def _couple_public(session: Session, couple: Couple) -> CouplePublic:
    identifier = (
        Identifier(system=couple.identifier_system, value=couple.identifier_value)
        if couple.identifier_system and couple.identifier_value
        else None
    )
    return CouplePublic(
        id=couple.id,
        members=couple_members(session, couple.id),
        identifier=identifier,
        created_at=couple.created_at,
    )


def _client_by_identifier(session: Session, identifier: Identifier) -> ClientPublic | None:
    client = session.exec(
        select(Client)
        .join(ClientIdentifier, ClientIdentifier.client_id == Client.id)
        .where(
            ClientIdentifier.system == identifier.system,
            ClientIdentifier.value == identifier.value,
        )
    ).first()
    if client is None:
        return None
    return _public([client], _identifiers(session, [client.id]))[0]


def _identifiers(
    session: Session, client_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[Identifier]]:
    found: dict[uuid.UUID, list[Identifier]] = defaultdict(list)
    if client_ids:
        rows = session.exec(
            select(ClientIdentifier).where(ClientIdentifier.client_id.in_(client_ids))  # type: ignore[attr-defined]
        )
        for row in rows:
            found[row.client_id].append(Identifier(system=row.system, value=row.value))
    return found


def _public(
    clients: list[Client], identifiers: dict[uuid.UUID, list[Identifier]]
) -> list[ClientPublic]:
    return [
        ClientPublic(
            id=c.id,
            identifiers=identifiers.get(c.id, []),
            name=c.name,
            birth_date=c.birth_date,
            created_at=c.created_at,
        )
        for c in clients
    ]


def create_client(
    session: Session,
    identifiers: list[Identifier],
    name: str | None,
    birth_date: date | None,
) -> Client:
    """A new client with these identifiers (FHIR create), or Conflict naming the client
    that already holds one of them; nothing is written then."""
    _check_identifiers_free(session, identifiers, None)
    client = Client(name=name, birth_date=birth_date)
    try:
        with session.begin_nested():
            session.add(client)
            session.add_all(
                ClientIdentifier(client_id=client.id, system=i.system, value=i.value)
                for i in identifiers
            )
    except IntegrityError:
        _check_identifiers_free(session, identifiers, None)  # names the winner of the race
        raise
    return client


def update_client(
    session: Session,
    client_id: uuid.UUID,
    identifiers: list[Identifier],
    name: str | None,
    birth_date: date | None,
    expected_version: int | None,
) -> Client:
    """Replace a client's name, date of birth and identifiers (FHIR update).

    The row is locked first; `expected_version` (from If-Match) must be the
    current version, or PreconditionFailed and nothing changes. Each update
    adds one to the version.
    """
    client = session.get(Client, client_id, with_for_update=True)
    if client is None:
        raise NotFound(f"no client {client_id}")
    if expected_version is not None and expected_version != client.version:
        raise PreconditionFailed(
            f"the client changed since you read it (version {client.version} now, "
            f"{expected_version} expected): read it and update again"
        )
    _check_identifiers_free(session, identifiers, client_id)
    wanted = {(i.system, i.value) for i in identifiers}
    held = list(
        session.exec(select(ClientIdentifier).where(ClientIdentifier.client_id == client_id))
    )
    for row in held:
        if (row.system, row.value) not in wanted:
            session.delete(row)
    session.flush()
    kept = {(row.system, row.value) for row in held}
    session.add_all(
        ClientIdentifier(client_id=client_id, system=system, value=value)
        for system, value in sorted(wanted - kept)
    )
    client.name = name
    client.birth_date = birth_date
    client.version += 1
    client.updated_at = utcnow()
    session.flush()
    return client


def _check_identifiers_free(
    session: Session, identifiers: list[Identifier], owner: uuid.UUID | None
) -> None:
    problems = []
    for index, identifier in enumerate(identifiers):
        holder = session.exec(
            select(ClientIdentifier.client_id).where(
                ClientIdentifier.system == identifier.system,
                ClientIdentifier.value == identifier.value,
            )
        ).first()
        if holder is not None and holder != owner:
            problems.append(
                FieldProblem(f"/identifier/{index}", f"already identifies client {holder}")
            )
    if problems:
        raise Conflict("another client already has this identifier", problems)
