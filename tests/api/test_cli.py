"""The `tandem` command, run as a real process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.error import URLError

import pytest

from api.persistence.migrations import head_revision
from tests.databases import fresh_database

ROOT = Path(__file__).parents[2]


def tandem(
    *arguments: str, env: dict[str, str] | None = None, **options
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "api.cli", *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        cwd=options.get("cwd", ROOT),
    )


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=2) as answer:
        return answer.status, answer.read()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.server
def test_serve_starts_on_a_fresh_sqlite_file_and_answers_over_http(tmp_path):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
        cwd=tmp_path,  # the default database is ./tandem.db: a fresh file here
        env={k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                status, body = get(f"{base}/health")
                break
            except (URLError, ConnectionError):
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.2)
        assert status == 200
        assert json.loads(body)["migrations"] == "current"
        assert get(f"{base}/docs")[0] == 200
        assert (tmp_path / "tandem.db").exists()
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=10)
    assert "GET /health 200" in output


def test_db_upgrade_then_current(tmp_path):
    with fresh_database(tmp_path) as url:
        env = {"TANDEM_DATABASE_URL": url}
        before = tandem("db", "current", env=env)
        assert before.returncode == 1
        assert "current: (empty database)" in before.stdout
        upgraded = tandem("db", "upgrade", env=env)
        assert upgraded.returncode == 0, upgraded.stderr
        head = head_revision()
        assert f"schema at revision {head}; 0 built-in instrument row(s) added" in upgraded.stdout
        after = tandem("db", "current", env=env)
        assert (after.returncode, after.stdout) == (0, f"current: {head}\nhead:    {head}\n")


def test_openapi_prints_the_committed_document():
    printed = tandem("openapi")
    assert printed.returncode == 0, printed.stderr
    committed = json.loads((ROOT / "openapi" / "openapi.json").read_text())
    assert json.loads(printed.stdout) == committed
