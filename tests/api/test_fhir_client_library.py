"""Tandem's FHIR face driven by a FHIR client library many integrators use (fhirpy), over real
HTTP against a real server: create, read, search with paging, conditional create."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import requests
import uvicorn
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome

from api.app import create_app
from api.settings import Settings
from tests.api.http import new_clinic
from tests.api.test_readme_walk import free_port

PM = "https://pm.example/clients"


@pytest.fixture
def fhir_base(database_url: str) -> Iterator[str]:
    """A live Tandem on a free port (uvicorn in a thread), whose links name that port."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = Settings(database_url=database_url, auto_migrate=False, public_url=base)
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive()
        time.sleep(0.05)
    yield base
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def client(fhir_base: str, engine) -> SyncFHIRClient:
    credentials = new_clinic(engine)
    token = requests.post(
        f"{fhir_base}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(credentials.client_id, credentials.client_secret),
        timeout=10,
    ).json()["access_token"]
    return SyncFHIRClient(f"{fhir_base}/fhir", authorization=f"Bearer {token}")


@pytest.mark.server
def test_fhirpy_creates_reads_pages_and_creates_conditionally(client):
    made = []
    for n in range(7):
        patient = client.resource(
            "Patient", identifier=[{"system": PM, "value": f"L-{n}"}], name=[{"text": f"Ash {n}"}]
        )
        patient.save()
        made.append(patient.id)
    assert len(set(made)) == 7

    read = client.reference("Patient", made[3]).to_resource()
    assert read["name"][0]["text"] == "Ash 3"
    assert read["meta"]["versionId"] == "1"

    # paging: three resources a page, followed through the Bundle's next links
    everyone = client.resources("Patient").search(name="ash").limit(3).fetch_all()
    assert [p.id for p in everyone] == made
    assert client.resources("Patient").search(name="ash").count() == 7
    assert client.resources("Patient").search(identifier=f"{PM}|L-5").get().id == made[5]

    # conditional create: found, not made again; then made when nothing matches
    found, created = (
        client.resources("Patient")
        .search(identifier=f"{PM}|L-2")
        .get_or_create(client.resource("Patient", identifier=[{"system": PM, "value": "L-2"}]))
    )
    assert (found.id, created) == (made[2], False)
    new, created = (
        client.resources("Patient")
        .search(identifier=f"{PM}|L-9")
        .get_or_create(client.resource("Patient", identifier=[{"system": PM, "value": "L-9"}]))
    )
    assert created and new.id not in made
    assert client.resources("Patient").count() == 8

    # update through the library (PUT), and errors arrive as OperationOutcomes
    read["name"] = [{"text": "Ash Three"}]
    read.save()
    assert client.reference("Patient", made[3]).to_resource()["meta"]["versionId"] == "2"
    with pytest.raises(OperationOutcome):
        client.resource("Patient", name=[{"text": "no identifier"}]).save()
