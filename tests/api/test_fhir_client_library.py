"""Tandem's FHIR face driven by a FHIR client library many integrators use (fhirpy), over real
HTTP against a real server: create, read, search with paging, conditional create."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fhirpy import SyncFHIRClient
from fhirpy.base.exceptions import OperationOutcome

from tests.api.http import new_clinic
from tests.servers import live_tandem, live_token

PM = "https://pm.example/clients"


@pytest.fixture
def client(database_url: str, engine) -> Iterator[SyncFHIRClient]:
    """fhirpy's client for a live Tandem on a free port, with a token of a new clinic."""
    with live_tandem(database_url) as base:
        token = live_token(base, new_clinic(engine))
        yield SyncFHIRClient(f"{base}/fhir", authorization=f"Bearer {token}")


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
