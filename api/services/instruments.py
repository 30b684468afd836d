"""The instruments a clinic holds, and turning a stored one into its clinical definition."""

from __future__ import annotations

import json
import re
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from threading import Lock
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlalchemy.orm import defer
from sqlmodel import Session, select

import assessments
from api.errors import Conflict, FieldProblem, InvalidInput, NotFound
from api.persistence.connection import ClinicConnection
from api.persistence.tenancy import CLINIC_PARAMETER, across_clinics, acting_for, scoped
from schemas import Clinic, Instrument, InstrumentSource
from schemas.instrument import InstrumentDetail, InstrumentSummary, ScaleInfo

_instrument = Instrument.__table__.c  # type: ignore[attr-defined]


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


def _without_documents() -> Any:
    """Instrument rows whose Questionnaire and scoring spec load only when read:
    built-ins are described and scored from the package."""
    return select(Instrument).options(defer(Instrument.questionnaire), defer(Instrument.scoring))


def resolve_instrument(session: Session, reference: str) -> Instrument:
    """An instrument by slug, canonical url or `url|version`; without a version, the newest."""
    base, _, version = reference.partition("|")
    statement = _without_documents().where((Instrument.slug == base) | (Instrument.url == base))
    if version:
        statement = statement.where(Instrument.version == version)
    rows = sorted(session.exec(statement), key=lambda row: assessments.version_key(row.version))
    if not rows:
        raise NotFound(f"no instrument '{reference}' in this clinic")
    return rows[-1]


@dataclass(frozen=True)
class InstrumentKey:
    """What identifies a stored instrument version without its (large) documents."""

    id: uuid.UUID
    url: str
    version: str
    source: InstrumentSource

    @classmethod
    def of(cls, row: Instrument) -> InstrumentKey:
        return cls(row.id, row.url, row.version, row.source)

    @classmethod
    def of_columns(cls, row: Any) -> InstrumentKey:
        """From a selected row carrying instrument_id, url, version and source."""
        return cls(row.instrument_id, row.url, row.version, InstrumentSource(row.source))


def clinical_definition(session: Session, key: InstrumentKey) -> assessments.Instrument:
    """The validated, scorable form of a stored instrument.

    Built-ins come from the package, where every released version stays
    unchanged (tests/assessments/test_catalogue.py holds them to that), so
    the hot path never parses a stored document. Imported ones are read from
    their row once and cached by id: rows are never edited.
    """
    known = _known(key)
    if known is not None:
        return known
    documents = session.exec(
        select(Instrument.questionnaire, Instrument.scoring).where(Instrument.id == key.id)
    ).one()
    return _remember(key, documents[0], documents[1])


_DOCUMENTS = scoped(
    sa_select(_instrument.questionnaire, _instrument.scoring).where(
        _instrument.clinic_id == bindparam(CLINIC_PARAMETER), _instrument.id == bindparam("id")
    )
)


async def clinical_definition_of(
    connection: ClinicConnection, key: InstrumentKey
) -> assessments.Instrument:
    """`clinical_definition`, read through a clinic connection."""
    known = _known(key)
    if known is not None:
        return known
    documents = (await connection.execute(_DOCUMENTS, {"id": key.id})).one()
    return _remember(key, documents[0], documents[1])


def _known(key: InstrumentKey) -> assessments.Instrument | None:
    if key.source == InstrumentSource.BUILTIN:
        return assessments.load_builtin(f"{key.url}|{key.version}")
    with _imported_lock:
        cached = _imported.get(key.id)
        if cached is not None:
            _imported.move_to_end(key.id)
        return cached


def _remember(key: InstrumentKey, questionnaire: Any, scoring: Any) -> assessments.Instrument:
    definition = assessments.Instrument.from_documents(questionnaire, scoring or {})
    with _imported_lock:
        _imported[key.id] = definition
        while len(_imported) > _IMPORTED_CACHE_SIZE:
            _imported.popitem(last=False)
    return definition


_IMPORTED_CACHE_SIZE = 256
_imported: OrderedDict[uuid.UUID, assessments.Instrument] = OrderedDict()
_imported_lock = Lock()


def list_instruments(session: Session) -> list[InstrumentSummary]:
    """Every instrument version the clinic holds, by slug then version."""
    rows = sorted(
        session.exec(_without_documents()),
        key=lambda row: (row.slug, assessments.version_key(row.version)),
    )
    return [_summary(session, row) for row in rows]


def instrument_detail(session: Session, reference: str) -> InstrumentDetail:
    row = resolve_instrument(session, reference)
    return InstrumentDetail(**_summary(session, row).model_dump(), questionnaire=row.questionnaire)


def _summary(session: Session, row: Instrument) -> InstrumentSummary:
    definition = clinical_definition(session, InstrumentKey.of(row))
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


SCORING_EXTENSION = "https://tandem.dev/fhir/StructureDefinition/scoring-spec"


def import_instrument(session: Session, questionnaire: dict[str, Any]) -> tuple[Instrument, bool]:
    """A clinic's own instrument from a FHIR Questionnaire: stored now (True), or the same
    one already held (False).

    `url` and `version` are required: responses name the exact version they
    answer. The same `url|version` with other content is refused (409): a
    version never changes once responses may point at it. Tandem's scoring
    spec (bands, cut-offs, SD and reliability) may ride along as the
    extension `SCORING_EXTENSION` (its valueString holds the spec's JSON);
    without it the instrument has no Tandem scales.
    """
    document = {k: v for k, v in questionnaire.items() if k not in ("id", "meta")}
    url, version = document.get("url"), document.get("version")
    problems = [
        FieldProblem(f"/{name}", f"an imported Questionnaire needs its {name}")
        for name, value in (("url", url), ("version", version))
        if not isinstance(value, str) or not value
    ]
    if problems:
        raise InvalidInput("name the instrument's canonical: url and version", problems)
    spec = _spec_of(document)
    slug = spec["instrument"]["slug"]
    held = session.exec(
        select(Instrument).where(Instrument.url == url, Instrument.version == version)
    ).first()
    if held is not None:
        if held.questionnaire == document and (held.scoring or None) == spec:
            return held, False
        raise Conflict(
            f"this clinic already holds {url}|{version} with other content; "
            "a changed instrument is a new version",
            [FieldProblem("/version", "already used for other content")],
        )
    try:
        definition = assessments.Instrument.from_documents(document, spec)
    except assessments.InstrumentError as error:
        raise InvalidInput(
            "the Questionnaire cannot be used as an instrument",
            [FieldProblem(None, defect, "invalid-instrument") for defect in error.defects],
        ) from None
    row = Instrument(
        slug=slug,
        url=url,
        version=version,
        title=definition.title[:255],
        source=InstrumentSource.IMPORTED,
        questionnaire=document,
        scoring=spec,
    )
    session.add(row)
    session.flush()
    return row, True


def _spec_of(document: dict[str, Any]) -> dict[str, Any]:
    """The Tandem scoring spec the Questionnaire carries, or an empty one (no scales)."""
    name = str(document.get("name") or document["url"].rstrip("/").rsplit("/", 1)[-1])
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:100] or "imported"
    reference = {"slug": slug, "url": document["url"], "version": document["version"]}
    for index, extension in enumerate(document.get("extension") or []):
        if isinstance(extension, dict) and extension.get("url") == SCORING_EXTENSION:
            try:
                spec = json.loads(extension.get("valueString", ""))
            except ValueError:
                spec = None
            if not isinstance(spec, dict):
                raise InvalidInput(
                    "the scoring-spec extension holds the spec as JSON in valueString",
                    [FieldProblem(f"/extension/{index}/valueString", "not a JSON object")],
                )
            given = spec.get("instrument") or {}
            if (given.get("url"), given.get("version")) not in (
                (None, None),
                (reference["url"], reference["version"]),
            ):
                raise InvalidInput(
                    "the scoring spec names another instrument",
                    [
                        FieldProblem(
                            f"/extension/{index}/valueString",
                            "instrument must match url and version",
                        )
                    ],
                )
            return spec | {"instrument": {**reference, **given}}
    return {"instrument": reference, "scales": []}
