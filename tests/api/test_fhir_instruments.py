"""A clinic imports a standard instrument over FHIR, responses to it are validated against the
exact version they name and scored, and $validate says what is wrong without writing."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.api.test_fhir_search import FHIR, bundle_of, valid
from tests.api.test_fhir_writes import created, outcome, patient
from tests.assessments.test_third_party_questionnaires import (
    FREQUENCY,
    LOINC,
    PHQ9_ITEMS,
    load,
)

URL = "https://tests.tandem.dev/Questionnaire/phq-9"
SCORING = "https://tandem.dev/fhir/StructureDefinition/scoring-spec"


def band(code: str, low: int, high: int) -> dict[str, Any]:
    return {
        "code": code,
        "label": code,
        "interpretation": f"{code} symptoms",
        "ge": low,
        "le": high,
    }


SPEC = {
    "scales": [
        {
            "code": "total",
            "label": "Total",
            "description": "Sum of the nine item ordinals",
            "method": "sum",
            "items": PHQ9_ITEMS,
            "min_answered": "1",
            "decimals": 0,
            "direction": "lower-is-better",
            "bands": [
                band("minimal", 0, 4), band("mild", 5, 9), band("moderate", 10, 14),
                band("moderately-severe", 15, 19), band("severe", 20, 27),
            ],
        }
    ]
}  # fmt: skip


def phq9(version: str = "1", spec: dict[str, Any] | None = SPEC) -> dict[str, Any]:
    """The LHC-Forms PHQ-9 scored with weight(), with the url and version a clinic gives it
    (and, here, Tandem's scoring spec)."""
    questionnaire = load("phq9-with-the-weight-function.json") | {"url": URL, "version": version}
    if spec is not None:
        questionnaire["extension"] = [
            *questionnaire.get("extension", []),
            {"url": SCORING, "valueString": json.dumps(spec)},
        ]
    return questionnaire


def answers(ordinals: list[int], version: str = "1", **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{URL}|{version}",
        "status": "completed",
        "item": [
            {"linkId": link, "answer": [{"valueCoding": {"system": LOINC, "code": FREQUENCY[o]}}]}
            for link, o in zip(PHQ9_ITEMS, ordinals, strict=True)
        ],
        **extra,
    }


def test_import_is_idempotent_and_versions_never_change(integrator):
    first = integrator.post("/fhir/Questionnaire", json=phq9())
    imported = created(first)
    assert (imported["url"], imported["version"]) == (URL, "1")
    assert first.headers["location"].endswith(f"/Questionnaire/{imported['id']}/_history/1")
    assert created(integrator.post("/fhir/Questionnaire", json=phq9()), 200)["id"] == imported["id"]
    changed = phq9() | {"title": "Something else"}
    issues = outcome(integrator.post("/fhir/Questionnaire", json=changed), 409)
    assert issues[-1]["expression"] == ["Questionnaire.version"]
    unversioned = {k: v for k, v in phq9().items() if k != "version"}
    outcome(integrator.post("/fhir/Questionnaire", json=unversioned), 422)
    found = bundle_of(integrator.get("/fhir/Questionnaire", params={"url": URL}))
    assert [e["resource"]["id"] for e in found["entry"]] == [imported["id"]]
    listed = integrator.get("/v1/instruments").json()
    assert f"{URL}|1" in [i["canonical"] for i in listed]


def test_a_questionnaire_that_is_not_valid_r4_is_refused(integrator):
    # LHC-Forms' other PHQ-9 names its variables q1_value ...: R4's Expression.name is an id,
    # which has no underscore. What Tandem stores it serves again, so it takes valid R4 only.
    invalid = load("phq9.json") | {"url": URL, "version": "1"}
    issues = outcome(integrator.post("/fhir/Questionnaire", json=invalid), 400)
    assert "Questionnaire.item[9].extension[3].valueExpression.name" in [
        e for issue in issues for e in issue.get("expression", [])
    ]


def test_a_spec_that_does_not_fit_is_refused(integrator):
    wrong = copy.deepcopy(SPEC)
    wrong["scales"][0]["items"] = ["/no-such-item"]
    issues = outcome(integrator.post("/fhir/Questionnaire", json=phq9(spec=wrong)), 422)
    assert any("/no-such-item" in issue["diagnostics"] for issue in issues)
    bad_json = phq9(spec=None)
    bad_json["extension"] = [{"url": SCORING, "valueString": "{not json"}]
    outcome(integrator.post("/fhir/Questionnaire", json=bad_json), 422)


@pytest.mark.parametrize(
    ("ordinals", "total", "band_code"),
    [
        ([0] * 9, 0, "minimal"),  # nothing at all: 0
        ([1, 1, 1, 1, 1, 0, 0, 0, 0], 5, "mild"),  # 5 x 1 = 5, bottom of mild
        ([3, 3, 3, 3, 3, 2, 2, 0, 0], 19, "moderately-severe"),  # 5 x 3 + 2 x 2 = 19
    ],
)
def test_responses_to_an_imported_instrument_are_scored(integrator, ordinals, total, band_code):
    created(integrator.post("/fhir/Questionnaire", json=phq9()))
    client = created(integrator.post("/fhir/Patient", json=patient("PHQ-1")))
    subject = {"reference": f"Patient/{client['id']}"}
    recorded = created(
        integrator.post("/fhir/QuestionnaireResponse", json=answers(ordinals, subject=subject))
    )
    scores = bundle_of(integrator.get("/fhir/Observation", params={"derived-from": recorded["id"]}))
    by_code = {e["resource"]["code"]["coding"][-1]["code"]: e["resource"] for e in scores["entry"]}
    # Two scores: the Tandem spec's total (with its band), and the total the Questionnaire
    # calculates itself (SDC: the weight() sum in item /44261-6), both the sum of the ordinals
    assert set(by_code) == {"total", "/44261-6"}
    score = by_code["total"]
    assert score["code"]["coding"][0]["system"] == URL
    assert score["valueQuantity"]["value"] == total
    assert score["interpretation"][0]["coding"][0]["code"] == f"total.{band_code}"
    calculated = by_code["/44261-6"]
    assert calculated["valueQuantity"]["value"] == total
    assert calculated["code"]["coding"][0] == {
        "system": LOINC, "code": "44261-6", "display": calculated["code"]["coding"][0]["display"]
    }  # fmt: skip
    assert "referenceRange" not in calculated  # SDC alone does not say the range


def test_an_imported_instrument_scores_itself_and_carried_totals_are_not_trusted(integrator):
    created(integrator.post("/fhir/Questionnaire", json=phq9(spec=None)))
    client = created(integrator.post("/fhir/Patient", json=patient("PHQ-4")))
    subject = {"reference": f"Patient/{client['id']}"}
    document = answers([3, 2, 1, 0, 0, 0, 0, 0, 1], subject=subject)
    document["item"].append({"linkId": "/44261-6", "answer": [{"valueDecimal": 27}]})  # forged
    recorded = created(integrator.post("/fhir/QuestionnaireResponse", json=document))
    # weight() of the answers: 3 + 2 + 1 + 0 + 0 + 0 + 0 + 0 + 1 = 7, not the 27 it carried
    stored = {i["linkId"]: i for i in recorded["item"]}
    assert stored["/44261-6"]["answer"] == [{"valueDecimal": 7}]
    [score] = [
        e["resource"]
        for e in bundle_of(
            integrator.get("/fhir/Observation", params={"derived-from": recorded["id"]})
        )["entry"]
    ]
    assert score["valueQuantity"]["value"] == 7
    assert score["code"]["coding"][0]["code"] == "44261-6"
    loinc = bundle_of(integrator.get("/fhir/Observation", params={"code": f"{URL}|/44261-6"}))
    assert loinc["total"] == 1


def test_responses_are_held_to_the_version_they_name(integrator):
    created(integrator.post("/fhir/Questionnaire", json=phq9("1")))
    # version 2 makes the difficulty item (/69722-7) required
    second = phq9("2")
    for item in second["item"]:
        if item["linkId"] == "/69722-7":
            item["required"] = True
    created(integrator.post("/fhir/Questionnaire", json=second))
    client = created(integrator.post("/fhir/Patient", json=patient("PHQ-2")))
    subject = {"reference": f"Patient/{client['id']}"}
    created(
        integrator.post("/fhir/QuestionnaireResponse", json=answers([1] * 9, "1", subject=subject))
    )
    refused = integrator.post(
        "/fhir/QuestionnaireResponse", json=answers([1] * 9, "2", subject=subject)
    )
    [_, missing] = outcome(refused, 422)
    assert missing["diagnostics"] == "item '/69722-7' is required"
    assert missing["expression"] == ["QuestionnaireResponse.item"]


def test_validate_says_what_is_wrong_and_writes_nothing(integrator):
    created(integrator.post("/fhir/Questionnaire", json=phq9()))
    good = integrator.post("/fhir/QuestionnaireResponse/$validate", json=answers([2] * 9))
    assert good.status_code == 200 and good.headers["content-type"].startswith(FHIR)
    [issue] = valid(good.json())["issue"]
    assert (issue["severity"], issue["code"]) == ("information", "informational")

    wrong = answers([2] * 9)
    wrong["item"][3]["answer"] = [{"valueCoding": {"system": LOINC, "code": "LA-nonsense"}}]
    wrong["item"][5]["answer"] = [{"valueString": "often"}]
    wrapped = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": wrong}]}
    checked = valid(integrator.post("/fhir/QuestionnaireResponse/$validate", json=wrapped).json())
    places = [e for issue in checked["issue"] for e in issue.get("expression", [])]
    assert "QuestionnaireResponse.item[3].answer[0].valueCoding" in places
    assert "QuestionnaireResponse.item[5].answer[0].valueString" in places
    assert all(issue["severity"] == "error" for issue in checked["issue"])
    assert {i["details"]["coding"][0]["code"] for i in checked["issue"]} >= {"not-an-option"}

    unknown = answers([0] * 9, version="7")
    [missing] = valid(
        integrator.post("/fhir/QuestionnaireResponse/$validate", json=unknown).json()
    )["issue"]
    assert missing["expression"] == ["QuestionnaireResponse.questionnaire"]
    counted = bundle_of(integrator.get("/fhir/QuestionnaireResponse", params={"_summary": "count"}))
    assert counted["total"] == 0


def test_validate_a_stored_response(integrator):
    created(integrator.post("/fhir/Questionnaire", json=phq9()))
    client = created(integrator.post("/fhir/Patient", json=patient("PHQ-3")))
    subject = {"reference": f"Patient/{client['id']}"}
    recorded = created(
        integrator.post("/fhir/QuestionnaireResponse", json=answers([1] * 9, subject=subject))
    )
    again = integrator.post(f"/fhir/QuestionnaireResponse/{recorded['id']}/$validate")
    assert valid(again.json())["issue"][0]["severity"] == "information"
    outcome(integrator.post("/fhir/QuestionnaireResponse/not-there/$validate"), 404)
