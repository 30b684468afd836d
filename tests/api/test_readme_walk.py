"""The README's curl walk-through, run as written against a live `tandem serve`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.error import URLError

import pytest

from tests.api.test_cli import free_port

README = (Path(__file__).parents[2] / "README.md").read_text()


@pytest.mark.server
@pytest.mark.skipif(shutil.which("curl") is None, reason="the walk-through uses curl")
def test_the_readme_walk_runs_against_a_live_server(tmp_path):
    (walk,) = re.findall(r"<!-- walk -->\n```sh\n(.*?)```", README, flags=re.DOTALL)
    (fhir,) = re.findall(r"<!-- fhir-walk -->\n```sh\n(.*?)```", README, flags=re.DOTALL)
    walk += fhir
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")}
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    server = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{base}/health", timeout=2)
                break
            except (URLError, ConnectionError):
                assert time.monotonic() < deadline and server.poll() is None
                time.sleep(0.2)
        ran = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", walk],
            cwd=tmp_path, env=env | {"TANDEM": base}, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert "weekly-check-in https://tandem.dev/fhir/Questionnaire/weekly-check-in|1.0.0" in lines
    assert sum(" requested http" in line for line in lines) == 2
    assert any(line.startswith('{"status":"completed","response_id":') for line in lines)
    assert "balance-rating 6.0 partly-balanced" in lines
    assert "closeness-gap 2.0 wants-more-closeness" in lines
    assert lines[-7:] == [
        "1 point(s)",
        "cancelled",
        "7 resource types",
        "1 Robin",
        "match Observation 6.0",
        "include QuestionnaireResponse ",
        "1 cancelled task(s)",
    ]
