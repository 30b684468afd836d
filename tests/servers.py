"""A live Tandem for tests that need real HTTP (a FHIR client library, a browser): uvicorn in
a thread on a free port, its links naming that port, and access tokens from it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import requests
import uvicorn

from api.app import create_app
from api.settings import Settings
from tests.api.http import Credentials
from tests.api.test_cli import free_port


@contextmanager
def live_tandem(database_url: str, **settings: Any) -> Iterator[str]:
    """Tandem served on a free port until the block ends: its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    configured = Settings(
        database_url=database_url, auto_migrate=False, public_url=base, **settings
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(configured), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive()
        time.sleep(0.05)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def live_token(base: str, credentials: Credentials) -> str:
    """An access token from the live server's token endpoint (client credentials)."""
    answer = requests.post(
        f"{base}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(credentials.client_id, credentials.client_secret),
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]
