"""Writing through the FHIR face: create, conditional create, update with If-Match, versions,
and QuestionnaireResponses that are validated, scored and complete Tasks like the portal."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.http import Integrator, access_token, new_clinic
from tests.api.test_fhir_search import BALANCE, FHIR, PM, bundle_of, valid
from tests.assessments.builders import STATEMENTS, balance_response

TASK = "https://tandem.dev/fhir/StructureDefinition/task"
REPLACES = "https://tandem.dev/fhir/StructureDefinition/replaces"


def patient(value: str, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "identifier": [{"system": PM, "value": value}], **extra}


def created(answer: Any, status: int = 201) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(FHIR)
    return valid(answer.json())


def outcome(answer: Any, status: int) -> list[dict[str, Any]]:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(FHIR)
    return valid(answer.json())["issue"]


def test_create_read_and_vread_a_patient(integrator):
    answer = integrator.post(
        "/fhir/Patient",
        json=patient("F-1", name=[{"given": ["Robin"], "family": "Ash"}], birthDate="1990-03-04"),
    )
    made = created(answer)
    assert answer.headers["etag"] == 'W/"1"'
    assert (
        answer.headers["location"] == f"http://127.0.0.1:8000/fhir/Patient/{made['id']}/_history/1"
    )
    assert made["name"] == [{"text": "Robin Ash"}]
    assert made["meta"]["versionId"] == "1"
    read = integrator.get(f"/fhir/Patient/{made['id']}")
    assert read.headers["etag"] == 'W/"1"'
    assert valid(read.json()) == made
    assert integrator.get(f"/fhir/Patient/{made['id']}/_history/1").json() == made
    outcome(integrator.get(f"/fhir/Patient/{made['id']}/_history/2"), 404)
    # the same client through /v1
    assert integrator.get(f"/v1/clients/{made['id']}").json()["birth_date"] == "1990-03-04"


def test_conditional_create_finds_instead_of_duplicating(integrator):
    condition = {"If-None-Exist": f"identifier={PM}|F-2"}
    first = created(integrator.post("/fhir/Patient", json=patient("F-2"), headers=condition))
    again = integrator.post("/fhir/Patient", json=patient("F-2"), headers=condition)
    assert created(again, 200)["id"] == first["id"]
    assert "location" not in again.headers
    assert (
        bundle_of(integrator.get("/fhir/Patient", params={"identifier": f"{PM}|F-2"}))["total"] == 1
    )
    # a condition that matches two is refused, and nothing is made
    for value in ("F-3", "F-4"):
        created(integrator.post("/fhir/Patient", json=patient(value, name=[{"text": "Lee Ash"}])))
    issues = outcome(
        integrator.post(
            "/fhir/Patient", json=patient("F-5"), headers={"If-None-Exist": "name=lee"}
        ),
        412,
    )
    assert "matches 2" in issues[0]["diagnostics"]
    assert bundle_of(integrator.get("/fhir/Patient", params={"identifier": "F-5"}))["total"] == 0
    outcome(
        integrator.post(
            "/fhir/Patient", json=patient("F-5"), headers={"If-None-Exist": "nickname=x"}
        ),
        400,
    )


def test_plain_create_with_a_known_identifier_is_a_conflict(integrator):
    first = created(integrator.post("/fhir/Patient", json=patient("F-6")))
    issues = outcome(integrator.post("/fhir/Patient", json=patient("F-6")), 409)
    assert issues[-1]["expression"] == ["Patient.identifier[0]"]
    assert first["id"] in issues[-1]["diagnostics"]


@pytest.mark.parametrize(
    ("body", "status", "where"),
    [
        (patient("F-7", birthDate="yesterday"), 400, "Patient.birthDate"),
        (patient("F-7", active="maybe"), 400, "Patient.active"),
        ({"resourceType": "Patient"}, 422, "Patient.identifier"),
        ({"resourceType": "Patient", "identifier": [{"value": "x"}]}, 422, "Patient.identifier[0]"),
        ({"resourceType": "Group"}, 400, "Patient.resourceType"),
    ],
)
def test_a_bad_patient_is_refused_naming_the_element(integrator, body, status, where):
    issues = outcome(integrator.post("/fhir/Patient", json=body), status)
    assert where in [e for issue in issues for e in issue.get("expression", [])]
    assert bundle_of(integrator.get("/fhir/Patient", params={"_summary": "count"}))["total"] == 0


def test_update_with_if_match(integrator):
    made = created(integrator.post("/fhir/Patient", json=patient("U-1", name=[{"text": "Sam"}])))
    path = f"/fhir/Patient/{made['id']}"
    changed = patient("U-1b", id=made["id"], name=[{"text": "Sam Birch"}])
    answer = integrator.http.put(
        path, json=changed, headers=integrator.headers | {"If-Match": 'W/"1"'}
    )
    updated = created(answer, 200)
    assert answer.headers["etag"] == 'W/"2"'
    assert (updated["meta"]["versionId"], updated["name"]) == ("2", [{"text": "Sam Birch"}])
    assert updated["identifier"] == [{"system": PM, "value": "U-1b"}]
    assert updated["meta"]["lastUpdated"] > made["meta"]["lastUpdated"]
    # a stale ETag: 412, and nothing changes
    stale = integrator.http.put(
        path,
        json=patient("U-1c", id=made["id"]),
        headers=integrator.headers | {"If-Match": 'W/"1"'},
    )
    assert "version 2" in outcome(stale, 412)[0]["diagnostics"]
    assert integrator.get(path).json() == updated
    # the id in the body must be the URL's; update does not create
    wrong = integrator.http.put(path, json=patient("U-1", id="other"), headers=integrator.headers)
    outcome(wrong, 400)
    nobody = "00000000-0000-4000-8000-000000000001"
    outcome(
        integrator.http.put(
            f"/fhir/Patient/{nobody}", json=patient("U-9", id=nobody), headers=integrator.headers
        ),
        404,
    )
    bad_tag = integrator.http.put(
        path, json=changed, headers=integrator.headers | {"If-Match": "two"}
    )
    assert outcome(bad_tag, 400)[-1]["expression"] == ["If-Match"]


def test_create_a_group(integrator):
    first = created(integrator.post("/fhir/Patient", json=patient("G-1")))["id"]
    second = created(integrator.post("/fhir/Patient", json=patient("G-2")))["id"]
    group = {
        "resourceType": "Group",
        "type": "person",
        "actual": True,
        "identifier": [{"system": "https://pm.example/couples", "value": "K-1"}],
        "member": [{"entity": {"reference": f"Patient/{p}"}} for p in (first, second)],
    }
    made = created(integrator.post("/fhir/Group", json=group))
    assert [m["entity"]["reference"] for m in made["member"]] == [
        f"Patient/{first}", f"Patient/{second}"
    ]  # fmt: skip
    again = integrator.post(
        "/fhir/Group",
        json=group,
        headers={"If-None-Exist": "identifier=https://pm.example/couples|K-1"},
    )
    assert created(again, 200)["id"] == made["id"]
    assert integrator.get(f"/v1/couples/{made['id']}").json()["members"] == [first, second]
    alone = group | {"member": group["member"][:1], "identifier": []}
    outcome(integrator.post("/fhir/Group", json=alone), 422)


@pytest.fixture
def robin(integrator):
    return created(integrator.post("/fhir/Patient", json=patient("R-1", name=[{"text": "Robin"}])))


def answers(level: int, **extra: Any) -> dict[str, Any]:
    document = balance_response({lid: level for lid in STATEMENTS}, gap_now=3, gap_wanted=5)
    return {"resourceType": "QuestionnaireResponse", **document, **extra}


def test_a_response_for_a_task_completes_it_like_the_portal(integrator, robin):
    [assignment] = integrator.assign("balance-assessment", client_id=robin["id"])
    task_path = f"/fhir/Task/{assignment['id']}"
    before = integrator.get(task_path)
    assert valid(before.json())["status"] == "requested"
    document = answers(4, extension=[{"url": TASK, "valueReference": {"reference": task_path[6:]}}])
    answer = integrator.post("/fhir/QuestionnaireResponse", json=document)
    recorded = created(answer)
    assert recorded["status"] == "completed"
    assert answer.headers["location"].endswith(
        f"/QuestionnaireResponse/{recorded['id']}/_history/1"
    )
    after = integrator.get(task_path)
    task = valid(after.json())
    assert task["status"] == "completed"
    assert (
        task["output"][0]["valueReference"]["reference"]
        == f"QuestionnaireResponse/{recorded['id']}"
    )
    assert int(task["meta"]["versionId"]) == int(valid(before.json())["meta"]["versionId"]) + 1
    assert after.headers["etag"] == f'W/"{task["meta"]["versionId"]}"'
    # scored: closeness at level 4 everywhere is (4 x 4 + 2 x (6 - 4)) / 6 = 3.333...,
    # rescaled (3.333... - 1) / 4 x 100 = 58.3
    scores = bundle_of(
        integrator.get(
            "/fhir/Observation",
            params={"derived-from": recorded["id"], "code": f"{BALANCE}|closeness"},
        )
    )
    assert scores["entry"][0]["resource"]["valueQuantity"]["value"] == 58.3
    # a completed Task takes no second response
    outcome(integrator.post("/fhir/QuestionnaireResponse", json=document), 409)


def test_a_response_without_a_task_names_client_and_version(integrator, robin):
    subject = {"reference": f"Patient/{robin['id']}"}
    document = answers(2, subject=subject, questionnaire=f"{BALANCE}|1.0.0")
    recorded = created(integrator.post("/fhir/QuestionnaireResponse", json=document))
    assert recorded["subject"] == subject
    assert recorded["questionnaire"] == f"{BALANCE}|1.0.0"
    # closeness at level 2: (4 x 2 + 2 x (6 - 2)) / 6 = 16 / 6 = 2.666..., (2.666... - 1) / 4 x 100
    # = 41.666... -> 41.7
    closeness = bundle_of(
        integrator.get(
            "/fhir/Observation",
            params={"derived-from": recorded["id"], "code": f"{BALANCE}|closeness"},
        )
    )["entry"][0]["resource"]
    assert closeness["valueQuantity"]["value"] == 41.7

    unversioned = answers(2, subject=subject, questionnaire=BALANCE)
    issues = outcome(integrator.post("/fhir/QuestionnaireResponse", json=unversioned), 422)
    assert issues[-1]["expression"] == ["QuestionnaireResponse.questionnaire"]
    unknown = answers(2, subject=subject, questionnaire=f"{BALANCE}|9.9.9")
    outcome(integrator.post("/fhir/QuestionnaireResponse", json=unknown), 422)
    nobody = answers(2, subject={"reference": "Patient/x"}, questionnaire=f"{BALANCE}|1.0.0")
    outcome(integrator.post("/fhir/QuestionnaireResponse", json=nobody), 422)
    # a bad answer: every problem named, nothing written
    wrong = answers(2, subject=subject, questionnaire=f"{BALANCE}|1.0.0")
    wrong["item"][0]["answer"] = [{"valueCoding": {"system": "https://x.example", "code": "9"}}]
    issues = outcome(integrator.post("/fhir/QuestionnaireResponse", json=wrong), 422)
    assert any(
        e.startswith("QuestionnaireResponse.item[0]")
        for i in issues
        for e in i.get("expression", [])
    )
    total = bundle_of(
        integrator.get(
            "/fhir/QuestionnaireResponse", params={"patient": robin["id"], "_summary": "count"}
        )
    )["total"]
    assert total == 1


def test_a_correction_is_a_new_amended_response(integrator, robin):
    subject = {"reference": f"Patient/{robin['id']}"}
    original = created(
        integrator.post(
            "/fhir/QuestionnaireResponse",
            json=answers(2, subject=subject, questionnaire=f"{BALANCE}|1.0.0"),
        )
    )
    correction = answers(
        4,
        subject=subject,
        questionnaire=f"{BALANCE}|1.0.0",
        status="amended",
        extension=[
            {
                "url": REPLACES,
                "valueReference": {"reference": f"QuestionnaireResponse/{original['id']}"},
            }
        ],
    )
    amended = created(integrator.post("/fhir/QuestionnaireResponse", json=correction))
    assert amended["id"] != original["id"]
    assert amended["status"] == "amended"
    kept = valid(integrator.get(f"/fhir/QuestionnaireResponse/{original['id']}").json())
    assert (kept["status"], kept["meta"]["versionId"]) == ("completed", "1")
    statuses = {
        e["resource"]["status"]
        for e in bundle_of(
            integrator.get("/fhir/Observation", params={"derived-from": amended["id"]})
        )["entry"]
    }
    assert statuses == {"amended"}


def test_writes_need_their_scopes(http, engine):
    reader = Integrator(http, access_token(http, new_clinic(engine, "Readers", "system/*.rs")))
    issues = outcome(reader.post("/fhir/Patient", json=patient("S-1")), 403)
    assert "system/Patient.c" in issues[0]["diagnostics"]
    outcome(reader.post("/fhir/QuestionnaireResponse", json=answers(1)), 403)
    outcome(reader.post("/fhir/Task", json={"resourceType": "Task"}), 405)


def test_a_response_is_found_by_its_own_identifier(integrator, robin):
    subject = {"reference": f"Patient/{robin['id']}"}
    paper = {"system": "https://pm.example/forms", "value": "PAPER-77"}
    document = answers(3, subject=subject, questionnaire=f"{BALANCE}|1.0.0", identifier=paper)
    recorded = created(integrator.post("/fhir/QuestionnaireResponse", json=document))
    assert recorded["identifier"] == paper

    def found(value: str) -> list[str]:
        bundle = bundle_of(
            integrator.get("/fhir/QuestionnaireResponse", params={"identifier": value})
        )
        return [e["resource"]["id"] for e in bundle.get("entry", [])]

    assert found("https://pm.example/forms|PAPER-77") == [recorded["id"]]
    assert found("PAPER-77") == [recorded["id"]]
    assert found("https://other.example|PAPER-77") == []
    assert found("PAPER-78") == []
