"""Helpers for tests that walk Tandem over HTTP (through the ASGI app): clinics with
credentials, access tokens, and calls as an integrator or as a client with a portal link."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.persistence import ClinicSession
from api.services.clinics import open_clinic


@dataclass(frozen=True)
class Credentials:
    clinic_id: str
    client_id: str
    client_secret: str


def new_clinic(
    engine: Engine, name: str = "Harbour Counselling", scope: str = "system/*.cruds"
) -> Credentials:
    """What `tandem clinic create` makes: a clinic and its first integration."""
    with ClinicSession(engine, expire_on_commit=False) as session:
        clinic, integration, secret = open_clinic(session, name, scope)
        session.commit()
    return Credentials(str(clinic.id), integration.client_id, secret)


def access_token(http: TestClient, credentials: Credentials, scope: str | None = None) -> str:
    form = {"grant_type": "client_credentials"} | ({"scope": scope} if scope else {})
    answer = http.post(
        "/oauth/token", data=form, auth=(credentials.client_id, credentials.client_secret)
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


class Integrator:
    """The practice-management system: calls /v1 with a bearer token."""

    def __init__(self, http: TestClient, token: str) -> None:
        self.http = http
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str, **options: Any) -> Any:
        return self.http.get(path, headers=self.headers | options.pop("headers", {}), **options)

    def post(self, path: str, **options: Any) -> Any:
        return self.http.post(path, headers=self.headers | options.pop("headers", {}), **options)

    def patch(self, path: str, **options: Any) -> Any:
        return self.http.patch(path, headers=self.headers | options.pop("headers", {}), **options)

    def client(self, value: str, name: str | None = None) -> dict[str, Any]:
        body = {"identifier": {"system": "https://pm.example/clients", "value": value}}
        answer = self.post("/v1/clients", json=body | ({"name": name} if name else {}))
        assert answer.status_code in (200, 201), answer.text
        return answer.json()

    def couple(self, first: str, second: str) -> dict[str, Any]:
        answer = self.post("/v1/couples", json={"members": [first, second]})
        assert answer.status_code == 201, answer.text
        return answer.json()

    def assign(self, instrument: str, **recipient: Any) -> list[dict[str, Any]]:
        answer = self.post("/v1/assignments", json={"instrument": instrument, **recipient})
        assert answer.status_code == 201, answer.text
        return answer.json()["assignments"]


class PortalClient:
    """A client holding a portal link: calls /portal/api with its token."""

    def __init__(self, http: TestClient, portal_url: str) -> None:
        self.http = http
        self.token = portal_url.rsplit("/", 1)[-1]
        self.headers = {"Authorization": f"Bearer {self.token}"}

    def assignments(self) -> Any:
        return self.http.get("/portal/api/assignments", headers=self.headers)

    def questionnaire(self, assignment_id: str) -> Any:
        return self.http.get(
            f"/portal/api/assignments/{assignment_id}/questionnaire", headers=self.headers
        )

    def save(self, assignment_id: str, response: dict[str, Any]) -> Any:
        return self.http.put(
            f"/portal/api/assignments/{assignment_id}/response", json=response, headers=self.headers
        )

    def submit(self, assignment_id: str, response: dict[str, Any]) -> Any:
        return self.http.post(
            f"/portal/api/assignments/{assignment_id}/submit", json=response, headers=self.headers
        )
