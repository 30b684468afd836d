from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from tests.api.http import Integrator, access_token, new_clinic


@pytest.fixture
def http(settings):
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def credentials(engine):
    return new_clinic(engine)


@pytest.fixture
def integrator(http, credentials):
    return Integrator(http, access_token(http, credentials))
