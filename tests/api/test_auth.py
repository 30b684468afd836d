"""Access tokens and scopes: who may call what, and how a refusal reads."""

from __future__ import annotations

import time
import uuid

import pytest

from api.auth import tokens
from api.settings import DEVELOPMENT_SIGNING_KEY
from tests.api.http import Integrator, access_token, new_clinic

ISSUER = "http://127.0.0.1:8000"


def token_for(
    credentials, scope="system/*.cruds", lifetime=300, secret=DEVELOPMENT_SIGNING_KEY, issuer=ISSUER
):
    return tokens.issue(
        secret=secret,
        issuer=issuer,
        clinic_id=uuid.UUID(credentials.clinic_id),
        client_id=credentials.client_id,
        scope=scope,
        lifetime=lifetime,
    )


def test_the_token_endpoint_issues_a_short_lived_jwt(http, credentials):
    answer = http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "scope": "system/Patient.cruds system/QuestionnaireResponse.rs",
        },
        auth=(credentials.client_id, credentials.client_secret),
    )
    assert answer.status_code == 200
    body = answer.json()
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 300)
    assert body["scope"] == "system/Patient.cruds system/QuestionnaireResponse.rs"
    assert answer.headers["cache-control"] == "no-store"
    principal = tokens.verify(body["access_token"], secret=DEVELOPMENT_SIGNING_KEY, issuer=ISSUER)
    assert str(principal.clinic_id) == credentials.clinic_id


def test_no_scope_asked_means_everything_allowed(http, engine):
    limited = new_clinic(engine, scope="system/Patient.rs system/Task.cruds")
    answer = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(limited.client_id, limited.client_secret),
    )
    assert answer.json()["scope"] == "system/Patient.rs system/Task.cruds"
    narrowed = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "system/Patient.cruds system/Group.r"},
        auth=(limited.client_id, limited.client_secret),
    )
    assert narrowed.json()["scope"] == "system/Patient.rs"  # only what the client may have


@pytest.mark.parametrize(
    ("form", "auth", "status", "error"),
    [
        ({"grant_type": "client_credentials"}, "wrong-secret", 401, "invalid_client"),
        ({"grant_type": "client_credentials"}, "unknown-client", 401, "invalid_client"),
        ({"grant_type": "client_credentials"}, None, 401, "invalid_client"),
        ({"grant_type": "password"}, "good", 400, "unsupported_grant_type"),
        ({}, "good", 400, "unsupported_grant_type"),
        ({"grant_type": "client_credentials", "scope": "everything"}, "good", 400, "invalid_scope"),
        (
            {"grant_type": "client_credentials", "scope": "patient/Patient.rs"},
            "good",
            400,
            "invalid_scope",
        ),
    ],
)
def test_token_endpoint_refusals_follow_rfc_6749(http, credentials, form, auth, status, error):
    basic = {
        "good": (credentials.client_id, credentials.client_secret),
        "wrong-secret": (credentials.client_id, "not-the-secret"),
        "unknown-client": ("nobody", credentials.client_secret),
        None: None,
    }[auth]
    answer = http.post("/oauth/token", data=form, auth=basic)
    assert (answer.status_code, answer.json()["error"]) == (status, error)
    assert "access_token" not in answer.json()


def test_the_secret_is_only_accepted_by_http_basic(http, credentials):
    answer = http.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": credentials.client_id,
            "client_secret": credentials.client_secret,
        },
    )
    assert answer.status_code == 401


@pytest.mark.parametrize(
    ("token", "detail"),
    [
        (None, "send an access token: Authorization: Bearer <token> from POST /oauth/token"),
        ("expired", "the access token has expired; request a new one"),
        ("badly-signed", "the access token is not valid"),
        ("other-issuer", "the access token is not valid"),
        ("garbage", "the access token is not valid"),
    ],
)
def test_unusable_tokens_get_401_with_a_reason(http, credentials, token, detail):
    bearer = {
        None: None,
        "expired": token_for(credentials, lifetime=-10),
        "badly-signed": token_for(credentials, secret="another-key-of-enough-length-for-hs256-use"),
        "other-issuer": token_for(credentials, issuer="https://elsewhere.example"),
        "garbage": "not.a.jwt",
    }[token]
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    answer = http.get("/v1/instruments", headers=headers)
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["detail"] == detail
    assert answer.headers["www-authenticate"].startswith("Bearer")


def test_a_token_that_chooses_its_own_algorithm_is_refused(http, credentials):
    from joserfc import jwt
    from joserfc.jwk import OctKey

    claims = tokens.verify(token_for(credentials), secret=DEVELOPMENT_SIGNING_KEY, issuer=ISSUER)
    forged = jwt.encode(
        {"alg": "HS512", "typ": "at+jwt"},
        {"iss": ISSUER, "aud": ISSUER, "sub": "x", "client_id": "x", "scope": "system/*.cruds",
         "exp": 9999999999, tokens.CLINIC_CLAIM: str(claims.clinic_id)},
        OctKey.import_key(DEVELOPMENT_SIGNING_KEY.encode()),
        algorithms=["HS512"],
    )  # fmt: skip
    assert (
        http.get("/v1/instruments", headers={"Authorization": f"Bearer {forged}"}).status_code
        == 401
    )


@pytest.mark.parametrize(
    ("method", "path", "scope", "needed"),
    [
        ("post", "/v1/clients", "system/Patient.rs", "system/Patient.c"),
        ("get", "/v1/instruments", "system/Patient.cruds", "system/Questionnaire.s"),
        ("post", "/v1/assignments", "system/Task.rs", "system/Task.c"),
        (
            "get",
            "/v1/responses/00000000-0000-0000-0000-000000000000",
            "system/Task.cruds",
            "system/QuestionnaireResponse.r",
        ),
    ],
)
def test_a_missing_scope_is_403_naming_it(http, credentials, method, path, scope, needed):
    caller = Integrator(http, access_token(http, credentials, scope=scope))
    answer = getattr(caller, method)(path, json={}) if method == "post" else caller.get(path)
    assert answer.status_code == 403
    assert answer.json()["detail"] == f"this token lacks the scope {needed}"
    assert f'scope="{needed}"' in answer.headers["www-authenticate"]


def test_wildcard_and_v1_scopes_are_understood(http, credentials):
    for scope in ("system/*.rs", "system/Questionnaire.read"):
        caller = Integrator(http, token_for(credentials, scope=scope))
        assert caller.get("/v1/instruments").status_code == 200


def test_another_clinics_ids_answer_404_never_403(http, engine, integrator):
    ours = integrator.client("C-ours")
    assignment = integrator.assign("weekly-check-in", client_id=ours["id"])[0]
    theirs = Integrator(http, access_token(http, new_clinic(engine, "Other Practice")))
    for path in (
        f"/v1/clients/{ours['id']}",
        f"/v1/assignments/{assignment['id']}",
        f"/v1/clients/{ours['id']}/results?instrument=weekly-check-in",
    ):
        assert theirs.get(path).status_code == 404, path
    assert (
        theirs.patch(
            f"/v1/assignments/{assignment['id']}", json={"status": "cancelled"}
        ).status_code
        == 404
    )
    assert theirs.post(f"/v1/assignments/{assignment['id']}/new-link").status_code == 404
    refused = theirs.post(
        "/v1/assignments", json={"instrument": "weekly-check-in", "client_id": ours["id"]}
    )
    assert refused.status_code == 422
    assert refused.json()["errors"] == [
        {"pointer": "#/client_id", "detail": f"no client {ours['id']} in this clinic"}
    ]


@pytest.mark.parametrize("raw", [b"\xff\xfe:x", b"\xc3(:\xa0\xa1"])
def test_unreadable_basic_credentials_are_invalid_client_not_an_error(http, raw):
    import base64

    answer = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic " + base64.b64encode(raw).decode()},
    )
    assert (answer.status_code, answer.json()["error"]) == (401, "invalid_client")


def test_a_signed_token_with_a_malformed_scope_claim_is_refused(http, credentials):
    from joserfc import jwt
    from joserfc.jwk import OctKey

    claims = {"iss": ISSUER, "aud": ISSUER, "sub": "x", "client_id": "x", "scope": ["system/*.cruds"],
              "exp": 9999999999, tokens.CLINIC_CLAIM: credentials.clinic_id}  # fmt: skip
    forged = jwt.encode(
        {"alg": "HS256", "typ": "at+jwt"},
        claims,
        OctKey.import_key(DEVELOPMENT_SIGNING_KEY.encode()),
        algorithms=["HS256"],
    )
    assert (
        http.get("/v1/instruments", headers={"Authorization": f"Bearer {forged}"}).status_code
        == 401
    )


def test_a_remembered_token_is_still_refused_once_it_expires(monkeypatch):
    """verify() remembers tokens that checked out; the expiry is still checked every time."""
    secret, issuer = "k" * 40, "https://tandem.example"
    token = tokens.issue(
        secret=secret, issuer=issuer, clinic_id=uuid.uuid4(), client_id="c",
        scope="system/*.rs", lifetime=60,
    )  # fmt: skip
    first = tokens.verify(token, secret=secret, issuer=issuer)
    assert tokens.verify(token, secret=secret, issuer=issuer) == first
    later = time.time() + 61
    monkeypatch.setattr(tokens.time, "time", lambda: later)
    with pytest.raises(tokens.TokenError, match="expired"):
        tokens.verify(token, secret=secret, issuer=issuer)
    with pytest.raises(tokens.TokenError):  # and forgotten: the full check refuses it too
        tokens.verify(token, secret=secret, issuer=issuer)


def test_a_token_is_remembered_only_for_the_key_and_issuer_it_was_checked_with():
    secret, issuer = "k" * 40, "https://tandem.example"
    token = tokens.issue(
        secret=secret, issuer=issuer, clinic_id=uuid.uuid4(), client_id="c",
        scope="system/*.rs", lifetime=60,
    )  # fmt: skip
    tokens.verify(token, secret=secret, issuer=issuer)
    with pytest.raises(tokens.TokenError, match="not valid"):
        tokens.verify(token, secret="z" * 40, issuer=issuer)
    with pytest.raises(tokens.TokenError, match="not valid"):
        tokens.verify(token, secret=secret, issuer="https://elsewhere.example")
