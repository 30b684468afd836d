"""The FHIR face over HTTP: metadata, read and search of every resource type, on both
databases, with every resource checked against fhir.resources' R4B models."""

from __future__ import annotations

from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from tests.api.http import Integrator, PortalClient, access_token, new_clinic
from tests.assessments.builders import STATEMENTS, balance_response

FHIR = "application/fhir+json"
PM = "https://pm.example/clients"
BALANCE = "https://tandem.dev/fhir/Questionnaire/balance-assessment"


def valid(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource, after its R4B model has accepted it (and everything it contains)."""
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    return resource


def bundle_of(answer: Any) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith(FHIR)
    return valid(answer.json())


def ids(bundle: dict[str, Any], mode: str = "match") -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == mode]


@pytest.fixture
def practice(http, integrator):
    """Robin and Sam, a couple; both completed a balance assessment, Robin at level 4 and
    Sam at 2; Lee, alone, has an open one."""
    robin = integrator.client("C-1", name="Robin Ash")
    sam = integrator.client("C-2", name="Sam Birch")
    lee = integrator.client("C-3", name="Lee Ash")
    couple = integrator.couple(robin["id"], sam["id"])
    made = integrator.assign("balance-assessment", couple_id=couple["id"], due="2026-12-01")
    for level, assignment in zip((4, 2), made, strict=True):
        portal = PortalClient(http, assignment["portal_url"])
        answers = balance_response({lid: level for lid in STATEMENTS}, gap_now=3, gap_wanted=5)
        done = portal.submit(assignment["id"], answers)
        assert done.status_code == 200, done.text
    open_one = integrator.assign("balance-assessment", client_id=lee["id"])[0]
    responses = {
        a["client_id"]: integrator.get(f"/v1/assignments/{a['id']}").json()["response_id"]
        for a in made
    }
    return {
        "robin": robin, "sam": sam, "lee": lee, "couple": couple,
        "assignments": made, "open": open_one, "responses": responses,
    }  # fmt: skip


def test_metadata_lists_exactly_what_is_implemented(http):
    answer = http.get("/fhir/metadata")
    statement = bundle_of(answer)
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert set(resources) == {
        "Patient", "Group", "Questionnaire", "QuestionnaireResponse", "Observation", "Task",
        "CarePlan",
    }  # fmt: skip
    qr = resources["QuestionnaireResponse"]
    assert {p["name"] for p in qr["searchParam"]} == {
        "_id", "_lastUpdated", "subject", "patient", "questionnaire", "authored", "status",
        "based-on", "identifier",
    }  # fmt: skip
    assert qr["searchInclude"] == ["QuestionnaireResponse:questionnaire"]
    care_plan = [i["code"] for i in resources["CarePlan"]["interaction"]]
    assert care_plan == ["read", "vread", "search-type"]
    patient = resources["Patient"]
    assert [i["code"] for i in patient["interaction"]] == [
        "read", "vread", "update", "create", "search-type"
    ]  # fmt: skip
    assert (patient["conditionalCreate"], patient["versioning"]) == (True, "versioned-update")
    assert not resources["Task"]["conditionalCreate"]


def test_read_each_resource_type(integrator, practice):
    robin, couple = practice["robin"], practice["couple"]
    patient = valid(integrator.get(f"/fhir/Patient/{robin['id']}").json())
    assert patient["identifier"] == [{"system": PM, "value": "C-1"}]
    assert patient["name"] == [{"text": "Robin Ash"}]

    group = valid(integrator.get(f"/fhir/Group/{couple['id']}").json())
    assert [m["entity"]["reference"] for m in group["member"]] == [
        f"Patient/{robin['id']}", f"Patient/{practice['sam']['id']}"
    ]  # fmt: skip

    response_id = practice["responses"][robin["id"]]
    answered = integrator.get(f"/fhir/QuestionnaireResponse/{response_id}")
    assert answered.headers["content-type"].startswith(FHIR)
    qr = valid(answered.json())
    assert qr["questionnaire"] == f"{BALANCE}|1.0.0"
    assert qr["status"] == "completed"
    assert qr["subject"] == {"reference": f"Patient/{robin['id']}"}

    task_id = practice["assignments"][0]["id"]
    task = valid(integrator.get(f"/fhir/Task/{task_id}").json())
    assert task["status"] == "completed"
    assert task["code"]["coding"][0]["code"] == "complete-questionnaire"
    assert task["input"][0]["valueCanonical"] == f"{BALANCE}|1.0.0"
    assert task["output"][0]["valueReference"] == {
        "reference": f"QuestionnaireResponse/{response_id}"
    }
    assert task["for"] == {"reference": f"Patient/{robin['id']}"}
    assert task["restriction"]["period"]["end"] == "2026-12-01"

    questionnaire_id = integrator.get(
        "/fhir/Questionnaire", params={"url": BALANCE, "version": "1.0.0"}
    ).json()["entry"][0]["resource"]["id"]
    questionnaire = valid(integrator.get(f"/fhir/Questionnaire/{questionnaire_id}").json())
    assert (questionnaire["url"], questionnaire["version"]) == (BALANCE, "1.0.0")


def test_observations_are_the_scores(integrator, practice):
    robin = practice["robin"]
    response_id = practice["responses"][robin["id"]]
    bundle = bundle_of(
        integrator.get(
            "/fhir/Observation",
            params={
                "derived-from": f"QuestionnaireResponse/{response_id}",
                "code": f"{BALANCE}|closeness",
            },
        )
    )
    assert bundle["total"] == 1
    observation = bundle["entry"][0]["resource"]
    # Robin answered 4 on every statement: closeness has items 5 and 6 reversed, so the mean is
    # (4 x 4 + 2 x (6 - 4)) / 6 = 20 / 6 = 3.333..., rescaled from 1-5 to 0-100:
    # (3.333... - 1) / 4 x 100 = 58.33..., kept to one decimal: 58.3
    assert observation["valueQuantity"]["value"] == 58.3
    assert observation["code"]["coding"][0] == {
        "system": BALANCE, "code": "closeness", "display": "Closeness (need met)"
    }  # fmt: skip
    assert observation["derivedFrom"] == [{"reference": f"QuestionnaireResponse/{response_id}"}]
    assert observation["interpretation"][0]["coding"][0]["code"] == "closeness.partly-met"
    every = bundle_of(integrator.get("/fhir/Observation", params={"patient": robin["id"]}))
    scales = integrator.get(f"/v1/responses/{response_id}").json()["scores"]
    assert every["total"] == len(scales)


def search_ids(integrator, kind: str, **params: Any) -> list[str]:
    return ids(bundle_of(integrator.get(f"/fhir/{kind}", params=params)))


def test_patient_search(integrator, practice):
    robin, sam, lee = (practice[k]["id"] for k in ("robin", "sam", "lee"))
    assert search_ids(integrator, "Patient", identifier=f"{PM}|C-2") == [sam]
    assert search_ids(integrator, "Patient", identifier="C-2") == [sam]  # any system
    assert search_ids(integrator, "Patient", identifier="https://other.example|C-2") == []
    assert search_ids(integrator, "Patient", identifier=f"{PM}|C-1,{PM}|C-3") == [robin, lee]
    # name: starts with, any case; :exact is the whole name, case and all; :contains anywhere
    assert search_ids(integrator, "Patient", name="robin") == [robin]
    assert search_ids(integrator, "Patient", **{"name:contains": "ash"}) == [robin, lee]
    assert search_ids(integrator, "Patient", **{"name:exact": "Robin Ash"}) == [robin]
    assert search_ids(integrator, "Patient", **{"name:exact": "robin ash"}) == []
    assert search_ids(integrator, "Patient", _id=f"{sam},{lee}") == [sam, lee]
    assert search_ids(integrator, "Patient", _id="not-a-uuid") == []


def test_patient_birthdate(integrator):
    for value, born in (("B-1", "1990-03-04"), ("B-2", "1990-07-01"), ("B-3", "1991-01-01")):
        integrator.post(
            "/v1/clients",
            json={"identifier": {"system": PM, "value": value}, "birth_date": born},
        )

    def born(**params: Any) -> list[str]:
        found = bundle_of(integrator.get("/fhir/Patient", params=params))
        return sorted(e["resource"]["birthDate"] for e in found.get("entry", []))

    assert born(birthdate="1990") == ["1990-03-04", "1990-07-01"]
    assert born(birthdate="1990-03") == ["1990-03-04"]
    assert born(birthdate="ge1990-07-01") == ["1990-07-01", "1991-01-01"]
    assert born(birthdate="gt1990-07") == ["1991-01-01"]
    assert born(birthdate="lt1990-07-01") == ["1990-03-04"]
    assert born(birthdate="ne1990") == ["1991-01-01"]
    # two parameters AND: the range between
    assert born(birthdate=["ge1990-04", "le1990-12-31"]) == ["1990-07-01"]


def test_group_search(integrator, practice):
    couple = practice["couple"]["id"]
    assert search_ids(integrator, "Group", member=f"Patient/{practice['sam']['id']}") == [couple]
    assert search_ids(integrator, "Group", member=practice["lee"]["id"]) == []


def test_questionnaire_response_search(integrator, practice):
    robin, sam, lee = (practice[k]["id"] for k in ("robin", "sam", "lee"))
    first, second = (practice["responses"][p] for p in (robin, sam))
    assert search_ids(integrator, "QuestionnaireResponse", subject=f"Patient/{robin}") == [first]
    assert search_ids(integrator, "QuestionnaireResponse", patient=sam) == [second]
    by_canonical = search_ids(integrator, "QuestionnaireResponse", questionnaire=BALANCE)
    assert by_canonical == [first, second]
    versioned = search_ids(integrator, "QuestionnaireResponse", questionnaire=f"{BALANCE}|1.0.0")
    assert versioned == [first, second]
    assert search_ids(integrator, "QuestionnaireResponse", questionnaire=f"{BALANCE}|9") == []
    assert search_ids(integrator, "QuestionnaireResponse", status="completed") == [first, second]
    assert search_ids(integrator, "QuestionnaireResponse", status="in-progress") == []
    answered = bundle_of(integrator.get(f"/fhir/QuestionnaireResponse/{first}"))["authored"]
    day = answered[:10]
    assert search_ids(integrator, "QuestionnaireResponse", authored=day) == [first, second]
    assert search_ids(integrator, "QuestionnaireResponse", authored=f"gt{day}") == []
    assert search_ids(integrator, "QuestionnaireResponse", authored=f"lt{day}") == []
    assert search_ids(integrator, "QuestionnaireResponse", authored=f"le{day}") == [first, second]
    # Lee's assignment is open: no response yet, so nothing of Lee's is found
    assert search_ids(integrator, "QuestionnaireResponse", patient=lee) == []


def test_task_search(integrator, practice):
    robin, lee = practice["robin"]["id"], practice["lee"]["id"]
    done = [a["id"] for a in practice["assignments"]]
    open_one = practice["open"]["id"]
    assert search_ids(integrator, "Task", patient=lee) == [open_one]
    assert search_ids(integrator, "Task", subject=f"Patient/{robin}") == [done[0]]
    assert search_ids(integrator, "Task", status="completed") == done
    assert search_ids(integrator, "Task", status="requested") == [open_one]
    assert search_ids(integrator, "Task", status="http://hl7.org/fhir/task-status|requested") == [
        open_one
    ]
    assert search_ids(integrator, "Task", status="http://other.example|requested") == []
    assert search_ids(integrator, "Task", code="complete-questionnaire") == [*done, open_one]
    assert search_ids(integrator, "Task", code="something-else") == []
    made = bundle_of(integrator.get(f"/fhir/Task/{open_one}"))["authoredOn"]
    assert search_ids(integrator, "Task", **{"authored-on": f"ge{made}"}) == [open_one]
    assert open_one in search_ids(integrator, "Task", modified=made[:10])


def test_sort_summary_and_include(integrator, practice):
    robin, sam = practice["robin"]["id"], practice["sam"]["id"]
    first, second = (practice["responses"][p] for p in (robin, sam))
    newest_first = search_ids(integrator, "QuestionnaireResponse", _sort="-authored")
    assert newest_first == [second, first]
    counted = bundle_of(integrator.get("/fhir/Observation", params={"_summary": "count"}))
    assert "entry" not in counted and counted["total"] == 2 * 6  # six scales, two responses
    included = bundle_of(
        integrator.get(
            "/fhir/QuestionnaireResponse",
            params={"_include": "QuestionnaireResponse:questionnaire"},
        )
    )
    assert ids(included) == [first, second]
    [questionnaire] = [e["resource"] for e in included["entry"] if e["search"]["mode"] == "include"]
    assert questionnaire["url"] == BALANCE
    scores = bundle_of(
        integrator.get(
            "/fhir/Observation",
            params={"patient": robin, "_include": "Observation:derived-from"},
        )
    )
    assert ids(scores, "include") == [first]


def test_paging_follows_next_links_while_rows_are_added(http, integrator):
    made = [integrator.client(f"P-{n}")["id"] for n in range(7)]
    seen: list[str] = []
    answer = integrator.get("/fhir/Patient", params={"_count": "3"})
    pages = 0
    while True:
        bundle = bundle_of(answer)
        seen += ids(bundle)
        pages += 1
        if pages == 1:  # new clients arrive while the walk is under way
            made += [integrator.client(f"P-late-{n}")["id"] for n in range(2)]
        following = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        if not following:
            break
        assert following[0].startswith("http://127.0.0.1:8000/fhir/Patient?")
        answer = integrator.get(following[0].removeprefix("http://127.0.0.1:8000"))
    assert seen == made  # each once, in the order made, the late ones at the end
    assert pages == 3  # 9 clients, 3 a page
    assert bundle["total"] == 9


def test_post_search_is_the_same_search(integrator, practice):
    sam = practice["sam"]["id"]
    by_form = integrator.post(
        "/fhir/Patient/_search",
        data={"identifier": f"{PM}|C-2"},
    )
    assert ids(bundle_of(by_form)) == [sam]
    by_json = integrator.post("/fhir/Patient/_search", json={"identifier": "x"})
    assert by_json.status_code == 400
    assert valid(by_json.json())["issue"][0]["code"] == "invalid"


def test_unknown_parameters_lenient_and_strict(integrator, practice):
    lenient = bundle_of(integrator.get("/fhir/Patient", params={"nickname": "Rob"}))
    assert lenient["total"] == 3  # ignored: every patient
    [outcome] = [e["resource"] for e in lenient["entry"] if e["search"]["mode"] == "outcome"]
    assert outcome["issue"][0]["severity"] == "warning"
    assert "nickname" in outcome["issue"][0]["diagnostics"]
    assert all("nickname" not in link["url"] for link in lenient["link"])
    strict = integrator.get(
        "/fhir/Patient", params={"nickname": "Rob"}, headers={"Prefer": "handling=strict"}
    )
    assert strict.status_code == 400
    issues = valid(strict.json())["issue"]
    assert issues[-1]["expression"] == ["nickname"]


@pytest.mark.parametrize(
    ("params", "culprit"),
    [
        ({"birthdate": "yesterday"}, "birthdate"),
        ({"birthdate": "2026-02-30"}, "birthdate"),
        ({"birthdate": "ap2026"}, "birthdate"),
        ({"_count": "many"}, "_count"),
        ({"_sort": "name"}, "_sort"),
        ({"_summary": "text"}, "_summary"),
        ({"_include": "Patient:link"}, "_include"),
        ({"name:fuzzy": "rob"}, "name:fuzzy"),
        ({"_format": "xml"}, "_format"),
        ({"_cursor": "garbage"}, "_cursor"),
    ],
)
def test_bad_search_values_are_400_naming_the_parameter(integrator, params, culprit):
    answer = integrator.get("/fhir/Patient", params=params)
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith(FHIR)
    outcome = valid(answer.json())
    assert outcome["issue"][-1]["expression"] == [culprit]


def test_errors_are_operation_outcomes(http, integrator, engine, practice):
    robin = practice["robin"]["id"]
    missing = http.get(f"/fhir/Patient/{robin}")
    assert missing.status_code == 401
    assert valid(missing.json())["issue"][0]["code"] == "login"

    unknown = integrator.get("/fhir/Medication/1")
    assert unknown.status_code == 404
    assert valid(unknown.json())["issue"][0]["code"] == "not-found"
    no_update = integrator.http.put(
        f"/fhir/Group/{practice['couple']['id']}", json={}, headers=integrator.headers
    )
    assert no_update.status_code == 405
    assert valid(no_update.json())["issue"][0]["code"] == "not-supported"

    nothing = integrator.get("/fhir/Patient/00000000-0000-4000-8000-000000000000")
    assert (nothing.status_code, valid(nothing.json())["issue"][0]["code"]) == (404, "not-found")

    narrow = Integrator(http, access_token(http, new_clinic(engine, "Narrow", "system/Patient.r")))
    forbidden = narrow.get("/fhir/Patient")
    assert forbidden.status_code == 403
    assert "system/Patient.s" in valid(forbidden.json())["issue"][0]["diagnostics"]


def test_another_clinics_rows_are_not_found(http, engine, practice):
    other = Integrator(http, access_token(http, new_clinic(engine, "Other Practice")))
    robin = practice["robin"]["id"]
    response_id = practice["responses"][robin]
    assert other.get(f"/fhir/Patient/{robin}").status_code == 404
    assert other.get(f"/fhir/QuestionnaireResponse/{response_id}").status_code == 404
    assert search_ids(other, "Patient", identifier=f"{PM}|C-1") == []
    assert search_ids(other, "Observation", patient=robin) == []
    counted = bundle_of(other.get("/fhir/QuestionnaireResponse", params={"_summary": "count"}))
    assert counted["total"] == 0


def test_care_plans_list_their_tasks(integrator, practice):
    couple, robin, lee = practice["couple"]["id"], practice["robin"]["id"], practice["lee"]["id"]
    plan = integrator.post(f"/v1/couples/{couple}/plans/draft").json()
    draft = bundle_of(integrator.get("/fhir/CarePlan", params={"subject": f"Group/{couple}"}))
    assert ids(draft) == [plan["id"]]
    assert draft["entry"][0]["resource"]["status"] == "draft"
    assert search_ids(integrator, "CarePlan", status="active") == []
    approved = integrator.post(f"/v1/plans/{plan['id']}/approve")
    assert approved.status_code == 200, approved.text
    assert search_ids(integrator, "CarePlan", status="active", patient=robin) == [plan["id"]]
    assert search_ids(integrator, "CarePlan", patient=lee) == []
    assert search_ids(integrator, "CarePlan", category="couple-plan") == [plan["id"]]
    assert search_ids(integrator, "CarePlan", category="other") == []
    care_plan = valid(integrator.get(f"/fhir/CarePlan/{plan['id']}").json())
    referred = [a["reference"]["reference"] for a in care_plan["activity"] if "reference" in a]
    tasks = search_ids(
        integrator, "Task", **{"based-on": f"CarePlan/{plan['id']}", "_count": "200"}
    )
    assert referred == [f"Task/{task}" for task in tasks] and len(tasks) > 2
    # each Task names its client as owner and its Questionnaire as focus
    task = valid(integrator.get(f"/fhir/{referred[0]}").json())
    owner = task["owner"]["reference"].removeprefix("Patient/")
    assert tasks[0] in search_ids(integrator, "Task", owner=owner, _count="200")
    assert tasks[0] in search_ids(
        integrator, "Task", focus=task["focus"]["reference"], _count="200"
    )
