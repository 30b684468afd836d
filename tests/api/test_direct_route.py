"""`DirectRoute` answers exactly as FastAPI's own handler would (`api.routes.direct`).

The read of a response and the portal's submission are served as DirectRoutes; here
each endpoint is also declared as a plain APIRoute beside it, in the same app, and
every kind of request is sent to both: the same status, headers and body, but for the
request id and the path each problem names as its instance (and the id of a new
response)."""

from __future__ import annotations

import json
import uuid
from typing import Annotated

import fastapi.routing
import pytest
from fastapi import APIRouter, Body, Depends, FastAPI, Form, Path, Query, Request, Response
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth.dependencies import caller_for, connection_for, portal_call
from api.errors import NotFound
from api.routes.direct import DirectRoute
from api.routes.portal_api import router as portal_router
from api.routes.portal_api import submit_my_response
from api.routes.responses import read_response
from api.routes.responses import router as responses_router
from tests.api.http import Integrator, PortalClient, access_token
from tests.assessments.builders import STATEMENTS, balance_response

TWIN = "/twin/responses"


@pytest.fixture
def twins(settings):
    app = create_app(settings)
    app.router.add_api_route(TWIN + "/{response_id}", read_response, methods=["GET"])
    with TestClient(app) as client:
        yield client


@pytest.fixture
def response_id(twins, credentials):
    token = access_token(twins, credentials)
    bearer = {"Authorization": f"Bearer {token}"}
    client = twins.post("/v1/clients", json={"identifier": {"system": "s", "value": "D-1"}},
                        headers=bearer).json()  # fmt: skip
    (assignment,) = twins.post(
        "/v1/assignments",
        json={"instrument": "balance-assessment", "client_id": client["id"]},
        headers=bearer,
    ).json()["assignments"]
    document = balance_response({lid: 3 for lid in STATEMENTS}, gap_now=2, gap_wanted=4)
    answer = PortalClient(twins, assignment["portal_url"]).submit(assignment["id"], document)
    assert answer.status_code == 200, answer.text
    return answer.json()["response_id"]


def _both(twins, tail: str, headers: dict[str, str]) -> tuple[tuple, tuple]:
    """(direct, plain): each answer's status, headers that matter and body."""
    seen = []
    for base in ("/v1/responses", TWIN):
        answer = twins.get(f"{base}/{tail}", headers=headers)
        body = answer.json()
        if isinstance(body, dict):
            for varies in ("instance", "request_id"):  # the path asked, and the request's id
                body.pop(varies, None)
        kept = {k: answer.headers.get(k) for k in ("content-type", "www-authenticate")}
        seen.append((answer.status_code, kept, body))
    return seen[0], seen[1]


def test_a_read_is_the_same_both_ways(twins, credentials, response_id):
    token = access_token(twins, credentials)
    direct, plain = _both(twins, response_id, {"Authorization": f"Bearer {token}"})
    assert direct == plain
    assert direct[0] == 200 and direct[2]["id"] == response_id


@pytest.mark.parametrize(
    ("tail", "authorised", "status"),
    [
        ("not-a-uuid", True, 422),  # the path parameter, named as FastAPI names it
        ("1234", True, 422),
        (str(uuid.uuid4()), True, 404),
        ("{id}", False, 401),  # no token
        ("not-a-uuid", False, 401),  # the token is checked before the parameters
        ("{id}", "badly signed", 401),
        ("{id}", "system/Patient.r", 403),  # a token without the scope
    ],
)
def test_refusals_are_the_same_both_ways(twins, credentials, response_id, tail, authorised, status):
    if authorised is True:
        headers = {"Authorization": f"Bearer {access_token(twins, credentials)}"}
    elif authorised == "badly signed":
        token = access_token(twins, credentials)
        headers = {"Authorization": f"Bearer {token[:-4]}AAAA"}
    elif authorised:
        headers = {"Authorization": f"Bearer {access_token(twins, credentials, authorised)}"}
    else:
        headers = {}
    direct, plain = _both(twins, tail.replace("{id}", response_id), headers)
    assert direct == plain
    assert direct[0] == status


def test_the_read_is_served_by_a_direct_route(twins, credentials, response_id, monkeypatch):
    (route,) = [r for r in responses_router.routes if r.path == "/v1/responses/{response_id}"]
    assert isinstance(route, DirectRoute)
    # Without FastAPI's dependency solving, the direct route still answers; its twin cannot.
    bearer = {"Authorization": f"Bearer {access_token(twins, credentials)}"}
    monkeypatch.setattr(fastapi.routing, "solve_dependencies", _not_solved)
    assert twins.get(f"/v1/responses/{response_id}", headers=bearer).status_code == 200
    assert twins.get(f"{TWIN}/{response_id}", headers=bearer).status_code == 500


async def _not_solved(**_: object) -> None:
    raise RuntimeError("FastAPI solved the dependencies")  # the app answers a 500


def test_an_overridden_dependency_is_run_as_fastapi_runs_it(twins, credentials, response_id):
    async def refuse() -> None:
        raise NotFound("overridden")

    # A DirectRoute twin on the app's own router (no included router between), and each
    # route's own `caller_for` (each made one from the annotation) overridden.
    twins.app.router.add_api_route(
        "/direct/responses/{response_id}", read_response, methods=["GET"],
        route_class_override=DirectRoute,
    )  # fmt: skip
    for route in twins.app.router.routes:
        if getattr(route, "endpoint", None) is read_response:
            (caller,) = route.dependant.dependencies
            twins.app.dependency_overrides[caller.call] = refuse
    direct = twins.get(f"/direct/responses/{response_id}")
    plain = twins.get(f"{TWIN}/{response_id}")
    assert (direct.status_code, direct.json()["detail"]) == (404, "overridden")
    assert (plain.status_code, plain.json()["detail"]) == (404, "overridden")
    twins.app.dependency_overrides.clear()
    assert twins.get(f"/direct/responses/{response_id}").status_code == 401  # its own again


def test_a_path_problem_names_the_parameter(twins, credentials):
    token = access_token(twins, credentials)
    answer = twins.get("/v1/responses/not-a-uuid", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 422
    assert [e["parameter"] for e in answer.json()["errors"]] == ["response_id"]


async def _with_query(limit: Annotated[int, Query()] = 5) -> Response:
    return Response()


def _sync(request: Request) -> Response:
    return Response()


async def _a_model(request: Request) -> dict:
    return {}


async def _yields_after_the_response(
    connection: Annotated[object, Depends(connection_for("Task.r"))],
) -> Response:
    return Response()


async def _yields(
    connection: Annotated[object, Depends(connection_for("Task.r"), scope="function")],
) -> Response:
    return Response()


async def _denied(request: Request) -> None:
    raise NotFound("denied")


_DENY = _denied
_EMBEDDED, _BODY, _OPTIONAL, _SHORT = Body(embed=True), Body(), Body(None), Body(max_length=3)


async def _embedded(request: Request, document: dict = _EMBEDDED) -> Response:
    return Response()


async def _optional_body(document: dict | None = _OPTIONAL) -> Response:
    return Response()


async def _constrained_body(document: dict = _SHORT) -> Response:
    return Response()


async def _two_bodies(first: dict = _BODY, second: dict = _BODY) -> Response:
    return Response()


async def _a_form(request: Request, name: str = Form()) -> Response:
    return Response()


async def _fine(
    request: Request, caller: Annotated[object, Depends(caller_for("Task.r"))]
) -> Response:
    return Response()


async def _keyword_only(*, request: Request) -> None:
    return None


async def _by_keyword(caller: Annotated[object, Depends(_keyword_only)]) -> Response:
    return Response()


async def _untyped(thing) -> Response:
    return Response()


async def _marked(thing: Annotated[str, Path(min_length=3)]) -> Response:
    return Response()


async def _twice(
    first: Annotated[object, Depends(_DENY)], second: Annotated[object, Depends(_DENY)]
) -> Response:
    return Response()


async def _limited(
    caller: Annotated[object, Depends(caller_for("Task.r"), max_concurrency=2)],
) -> Response:
    return Response()


async def _two_markers(
    caller: Annotated[object, Depends(caller_for("Task.r")), Query()],
) -> Response:
    return Response()


async def _no_callable(caller: Annotated[object, Depends()]) -> Response:
    return Response()


@pytest.mark.parametrize(
    ("path", "endpoint", "refusal"),
    [
        ("/x", _with_query, "cannot serve parameter 'limit'"),
        ("/x", _sync, "must be a coroutine function"),
        ("/x", _a_model, "must return a Response"),
        # a dependency that yields, left by FastAPI after the response is sent
        ("/x", _yields_after_the_response, "cannot serve parameter 'connection'"),
        ("/x", _embedded, "cannot serve parameter 'document'"),
        ("/x", _two_bodies, "cannot serve parameter 'first'"),  # FastAPI embeds both
        ("/x", _optional_body, "cannot serve parameter 'document'"),
        ("/x", _constrained_body, "cannot serve parameter 'document'"),
        ("/x", _a_form, "cannot serve parameter 'name'"),
        ("/x", _by_keyword, "cannot serve parameter 'caller'"),  # its request keyword-only
        ("/{thing}", _untyped, "cannot serve parameter 'thing'"),  # FastAPI reads str
        ("/{thing}", _marked, "cannot serve parameter 'thing'"),
        ("/x", _two_markers, "cannot serve parameter 'caller'"),  # FastAPI reads the Query
        ("/x", _no_callable, "cannot serve parameter 'caller'"),
        ("/x", _twice, "cannot serve parameter 'second'"),  # FastAPI runs it once for both
        ("/x", _limited, "cannot serve parameter 'caller'"),  # FastAPI holds a semaphore
    ],
)
def test_what_it_cannot_serve_as_fastapi_would_is_refused_when_declared(path, endpoint, refusal):
    with pytest.raises(TypeError, match=refusal):
        FastAPI().router.add_api_route(path, endpoint, route_class_override=DirectRoute)
    FastAPI().router.add_api_route("/x", _fine, route_class_override=DirectRoute)
    FastAPI().router.add_api_route("/x", _yields, route_class_override=DirectRoute)


async def _deny(request: Request) -> None:
    raise NotFound("denied")


def test_dependencies_of_the_route_or_a_router_are_refused_not_skipped():
    declared = "dependencies declared on the route or a router"
    with pytest.raises(TypeError, match=declared):
        FastAPI().router.add_api_route(
            "/x", _fine, route_class_override=DirectRoute, dependencies=[Depends(_deny)]
        )
    with pytest.raises(TypeError, match=declared):
        APIRouter(dependencies=[Depends(_deny)]).add_api_route(
            "/x", _fine, route_class_override=DirectRoute
        )
    router = APIRouter()
    router.add_api_route("/x", _fine, route_class_override=DirectRoute)
    app = FastAPI()
    app.include_router(router, dependencies=[Depends(_deny)])
    with pytest.raises(TypeError, match=declared):  # known at its first request
        TestClient(app).get("/x")


# The portal's submission: a JSON body, and a dependency that yields the connection.

SUBMIT_TWIN = "/twin/assignments"


@pytest.fixture
def submissions(settings, credentials):
    """The app with a plain twin of the submission, and a client with open assignments."""
    app = create_app(settings)
    app.router.add_api_route(
        SUBMIT_TWIN + "/{assignment_id}/submit", submit_my_response, methods=["POST"]
    )
    with TestClient(app) as http:
        integrator = Integrator(http, access_token(http, credentials))
        client = integrator.client("S-1")
        assigned = [integrator.assign("balance-assessment", client_id=client["id"])[0]
                    for _ in range(3)]  # fmt: skip
        other = integrator.assign("balance-assessment", client_id=integrator.client("S-2")["id"])
        yield http, assigned, other[0]


def _token(assignment: dict) -> str:
    return assignment["portal_url"].rsplit("/", 1)[1]


def _complete() -> dict:
    return balance_response({lid: 1 + n % 5 for n, lid in enumerate(STATEMENTS)}, 3, 6)


def _submit_both(http, assignment_id: str, content: bytes | None, headers: dict) -> tuple:
    """(direct, plain): the same request to both routes, as `_both` sees answers."""
    seen = []
    for base in ("/portal/api/assignments", SUBMIT_TWIN):
        answer = http.post(f"{base}/{assignment_id}/submit", content=content, headers=headers)
        body = answer.json()
        for varies in ("instance", "request_id", "response_id"):
            body.pop(varies, None)
        kept = {k: answer.headers.get(k) for k in ("content-type", "www-authenticate")}
        seen.append((answer.status_code, kept, body))
    return seen[0], seen[1]


def test_the_submission_is_served_by_a_direct_route(submissions, monkeypatch):
    (route,) = [r for r in portal_router.routes if r.path.endswith("/submit")]
    assert isinstance(route, DirectRoute)
    http, (first, second, _), _ = submissions
    monkeypatch.setattr(fastapi.routing, "solve_dependencies", _not_solved)
    answer = http.post(f"/portal/api/assignments/{first['id']}/submit", json=_complete(),
                       headers={"Authorization": f"Bearer {_token(first)}"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    twin = http.post(f"{SUBMIT_TWIN}/{second['id']}/submit", json=_complete(),
                     headers={"Authorization": f"Bearer {_token(second)}"})  # fmt: skip
    assert twin.status_code == 500


def test_a_submission_is_the_same_both_ways(submissions):
    http, (first, second, third), _ = submissions
    seen = []
    for base, assignment in (("/portal/api/assignments", first), (SUBMIT_TWIN, second)):
        answer = http.post(f"{base}/{assignment['id']}/submit", json=_complete(),
                           headers={"Authorization": f"Bearer {_token(assignment)}"})  # fmt: skip
        assert answer.status_code == 200, answer.text
        seen.append((answer.headers["content-type"], answer.json()["status"]))
    assert seen[0] == seen[1] == ("application/json", "completed")
    still_open = http.get("/portal/api/assignments",
                          headers={"Authorization": f"Bearer {_token(first)}"}).json()  # fmt: skip
    assert [a["id"] for a in still_open] == [third["id"]]


JSON_TYPE = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("case", "assignment", "content", "headers", "token", "status"),
    [
        ("no token", "mine", "complete", JSON_TYPE, None, 401),
        ("a wrong token", "mine", "complete", JSON_TYPE, "not-a-link", 401),
        ("a path that is not a uuid", "not-a-uuid", "complete", JSON_TYPE, "mine", 422),
        ("body that does not parse", "mine", b'{"status": ', JSON_TYPE, "mine", 422),
        ("body that does not parse, no token", "mine", b"{", JSON_TYPE, None, 422),
        ("an empty body", "mine", b"", JSON_TYPE, "mine", 422),
        ("a JSON list", "mine", b"[]", JSON_TYPE, "mine", 422),
        ("JSON null", "mine", b"null", JSON_TYPE, "mine", 422),
        ("text, not JSON", "mine", "complete", {"Content-Type": "text/plain"}, "mine", 422),
        ("no content type", "mine", "complete", {}, "mine", 422),
        ("FHIR's JSON type", "someone else's", "complete",
         {"Content-Type": "application/fhir+json"}, "mine", 404),
        ("bad path and body", "nope", b"[]", JSON_TYPE, "mine", 422),
        ("bad body, wrong token", "mine", b"[]", JSON_TYPE, "not-a-link", 401),
        ("another client's assignment", "someone else's", "complete", JSON_TYPE, "mine", 404),
        ("answers in progress", "mine", "in progress", JSON_TYPE, "mine", 422),
        ("answers with problems", "mine", "with problems", JSON_TYPE, "mine", 422),
        ("an unknown assignment", "unknown", "complete", JSON_TYPE, "mine", 404),
    ],
)  # fmt: skip
def test_refused_submissions_are_the_same_both_ways(
    submissions, case, assignment, content, headers, token, status
):
    http, (mine, *_), someone_elses = submissions
    assignment_id = {"mine": mine["id"], "someone else's": someone_elses["id"],
                     "unknown": str(uuid.uuid4())}.get(assignment, assignment)  # fmt: skip
    document = _complete()
    if content == "in progress":
        document["status"] = "in-progress"
    elif content == "with problems":
        document["item"][0]["answer"] = [{"valueString": "not an option"}]
    body = json.dumps(document).encode() if isinstance(content, str) else content
    if token is not None:
        headers = headers | {
            "Authorization": f"Bearer {_token(mine) if token == 'mine' else token}"
        }
    direct, plain = _submit_both(http, assignment_id, body, headers)
    assert direct == plain, case
    assert direct[0] == status, (case, direct)
    # Refused, nothing written: both assignments are still open to submit.
    for assignment in (mine, someone_elses):
        answer = http.post(f"/portal/api/assignments/{assignment['id']}/submit",
                           json=_complete(),
                           headers={"Authorization": f"Bearer {_token(assignment)}"})  # fmt: skip
        assert answer.status_code == 200, (case, answer.text)


def test_the_problems_of_a_submission_name_path_then_body(submissions):
    http, (mine, *_), _ = submissions
    answer = http.post("/portal/api/assignments/nope/submit", content=b"[]",
                       headers=JSON_TYPE | {"Authorization": f"Bearer {_token(mine)}"})  # fmt: skip
    assert answer.status_code == 422
    problems = answer.json()["errors"]
    assert [p.get("parameter") for p in problems] == ["assignment_id", None]
    assert len(problems) == 2


def test_a_completed_assignment_is_a_conflict_both_ways(submissions):
    http, (mine, *_), _ = submissions
    headers = JSON_TYPE | {"Authorization": f"Bearer {_token(mine)}"}
    first = http.post(f"/portal/api/assignments/{mine['id']}/submit",
                      content=json.dumps(_complete()).encode(), headers=headers)  # fmt: skip
    assert first.status_code == 200
    direct, plain = _submit_both(http, mine["id"], json.dumps(_complete()).encode(), headers)
    assert direct == plain and direct[0] == 409


def test_an_overridden_portal_dependency_is_run_as_fastapi_runs_it(submissions):
    http, (mine, *_), _ = submissions

    async def closed(request: Request):
        raise NotFound("overridden")
        yield  # pragma: no cover

    http.app.dependency_overrides[portal_call] = closed
    direct, plain = _submit_both(http, mine["id"], b"{}", JSON_TYPE)
    assert direct == plain and (direct[0], direct[2]["detail"]) == (404, "overridden")
    http.app.dependency_overrides.clear()
    direct, plain = _submit_both(http, mine["id"], b"{}", JSON_TYPE)
    assert direct == plain and direct[0] == 401
