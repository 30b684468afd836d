"""The committed OpenAPI document is exactly what the app generates."""

from __future__ import annotations

import json
from pathlib import Path

from api.app import create_app

COMMITTED = Path(__file__).parents[2] / "openapi" / "openapi.json"


def test_committed_openapi_matches_the_app(settings):
    generated = create_app(settings).openapi()
    committed = json.loads(COMMITTED.read_text())
    assert generated == committed, "run `tandem openapi --output openapi/openapi.json`"


def test_operation_ids_are_the_handler_names(settings):
    paths = create_app(settings).openapi()["paths"]
    ids = [op["operationId"] for path in paths.values() for op in path.values()]
    assert len(ids) == len(set(ids))
    assert "health" in ids


def test_every_post_in_v1_takes_an_idempotency_key(settings):
    paths = create_app(settings).openapi()["paths"]
    posts = {
        path: ops["post"] for path, ops in paths.items() if path.startswith("/v1") and "post" in ops
    }
    assert len(posts) >= 8  # clients, couples, assignments (3), alerts, plans (2)
    missing = [
        path
        for path, op in posts.items()
        if "Idempotency-Key" not in [p["name"] for p in op.get("parameters", [])]
    ]
    assert missing == []


CAPABILITY = COMMITTED.with_name("fhir-capabilitystatement.json")


def test_committed_capability_statement_matches_the_server(settings, http):
    committed = json.loads(CAPABILITY.read_text())
    served = http.get("/fhir/metadata").json()
    assert served == committed, (
        "run `tandem capability --output openapi/fhir-capabilitystatement.json`"
    )
