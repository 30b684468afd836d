"""The couple report inside the practice system: the signed link and the page for an iframe."""

from __future__ import annotations

import base64
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import OctKey

from api.app import create_app
from api.cli import main as tandem
from api.services.embed import COUPLE_CLAIM, PURPOSE, PURPOSE_CLAIM, TOKEN_TYPE
from api.settings import get_settings
from tests.api.http import Integrator, PortalClient, access_token, new_clinic
from tests.api.test_charts import complete, levels
from tests.assessments.builders import checkin_response

CLINIC_CLAIM = "https://tandem.dev/clinic"


@pytest.fixture
def couple(http, integrator):
    robin = integrator.client("C-1", name="Robin")
    sam = integrator.client("C-2", name="Sam")
    made = integrator.couple(robin["id"], sam["id"])
    complete(http, integrator, robin["id"], levels(3, 3, 2, 2), days_ago=30)
    complete(http, integrator, robin["id"], levels(5, 2, 4, 2), days_ago=2)
    complete(http, integrator, sam["id"], levels(2, 5, 1, 4), days_ago=3)
    return {"id": made["id"], "robin": robin["id"], "sam": sam["id"]}


def report_link(integrator, couple_id: str, **options) -> dict:
    answer = integrator.post(f"/v1/couples/{couple_id}/report-link", **options)
    assert answer.status_code == 201, answer.text
    return answer.json()


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


def page(http, couple_id: str, token: str | None):
    return http.get(f"/embed/couples/{couple_id}/report", params={"token": token} if token else {})


def sign(settings, claims: dict, typ: str = TOKEN_TYPE) -> str:
    key = OctKey.import_key(settings.signing_key.get_secret_value().encode())
    return jwt.encode({"alg": "HS256", "typ": typ}, claims, key, algorithms=["HS256"])


def genuine_claims(settings, clinic_id: str, couple_id: str, **changes) -> dict:
    now = int(time.time())
    return {
        "iss": settings.public_url,
        "aud": settings.public_url + "/embed",
        "iat": now,
        "exp": now + 600,
        PURPOSE_CLAIM: PURPOSE,
        CLINIC_CLAIM: clinic_id,
        COUPLE_CLAIM: couple_id,
    } | changes


def test_a_link_is_signed_short_lived_and_replayed_for_its_idempotency_key(
    integrator, couple, settings, credentials
):
    before = datetime.now(UTC)
    link = report_link(integrator, couple["id"])
    expires = datetime.fromisoformat(link["expires_at"])
    assert timedelta(minutes=10) - timedelta(seconds=5) <= expires - before
    assert expires - before <= timedelta(minutes=10, seconds=5)
    assert link["url"].startswith(
        f"{settings.public_url}/embed/couples/{couple['id']}/report?token="
    )

    key = OctKey.import_key(settings.signing_key.get_secret_value().encode())
    decoded = jwt.decode(token_of(link["url"]), key, algorithms=["HS256"])
    assert decoded.header == {"alg": "HS256", "typ": TOKEN_TYPE}
    assert decoded.claims[PURPOSE_CLAIM] == PURPOSE
    assert decoded.claims[CLINIC_CLAIM] == credentials.clinic_id
    assert decoded.claims[COUPLE_CLAIM] == couple["id"]
    assert decoded.claims["exp"] == int(expires.timestamp())

    keyed = {"headers": {"Idempotency-Key": str(uuid.uuid4())}}
    first = report_link(integrator, couple["id"], **keyed)
    again = integrator.post(f"/v1/couples/{couple['id']}/report-link", **keyed)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first


def test_the_link_follows_the_setting_scope_and_clinic(http, engine, settings, credentials, couple):
    with TestClient(create_app(settings.model_copy(update={"report_link_minutes": 3}))) as other:
        link = report_link(Integrator(other, access_token(other, credentials)), couple["id"])
    left = datetime.fromisoformat(link["expires_at"]) - datetime.now(UTC)
    assert timedelta(minutes=2, seconds=50) < left <= timedelta(minutes=3)

    narrow = Integrator(http, access_token(http, credentials, scope="system/Observation.rs"))
    refused = narrow.post(f"/v1/couples/{couple['id']}/report-link")
    assert refused.status_code == 403
    assert "system/QuestionnaireResponse.r" in refused.json()["detail"]
    stranger = Integrator(http, access_token(http, new_clinic(engine, "Other Clinic")))
    assert stranger.post(f"/v1/couples/{couple['id']}/report-link").status_code == 404


def test_the_page_shows_the_couple_report_charts_alerts_and_plan(http, integrator, couple):
    check_in = integrator.assign("weekly-check-in", client_id=couple["sam"])[0]
    safety = checkin_response(balance_rating=3, need="more evenings out", safety=True)
    assert (
        PortalClient(http, check_in["portal_url"]).submit(check_in["id"], safety).status_code == 200
    )
    plan = integrator.post(f"/v1/couples/{couple['id']}/plans/draft").json()
    approved = integrator.post(f"/v1/plans/{plan['id']}/approve").json()

    answer = page(http, couple["id"], token_of(report_link(integrator, couple["id"])["url"]))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    html = answer.text
    assert "<h1>Couple report: Robin and Sam</h1>" in html
    # the balance map and three trends per partner, inline, each labelled for screen readers
    assert html.count("<svg ") == 1 + 3 * 2
    assert html.count('role="img"') == 7
    assert 'aria-labelledby="balance-map-chart-title balance-map-chart-desc"' in html
    assert "Robin on " in html and "closeness 100, independence 25" in html
    assert "Closeness (need met) over time: Sam" in html
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "ids repeat across the inline charts"
    # the couple report's figures, the open safety alert, the private answer, the plan
    assert "Many signs of enmeshment" in html and "pursue-withdraw" in html
    assert "Reported feeling afraid of their partner" in html
    assert "more evenings out" in html
    assert approved["activities"][0]["title"] in html and "Done of due" in html
    # each partner's section starts a printed page
    assert html.count('<section class="partner"') == 2
    assert "break-before: page" in html


def test_the_page_is_made_for_an_iframe_and_keeps_nothing(http, integrator, couple):
    answer = page(http, couple["id"], token_of(report_link(integrator, couple["id"])["url"]))
    policy = answer.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy  # no origins configured yet
    assert "script-src" not in policy and "default-src 'none'" in policy
    assert answer.headers["Referrer-Policy"] == "no-referrer"
    assert answer.headers["Cache-Control"] == "no-store"
    assert "set-cookie" not in answer.headers
    assert "<script" not in answer.text


def test_the_clinics_origins_are_the_frame_ancestors(
    http, integrator, couple, credentials, database_url, monkeypatch, capsys
):
    monkeypatch.setenv("TANDEM_DATABASE_URL", database_url)
    monkeypatch.setenv("TANDEM_AUTO_MIGRATE", "false")
    get_settings.cache_clear()
    try:
        origins = ["https://PM.example/", "https://pm2.example:8443", "https://pm.example"]
        assert tandem(["clinic", "origins", credentials.clinic_id, *origins]) == 0
        assert '"https://pm.example",\n    "https://pm2.example:8443"' in capsys.readouterr().out
        framed = page(http, couple["id"], token_of(report_link(integrator, couple["id"])["url"]))
        assert framed.headers["Content-Security-Policy"].endswith(
            "frame-ancestors https://pm.example https://pm2.example:8443"
        )

        bad = ["https://*.example", "http://pm.example", "https://pm.example/path", "'self'"]
        assert tandem(["clinic", "origins", credentials.clinic_id, *bad]) == 1
        assert capsys.readouterr().err.count("an origin is https://host") == 4
        assert tandem(["clinic", "origins", credentials.clinic_id]) == 0  # unchanged, printed
        assert "https://pm2.example:8443" in capsys.readouterr().out

        assert tandem(["clinic", "origins", credentials.clinic_id, "--none"]) == 0
        capsys.readouterr()
        closed = page(http, couple["id"], token_of(report_link(integrator, couple["id"])["url"]))
        assert closed.headers["Content-Security-Policy"].endswith("frame-ancestors 'none'")
        assert tandem(["clinic", "origins", str(uuid.uuid4()), "https://pm.example"]) == 1
    finally:
        get_settings.cache_clear()


def test_expired_altered_and_foreign_tokens_get_the_same_plain_page(
    http, integrator, couple, settings, credentials
):
    genuine = token_of(report_link(integrator, couple["id"])["url"])
    head, claims, signature = genuine.split(".")
    flipped = signature[:-3] + ("A" if signature[-3] != "A" else "B") + signature[-2:]
    expired = sign(
        settings,
        genuine_claims(settings, credentials.clinic_id, couple["id"], exp=int(time.time()) - 1),
    )
    assignment = integrator.assign("weekly-check-in", client_id=couple["robin"])[0]
    portal_token = PortalClient(http, assignment["portal_url"]).token
    tokens = {
        "expired": expired,
        "altered signature": f"{head}.{claims}.{flipped}",
        "altered claims": f"{head}.{claims[:-2]}{'A' if claims[-2] != 'A' else 'B'}{claims[-1]}.{signature}",
        "portal link": portal_token,
        "access token": integrator.headers["Authorization"].removeprefix("Bearer "),
        "no purpose": sign(
            settings,
            genuine_claims(
                settings, credentials.clinic_id, couple["id"], **{PURPOSE_CLAIM: "other"}
            ),
        ),
        "another type": sign(
            settings, genuine_claims(settings, credentials.clinic_id, couple["id"]), typ="at+jwt"
        ),
        "another key": jwt.encode(
            {"alg": "HS256", "typ": TOKEN_TYPE},
            genuine_claims(settings, credentials.clinic_id, couple["id"]),
            OctKey.import_key(b"x" * 48),
            algorithms=["HS256"],
        ),
        "alg none": base64.urlsafe_b64encode(b'{"alg":"none","typ":"report+jwt"}')
        .decode()
        .rstrip("=")
        + f".{claims}.",
        "none": None,
    }
    pages = {}
    for name, token in tokens.items():
        answer = page(http, couple["id"], token)
        assert answer.status_code == 401, name
        assert answer.headers["Cache-Control"] == "no-store", name
        assert "set-cookie" not in answer.headers, name
        pages[name] = answer.text
    assert len(set(pages.values())) == 1, "the pages must not tell the reasons apart"
    assert "expired" not in pages["expired"].lower() and "Robin" not in pages["expired"]
    assert page(http, couple["id"], genuine).status_code == 200  # the real one still works


def test_a_token_opens_its_own_couple_only(http, engine, integrator, couple, settings):
    other = integrator.couple(integrator.client("C-3")["id"], integrator.client("C-4")["id"])
    token = token_of(report_link(integrator, couple["id"])["url"])
    assert page(http, other["id"], token).status_code == 403
    assert page(http, "not-a-couple", token).status_code == 403
    assert "Robin" not in page(http, other["id"], token).text

    # a genuine token for a couple of another clinic does not reach into this one
    stranger = new_clinic(engine, "Other Clinic")
    forged = sign(settings, genuine_claims(settings, stranger.clinic_id, couple["id"]))
    assert page(http, couple["id"], forged).status_code == 404
