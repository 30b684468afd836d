"""The CapabilityStatement: exactly what /fhir implements, written from the same lists the
server runs on (`SEARCH_PARAMETERS`, `INTERACTIONS`), so it cannot claim more."""

from __future__ import annotations

from typing import Any

from integrations.fhir.ndjson import EXPORT_TYPES
from integrations.fhir.ndjson import OPERATIONS as BULK_DATA
from integrations.fhir.search import RESULT_PARAMETERS, SEARCH_PARAMETERS

FHIR_VERSION = "4.0.1"

INTERACTIONS: dict[str, tuple[str, ...]] = {
    "Patient": ("read", "vread", "update", "create", "search-type"),
    "Group": ("read", "vread", "create", "search-type"),
    "Questionnaire": ("read", "vread", "create", "search-type"),
    "QuestionnaireResponse": ("read", "vread", "create", "search-type"),
    "Observation": ("read", "vread", "search-type"),
    "Task": ("read", "vread", "search-type"),
    "CarePlan": ("read", "vread", "search-type"),
}
CONDITIONAL_CREATE = frozenset({"Patient", "Group"})
OPERATIONS: dict[str, tuple[tuple[str, str], ...]] = {
    "Patient": (
        ("export", BULK_DATA["patient-export"]),
        ("everything", "http://hl7.org/fhir/OperationDefinition/Patient-everything"),
    ),
    "Group": (("export", BULK_DATA["group-export"]),),
    "QuestionnaireResponse": (
        ("validate", "http://hl7.org/fhir/OperationDefinition/Resource-validate"),
    ),
}
"""Operations on a resource type: (name, the canonical of its OperationDefinition)."""
SYSTEM_OPERATIONS: tuple[tuple[str, str], ...] = (("export", BULK_DATA["export"]),)
"""Operations on the whole server (`[base]/$name`)."""

_PROFILES = {
    "Questionnaire": "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire",
}


def capability_statement(version: str, base_url: str) -> dict[str, Any]:
    """What this server does, as a FHIR R4 CapabilityStatement (kind instance)."""
    resources = []
    for kind, interactions in INTERACTIONS.items():
        resource: dict[str, Any] = {
            "type": kind,
            "interaction": [{"code": code} for code in interactions],
            "versioning": "versioned-update" if "update" in interactions else "versioned",
            "readHistory": False,
            "updateCreate": False,
            "conditionalCreate": kind in CONDITIONAL_CREATE,
            "conditionalUpdate": False,
            "conditionalDelete": "not-supported",
        }
        if kind in OPERATIONS:
            resource["operation"] = [
                {"name": name, "definition": definition} for name, definition in OPERATIONS[kind]
            ]
        if kind in _PROFILES:
            resource["supportedProfile"] = [_PROFILES[kind]]
        search = SEARCH_PARAMETERS.get(kind)
        if search is not None and "search-type" in interactions:
            resource["searchInclude"] = list(search.includes)
            resource["searchParam"] = [
                {
                    "name": parameter.name,
                    "definition": _definition(kind, parameter.name),
                    "type": "reference" if parameter.canonical else parameter.type,
                    "documentation": parameter.documentation,
                }
                for parameter in search.parameters.values()
            ]
        resources.append(resource)
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-28",
        "publisher": "Tandem",
        "kind": "instance",
        "instantiates": ["http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"],
        "software": {"name": "Tandem", "version": version},
        "implementation": {"description": "Tandem's FHIR R4 face", "url": base_url},
        "fhirVersion": FHIR_VERSION,
        "format": ["json"],
        "rest": [
            {
                "mode": "server",
                "documentation": (
                    "Searches take _count (at most 200), _sort (dates; - for descending), "
                    "_summary=count and _include where listed; paging follows the Bundle's "
                    "next link. Unknown parameters are ignored and reported in an "
                    "OperationOutcome entry; send Prefer: handling=strict to refuse them. "
                    f"Result parameters: {', '.join(sorted(RESULT_PARAMETERS - {'_cursor'}))}. "
                    "Bulk Data $export (the clinic, Patient, Group/[id]) needs Prefer: "
                    f"respond-async and takes _type ({', '.join(EXPORT_TYPES)}), _since and "
                    "_outputFormat (ndjson); its status URL answers 202 with X-Progress, then "
                    "the manifest. Patient/[id]/$everything takes _type and _since."
                ),
                "security": {
                    "service": [
                        {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/"
                                    "restful-security-service",
                                    "code": "SMART-on-FHIR",
                                }
                            ]
                        }
                    ],
                    "description": "OAuth2 client credentials at /oauth/token; SMART v2 "
                    "system scopes (system/Patient.rs ...).",
                },
                "resource": resources,
                "operation": [
                    {"name": name, "definition": definition}
                    for name, definition in SYSTEM_OPERATIONS
                ],
            }
        ],
    }


def _definition(kind: str, name: str) -> str:
    if name.startswith("_"):
        return f"http://hl7.org/fhir/SearchParameter/Resource-{name[1:].lower()}"
    standard = {
        ("Patient", "identifier"): "Patient-identifier",
        ("Patient", "name"): "Patient-name",
        ("Patient", "birthdate"): "individual-birthdate",
        ("Group", "identifier"): "Group-identifier",
        ("Group", "member"): "Group-member",
        ("Questionnaire", "url"): "Questionnaire-url",
        ("Questionnaire", "version"): "Questionnaire-version",
        ("Questionnaire", "title"): "Questionnaire-title",
        ("Observation", "patient"): "clinical-patient",
        ("Observation", "code"): "clinical-code",
        ("Observation", "date"): "clinical-date",
        ("Task", "patient"): "Task-patient",
        ("Task", "authored-on"): "Task-authored-on",
        ("Task", "based-on"): "Task-based-on",
    }.get((kind, name), f"{kind}-{name}")
    return f"http://hl7.org/fhir/SearchParameter/{standard}"
