"""Recording a client's QuestionnaireResponse: validated, scored, and stored with its scores.

Every way answers arrive (the portal, `/v1`, `/fhir`, entry from paper) ends
here, so a response is checked and scored the same way whatever its route.
Nothing is written unless everything is valid: the rows are added to the
caller's session together and the caller's single commit lands them.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

import assessments
from api.errors import FieldProblem, InvalidInput, NotFound
from api.services.instruments import clinical_definition
from schemas import Client, Instrument, Response, ResponseStatus, Score
from schemas.base import utcnow

RECORDABLE = frozenset(
    {ResponseStatus.IN_PROGRESS, ResponseStatus.COMPLETED, ResponseStatus.AMENDED}
)


@dataclass(frozen=True)
class RecordedResponse:
    response: Response
    scores: list[Score]


def record_response(
    session: Session,
    *,
    client_id: uuid.UUID,
    instrument: Instrument,
    questionnaire_response: dict[str, Any],
    assignment_id: uuid.UUID | None = None,
    replaces: Response | None = None,
) -> RecordedResponse:
    """Validate, score (when whole) and add one response and its scores to `session`.

    Flags (the safety flag) are raised whatever the status, so a yes saved in an
    unfinished check-in reaches the counsellor too.

    Raises `InvalidInput` listing every problem (each with a JSON pointer into
    the response) and `NotFound` for a client outside the session's clinic.
    A correction of a completed response has status `amended` and names the
    response it `replaces`; the original stays as it was.
    """
    client = session.get(Client, client_id)
    if client is None:
        raise NotFound(f"no client {client_id} in this clinic")
    definition = clinical_definition(instrument)
    document = copy.deepcopy(questionnaire_response)
    problems = _recording_problems(document, client, instrument.id, replaces)

    scored: assessments.ScoredResponse | None = None
    status = document.get("status") if isinstance(document, dict) else None
    if status in (ResponseStatus.COMPLETED, ResponseStatus.AMENDED):
        try:
            scored = assessments.score_response(definition, document)
        except assessments.InvalidResponse as invalid:
            problems.extend(invalid.problems)
    else:
        problems.extend(assessments.validate_response(definition.definition, document))
    authored = _authored(document, problems)
    if problems:
        raise InvalidInput(
            f"the response has {len(problems)} problem(s)",
            [FieldProblem(p.location, p.message, p.code) for p in problems],
        )

    flags = scored.flags if scored else assessments.raise_flags(definition, document)
    response = Response(
        client_id=client.id,
        assignment_id=assignment_id,
        instrument_id=instrument.id,
        status=ResponseStatus(status),
        authored=authored,
        questionnaire_response=document,
        flags=[asdict(flag) for flag in flags],
        replaces_id=replaces.id if replaces else None,
    )
    document["id"] = str(response.id)
    document["subject"] = {"reference": f"Patient/{client.id}"}
    document["authored"] = authored.isoformat()
    scores = [
        Score(
            response_id=response.id,
            client_id=client.id,
            scale=score.scale,
            label=score.label,
            value=score.value,
            min=score.min,
            max=score.max,
            band=score.band,
            interpretation=score.interpretation,
            items_used=list(score.items_used),
            unscored_reason=score.unscored_reason,
        )
        for score in (scored.scores if scored else ())
    ]
    session.add(response)
    session.add_all(scores)
    session.flush()
    return RecordedResponse(response=response, scores=scores)


def _recording_problems(
    document: Any, client: Client, instrument_id: uuid.UUID, replaces: Response | None
) -> list[assessments.Problem]:
    if not isinstance(document, dict):
        return [assessments.Problem("invalid-structure", "", "the response must be a JSON object")]
    problems = []
    status = document.get("status")
    if isinstance(status, str) and status in set(ResponseStatus) and status not in RECORDABLE:
        problems.append(
            assessments.Problem(
                "invalid-status",
                "/status",
                f"a response with status '{status}' cannot be recorded; send in-progress, "
                "completed, or amended",
            )
        )
    subject = document.get("subject")
    expected = f"Patient/{client.id}"
    if subject is not None and (
        not isinstance(subject, dict) or subject.get("reference") != expected
    ):
        problems.append(
            assessments.Problem(
                "subject-mismatch", "/subject", f"subject must be {expected} or left out"
            )
        )
    if status == ResponseStatus.AMENDED:
        if replaces is None:
            problems.append(
                assessments.Problem(
                    "invalid-status", "/status", "an amended response must name the one it replaces"
                )
            )
        elif (
            replaces.client_id != client.id
            or replaces.instrument_id != instrument_id
            or replaces.status not in (ResponseStatus.COMPLETED, ResponseStatus.AMENDED)
        ):
            problems.append(
                assessments.Problem(
                    "invalid-status",
                    "/status",
                    "only a completed or amended response of this client to this instrument "
                    "can be amended",
                )
            )
    elif replaces is not None:
        problems.append(
            assessments.Problem(
                "invalid-status", "/status", "only an amended response replaces another"
            )
        )
    return problems


def _authored(document: Any, problems: list[assessments.Problem]) -> datetime:
    raw = document.get("authored") if isinstance(document, dict) else None
    if raw is None:
        return utcnow()
    try:
        authored = datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        authored = None
    if authored is None or authored.tzinfo is None or len(raw) < len("2026-01-01T00:00:00Z"):
        problems.append(
            assessments.Problem(
                "invalid-structure",
                "/authored",
                "authored must be a full date and time with a time zone, e.g. "
                "2026-11-22T09:30:00+00:00",
            )
        )
        return utcnow()
    return authored
