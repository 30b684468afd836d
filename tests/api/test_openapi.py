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
