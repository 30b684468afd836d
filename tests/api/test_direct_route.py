"""`DirectRoute` answers exactly as FastAPI's own handler would (`api.routes.direct`).

The read of a response is served as a DirectRoute; here the same endpoint is also
declared as a plain APIRoute beside it, in the same app, and every kind of request
is sent to both: the same status, headers and body, but for the request id and the
path each problem names as its instance."""

from __future__ import annotations

import uuid
from typing import Annotated

import pytest
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth.dependencies import caller_for, connection_for
from api.errors import NotFound
from api.routes.direct import DirectRoute
from api.routes.responses import read_response
from api.routes.responses import router as responses_router
from tests.api.http import PortalClient, access_token
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


def test_the_read_is_served_by_a_direct_route():
    (route,) = [r for r in responses_router.routes if r.path == "/v1/responses/{response_id}"]
    assert isinstance(route, DirectRoute)


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


async def _yields(
    connection: Annotated[object, Depends(connection_for("Task.r"), scope="function")],
) -> Response:
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
        ("/x", _yields, "cannot serve parameter 'connection'"),  # a dependency that yields
        ("/x", _by_keyword, "cannot serve parameter 'caller'"),  # its request keyword-only
        ("/{thing}", _untyped, "cannot serve parameter 'thing'"),  # FastAPI reads str
        ("/{thing}", _marked, "cannot serve parameter 'thing'"),
        ("/x", _two_markers, "cannot serve parameter 'caller'"),  # FastAPI reads the Query
        ("/x", _no_callable, "cannot serve parameter 'caller'"),
    ],
)
def test_what_it_cannot_serve_as_fastapi_would_is_refused_when_declared(path, endpoint, refusal):
    with pytest.raises(TypeError, match=refusal):
        FastAPI().router.add_api_route(path, endpoint, route_class_override=DirectRoute)
    FastAPI().router.add_api_route("/x", _fine, route_class_override=DirectRoute)


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
