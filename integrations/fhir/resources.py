"""Tandem's rows as FHIR R4 resources (JSON).

Each function takes the stored rows and returns the resource as a dict; the
tests check every shape with fhir.resources' R4B models, so nothing is
validated again on the way out (that is the hot path's cost, see the README).

- Patient: a client, with the practice system's identifiers.
- Group: a couple, `type` person, its two partners as members.
- Questionnaire: an instrument as stored; its `id` is the clinic's row id.
- QuestionnaireResponse: the answers as stored, with the canonical
  (`url|version`) they answered, the client, and the plan they were homework of.
- Observation: one scale score, `derivedFrom` the response; `code` is the
  scale, in the instrument's own code system (its canonical URL), after the
  codes (LOINC, say) of the item an imported instrument calculates it in; the
  band is the interpretation.
- Task: an assignment, by the SDC convention for completing a questionnaire:
  `code` complete-questionnaire, the Questionnaire canonical as input (and as
  `focus`), the response as output; the client is `for` and `owner`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from schemas import Assignment, Client, ClientIdentifier, Couple, Instrument, Response, Score

SDC_TEMP = "http://hl7.org/fhir/uv/sdc/CodeSystem/temp"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
BAND_SYSTEM = "https://tandem.dev/fhir/CodeSystem/score-band"
UCUM = "http://unitsofmeasure.org"


def _meta(updated: datetime, version: int = 1) -> dict[str, Any]:
    """`versionId` counts the row's changes (1 when made); immutable rows stay at 1."""
    return {"versionId": str(version), "lastUpdated": updated.isoformat()}


def canonical(instrument: Instrument) -> str:
    return f"{instrument.url}|{instrument.version}"


def patient(client: Client, identifiers: Sequence[ClientIdentifier]) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": str(client.id),
        "meta": _meta(client.updated_at, client.version),
        "identifier": [{"system": i.system, "value": i.value} for i in identifiers],
    }
    if client.name:
        resource["name"] = [{"text": client.name}]
    if client.birth_date:
        resource["birthDate"] = client.birth_date.isoformat()
    return resource


def group(couple: Couple, members: Sequence[uuid.UUID]) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Group",
        "id": str(couple.id),
        "meta": _meta(couple.updated_at, couple.version),
        "type": "person",
        "actual": True,
        "quantity": len(members),
        "member": [{"entity": {"reference": f"Patient/{member}"}} for member in members],
    }
    if couple.identifier_system and couple.identifier_value:
        resource["identifier"] = [
            {"system": couple.identifier_system, "value": couple.identifier_value}
        ]
    return resource


def questionnaire(instrument: Instrument) -> dict[str, Any]:
    resource = dict(instrument.questionnaire)
    resource["id"] = str(instrument.id)
    resource["meta"] = {**resource.get("meta", {}), **_meta(instrument.created_at)}
    return resource


def questionnaire_response(
    response: Response, instrument: Instrument, plan_id: uuid.UUID | None
) -> dict[str, Any]:
    resource = dict(response.questionnaire_response)
    resource["id"] = str(response.id)
    resource["meta"] = _meta(response.updated_at, response.version)
    resource["questionnaire"] = canonical(instrument)
    resource["status"] = response.status
    resource["subject"] = {"reference": f"Patient/{response.client_id}"}
    if response.authored is not None:
        resource["authored"] = response.authored.isoformat()
    if plan_id is not None:
        resource["basedOn"] = [{"reference": f"CarePlan/{plan_id}"}]
    else:
        resource.pop("basedOn", None)
    return resource


def observation(score: Score, response: Response, instrument: Instrument) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": str(score.id),
        "meta": _meta(score.created_at),
        "status": "amended" if response.status == "amended" else "final",
        "category": [
            {"coding": [{"system": OBSERVATION_CATEGORY, "code": "survey", "display": "Survey"}]}
        ],
        "code": {
            "coding": [
                *_item_codes(instrument, score.scale),
                {"system": instrument.url, "code": score.scale, "display": score.label},
            ],
            "text": score.label,
        },
        "subject": {"reference": f"Patient/{score.client_id}"},
        "derivedFrom": [{"reference": f"QuestionnaireResponse/{score.response_id}"}],
    }
    if score.min is not None and score.max is not None:
        resource["referenceRange"] = [{"low": {"value": score.min}, "high": {"value": score.max}}]
    if response.authored is not None:
        resource["effectiveDateTime"] = response.authored.isoformat()
    if score.value is None:
        resource["dataAbsentReason"] = {
            "coding": [{"system": DATA_ABSENT, "code": "not-performed"}],
            "text": score.unscored_reason or "not enough items answered to score",
        }
    else:
        resource["valueQuantity"] = {
            "value": score.value,
            "unit": "score",
            "system": UCUM,
            "code": "{score}",
        }
    if score.band is not None:
        interpretation: dict[str, Any] = {
            "coding": [{"system": BAND_SYSTEM, "code": f"{score.scale}.{score.band}"}]
        }
        if score.interpretation:
            interpretation["text"] = score.interpretation
        resource["interpretation"] = [interpretation]
    return resource


def _item_codes(instrument: Instrument, link_id: str) -> list[dict[str, Any]]:
    """The codes (LOINC, say) the Questionnaire gives the item a score was calculated in."""

    def find(items: Any) -> dict[str, Any] | None:
        for item in items or []:
            if item.get("linkId") == link_id:
                return item
            found = find(item.get("item"))
            if found is not None:
                return found
        return None

    item = find((instrument.questionnaire or {}).get("item"))
    if item is None:
        return []
    return [
        {k: v for k, v in coding.items() if k in ("system", "code", "display")}
        for coding in item.get("code") or []
        if isinstance(coding, dict) and coding.get("system") and coding.get("code")
    ]


def task(
    assignment: Assignment, instrument: Instrument, response_id: uuid.UUID | None
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Task",
        "id": str(assignment.id),
        "meta": _meta(assignment.updated_at, assignment.version),
        "status": str(assignment.status),
        "intent": "order",
        "code": {"coding": [{"system": SDC_TEMP, "code": "complete-questionnaire"}]},
        "for": {"reference": f"Patient/{assignment.client_id}"},
        "owner": {"reference": f"Patient/{assignment.client_id}"},
        "focus": {"reference": f"Questionnaire/{instrument.id}"},
        "authoredOn": assignment.created_at.isoformat(),
        "lastModified": assignment.updated_at.isoformat(),
        "input": [
            {
                "type": {"coding": [{"system": SDC_TEMP, "code": "questionnaire"}]},
                "valueCanonical": canonical(instrument),
            }
        ],
    }
    if assignment.plan_id is not None:
        resource["basedOn"] = [{"reference": f"CarePlan/{assignment.plan_id}"}]
    if assignment.due is not None:
        resource["restriction"] = {"period": {"end": assignment.due.isoformat()}}
    if assignment.note:
        resource["note"] = [{"text": assignment.note}]
    if response_id is not None:
        resource["output"] = [
            {
                "type": {"coding": [{"system": SDC_TEMP, "code": "questionnaire-response"}]},
                "valueReference": {"reference": f"QuestionnaireResponse/{response_id}"},
            }
        ]
    return resource
