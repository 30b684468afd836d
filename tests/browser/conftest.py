"""Browser tests: a real Tandem (uvicorn in a thread, on a free port) driven by the system's
Chromium through Playwright, with axe-core (from the npm registry, `npm ci` here) checking
each page. Never downloads a browser: Chromium is Debian's, at /usr/bin/chromium.

The tests are marked `browser` and are skipped, saying why, only when Chromium, axe-core or
Playwright is missing; `.ci/run` installs all three and sets TANDEM_REQUIRE_BROWSER_TESTS,
under which a missing tool fails them instead. Screenshots and axe
results go to `test-artifacts/portal/`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.api.http import new_clinic
from tests.servers import live_tandem, live_token

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).with_name("node_modules") / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "test-artifacts" / "portal"
PHONE = {"width": 360, "height": 780}
# What axe checks: WCAG 2.2 A and AA, and its best practices.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]

try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # pragma: no cover - the test extras install it
    sync_playwright = None  # type: ignore[assignment]


def _missing() -> str | None:
    if sync_playwright is None:
        return "Playwright for Python is not installed (pip install -e '.[test]')"
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)"
    if not AXE.exists():
        return f"no axe-core at {AXE} (npm ci in tests/browser; .ci/run does)"
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    missing = _missing()
    if missing and os.environ.get("TANDEM_REQUIRE_BROWSER_TESTS"):
        pytest.fail(missing)  # CI installs the tools: there, a skip would hide a gap
    if missing:
        pytest.skip(missing)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield launched
        launched.close()


@pytest.fixture(scope="session")
def tandem(browser: Browser, database_url: str) -> Iterator[str]:
    """A live Tandem on a free port whose links name that port: its base URL."""
    with live_tandem(database_url, export_worker=False) as base:
        yield base


class Practice:
    """The practice-management system, over real HTTP: makes clients and assigns work."""

    def __init__(self, base: str, engine: Any) -> None:
        self.base = base
        credentials = new_clinic(engine)
        self.clinic_id = credentials.clinic_id
        token = live_token(base, credentials)
        self.headers = {"Authorization": f"Bearer {token}"}

    def post(self, path: str, body: dict[str, Any]) -> Any:
        answer = requests.post(f"{self.base}{path}", json=body, headers=self.headers, timeout=10)
        assert answer.status_code in (200, 201), answer.text
        return answer.json()

    def get(self, path: str) -> Any:
        return requests.get(f"{self.base}{path}", headers=self.headers, timeout=10).json()

    def client(self, value: str) -> dict[str, Any]:
        return self.post(
            "/v1/clients",
            {"identifier": {"system": "https://pm.example/clients", "value": value}},
        )


@pytest.fixture
def practice(tandem: str, engine: Any) -> Practice:
    return Practice(tandem, engine)


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    """A phone-sized page (360 CSS px wide, touch), the CSP enforced as served; every
    console error (a CSP violation among them) fails the test."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    errors: list[str] = []
    page.on(
        "console",
        lambda message: (
            message.type == "error"
            and not message.text.startswith("Failed to load resource")  # a 4xx page, on purpose
            and errors.append(message.text)
        ),
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, errors


def check_page(page: Page, name: str) -> list[dict[str, Any]]:
    """Screenshot the page (test-artifacts/portal/NAME.png), hold it to the mobile rules
    (no sideways scrolling at 360 px, touch targets of 44 x 44 px at least), and run axe on
    it: no serious or critical violation. axe is evaluated through the DevTools protocol,
    which the page's CSP does not govern, so the CSP stays as served."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
        f"{name}: scrolls sideways"
    )
    small = page.evaluate(
        """() => Array.from(document.querySelectorAll(
              'a.card, a.button, button, .option label, input[type=text], input[type=date],'
              + ' textarea, .error-summary a, .back a'))
            .filter(e => e.offsetParent !== null)
            .map(e => [e.outerHTML.slice(0, 80), e.getBoundingClientRect()])
            .filter(([_, r]) => r.width < 44 || r.height < 44)
            .map(([html, r]) => `${html} ${Math.round(r.width)}x${Math.round(r.height)}`)"""
    )
    assert not small, f"{name}: touch targets under 44 x 44 px: {small}"
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8"))
    results = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})", AXE_TAGS
    )
    found = [
        {"id": v["id"], "impact": v["impact"], "help": v["help"], "nodes": len(v["nodes"])}
        for v in results["violations"]
    ]
    (ARTIFACTS / f"{name}.axe.json").write_text(json.dumps(found, indent=2), encoding="utf-8")
    serious = [v for v in found if v["impact"] in ("serious", "critical")]
    assert not serious, f"{name}: {serious}"
    return found
