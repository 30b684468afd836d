"""`DirectRoute` answers exactly as FastAPI's own handler would (`api.routes.direct`).

The read of a response is served as a DirectRoute; here the same endpoint is also
declared as a plain APIRoute beside it, in the same app, and every kind of request
is sent to both: the same status, headers and body, but for the request id and the
path each problem names as its instance."""

from __future__ import annotations

import uuid
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth.dependencies import caller_for, connection_for
from api.routes.direct import DirectRoute
from api.routes.responses import read_response
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


@pytest.mark.parametrize(
    ("endpoint", "refusal"),
    [
        (_with_query, "cannot serve parameter 'limit'"),
        (_sync, "must be a coroutine function"),
        (_a_model, "must return a Response"),
        (_yields, "cannot serve parameter 'connection'"),  # a dependency that yields
    ],
)
def test_what_it_cannot_serve_as_fastapi_would_is_refused_when_declared(endpoint, refusal):
    with pytest.raises(TypeError, match=refusal):
        FastAPI().router.add_api_route("/x", endpoint, route_class_override=DirectRoute)
    FastAPI().router.add_api_route("/x", _fine, route_class_override=DirectRoute)
