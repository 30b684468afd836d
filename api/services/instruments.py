"""The instruments a clinic holds, and turning a stored one into its clinical definition."""

from __future__ import annotations

import uuid
from collections import OrderedDict
from threading import Lock

from sqlalchemy.orm import defer
from sqlmodel import Session, select

import assessments
from api.errors import NotFound
from api.persistence.tenancy import across_clinics, acting_for
from schemas import Clinic, Instrument, InstrumentSource
from schemas.instrument import InstrumentDetail, InstrumentSummary, ScaleInfo


def install_builtins(session: Session) -> list[Instrument]:
    """Add every built-in instrument version the session's clinic does not hold yet."""
    held = {(row.url, row.version) for row in session.exec(select(Instrument))}
    added = []
    for builtin in assessments.builtin_instruments():
        if (builtin.url, builtin.version) in held:
            continue
        row = Instrument(
            slug=builtin.slug,
            url=builtin.url,
            version=builtin.version,
            title=builtin.title,
            source=InstrumentSource.BUILTIN,
            questionnaire=builtin.questionnaire,
            scoring=builtin.scoring.model_dump(mode="json", exclude_none=True),
        )
        session.add(row)
        added.append(row)
    return added


def install_builtins_everywhere(session: Session) -> int:
    """After an upgrade: give every clinic the built-in versions it lacks. Returns rows added."""
    with across_clinics(session):
        clinic_ids = list(session.exec(select(Clinic.id)))
    added = 0
    for clinic_id in clinic_ids:
        with acting_for(session, clinic_id):
            added += len(install_builtins(session))
    return added


def resolve_instrument(session: Session, reference: str) -> Instrument:
    """An instrument by slug, canonical url or `url|version`; without a version, the newest."""
    base, _, version = reference.partition("|")
    statement = select(Instrument).where((Instrument.slug == base) | (Instrument.url == base))
    if version:
        statement = statement.where(Instrument.version == version)
    rows = sorted(session.exec(statement), key=lambda row: assessments.version_key(row.version))
    if not rows:
        raise NotFound(f"no instrument '{reference}' in this clinic")
    return rows[-1]


def load_instrument(session: Session, instrument_id: uuid.UUID) -> Instrument:
    """An instrument row whose documents (Questionnaire, scoring) load only when read:
    built-ins are scored from the package, so the hot path never parses them."""
    row = session.get(
        Instrument,
        instrument_id,
        options=[defer(Instrument.questionnaire), defer(Instrument.scoring)],  # type: ignore[arg-type]
    )
    if row is None:
        raise NotFound(f"no instrument {instrument_id}")
    return row


def clinical_definition(row: Instrument) -> assessments.Instrument:
    """The validated, scorable form of a stored instrument.

    Built-ins come from the package, where every released version stays
    unchanged (tests/assessments/test_released.py holds them to that).
    Imported ones are read from the row and cached by id: rows are never edited.
    """
    if row.source == InstrumentSource.BUILTIN:
        return assessments.load_builtin(f"{row.url}|{row.version}")
    with _imported_lock:
        cached = _imported.get(row.id)
        if cached is not None:
            _imported.move_to_end(row.id)
            return cached
    definition = assessments.Instrument.from_documents(row.questionnaire, row.scoring or {})
    with _imported_lock:
        _imported[row.id] = definition
        while len(_imported) > _IMPORTED_CACHE_SIZE:
            _imported.popitem(last=False)
    return definition


_IMPORTED_CACHE_SIZE = 256
_imported: OrderedDict[uuid.UUID, assessments.Instrument] = OrderedDict()
_imported_lock = Lock()


def list_instruments(session: Session) -> list[InstrumentSummary]:
    """Every instrument version the clinic holds, by slug then version."""
    rows = sorted(
        session.exec(select(Instrument)),
        key=lambda row: (row.slug, assessments.version_key(row.version)),
    )
    return [_summary(row) for row in rows]


def instrument_detail(session: Session, reference: str) -> InstrumentDetail:
    row = resolve_instrument(session, reference)
    return InstrumentDetail(**_summary(row).model_dump(), questionnaire=row.questionnaire)


def _summary(row: Instrument) -> InstrumentSummary:
    definition = clinical_definition(row)
    return InstrumentSummary(
        slug=row.slug,
        url=row.url,
        version=row.version,
        canonical=f"{row.url}|{row.version}",
        title=row.title,
        source=row.source,
        scales=[
            ScaleInfo(
                code=scale.code,
                label=scale.label,
                min=float(definition.ranges[scale.code][0]),
                max=float(definition.ranges[scale.code][1]),
                direction=scale.direction,
            )
            for scale in definition.scoring.scales
        ],
    )
