"""Built-in instruments are installed into every clinic, once, and resolved by reference."""

from __future__ import annotations

import pytest
from sqlmodel import select

import assessments
from api.errors import NotFound
from api.persistence import ClinicSession
from api.services.instruments import (
    InstrumentKey,
    clinical_definition,
    install_builtins,
    install_builtins_everywhere,
    resolve_instrument,
)
from schemas import Instrument, InstrumentSource
from tests.api.factories import clinic_session


def test_a_new_clinic_holds_every_built_in(session):
    rows = session.exec(select(Instrument)).all()
    assert sorted((r.slug, r.version, r.source) for r in rows) == [
        ("balance-assessment", "1.0.0", InstrumentSource.BUILTIN),
        ("homework-log", "1.0.0", InstrumentSource.BUILTIN),
        ("weekly-check-in", "1.0.0", InstrumentSource.BUILTIN),
    ]
    balance = next(r for r in rows if r.slug == "balance-assessment")
    assert balance.questionnaire == assessments.load_builtin("balance-assessment").questionnaire
    assert balance.title == "Closeness and independence: balance assessment"


def test_installing_again_adds_nothing(session):
    assert install_builtins(session) == []


def test_clinics_missing_a_built_in_get_it_after_an_upgrade(engine, session):
    balance = resolve_instrument(session, "balance-assessment")
    session.delete(balance)
    session.commit()
    with ClinicSession(engine) as system:
        added = install_builtins_everywhere(system)
        system.commit()
    assert added == 1
    assert resolve_instrument(session, "balance-assessment").version == "1.0.0"


@pytest.mark.parametrize(
    "reference",
    [
        "weekly-check-in",
        "https://tandem.dev/fhir/Questionnaire/weekly-check-in",
        "https://tandem.dev/fhir/Questionnaire/weekly-check-in|1.0.0",
    ],
)
def test_resolve_by_slug_url_or_canonical(session, reference):
    assert resolve_instrument(session, reference).slug == "weekly-check-in"


def test_resolve_prefers_the_newest_version(session):
    newer = Instrument(
        slug="weekly-check-in",
        url="https://tandem.dev/fhir/Questionnaire/weekly-check-in",
        version="1.10.0",  # numerically newer than 1.9 and 1.0.0, alphabetically older
        title="newer",
        source=InstrumentSource.IMPORTED,
        questionnaire={},
    )
    older = Instrument(**(newer.model_dump(exclude={"id", "clinic_id"}) | {"version": "1.9.0"}))
    session.add_all([newer, older])
    session.flush()
    assert resolve_instrument(session, "weekly-check-in").version == "1.10.0"
    assert resolve_instrument(session, "weekly-check-in|1.9.0").version == "1.9.0"


def test_unknown_or_other_clinics_instruments_are_not_found(engine, session):
    with pytest.raises(NotFound, match="no instrument 'phq-9' in this clinic"):
        resolve_instrument(session, "phq-9")
    with clinic_session(engine) as other:
        imported = Instrument(
            slug="own-form",
            url="https://other.example/Questionnaire/own",
            version="1",
            title="Own",
            source=InstrumentSource.IMPORTED,
            questionnaire={},
        )
        other.add(imported)
        other.commit()
    with pytest.raises(NotFound):
        resolve_instrument(session, "own-form")


def test_an_imported_instrument_with_a_spec_is_scorable(session):
    balance = assessments.load_builtin("balance-assessment")
    questionnaire = balance.questionnaire | {"url": "https://clinic.example/Q/balance"}
    spec = balance.scoring.model_dump(mode="json")
    spec["instrument"]["url"] = "https://clinic.example/Q/balance"
    row = Instrument(
        slug="balance-copy",
        url="https://clinic.example/Q/balance",
        version="1.0.0",
        title="Copy",
        source=InstrumentSource.IMPORTED,
        questionnaire=questionnaire,
        scoring=spec,
    )
    session.add(row)
    session.flush()
    definition = clinical_definition(session, InstrumentKey.of(row))
    assert definition.canonical == "https://clinic.example/Q/balance|1.0.0"
    assert clinical_definition(session, InstrumentKey.of(row)) is definition  # cached: never edited
