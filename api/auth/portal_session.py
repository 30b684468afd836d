"""The portal pages' session: the cookie a portal link's token is exchanged for.

A client opens `{public_url}/portal/{token}`; the pages then run on a cookie
instead, so the token leaves the address bar, the history and any Referer.
The cookie is short-lived (`TANDEM_PORTAL_SESSION_MINUTES`, extended by each
page seen), HttpOnly, SameSite=Strict, and Secure outside local development.

Its value is the link's token, sealed: a JWE (`dir` + `A256GCM`, both named
on encode and decode, so a cookie cannot choose its own algorithm) under a key
derived from `TANDEM_SIGNING_KEY` for this purpose alone, with a `purpose`
claim and an expiry. The authenticated encryption stands in for a signature:
a cookie that was altered, made with another key or for another purpose does
not open, and the token inside cannot be read off the cookie. Every request
checks the token again through `api.services.portal_links.open_link`, the
same check as the JSON API's, so a link revoked, replaced or expired, or an
assignment cancelled, ends the session at once.
"""

from __future__ import annotations

import hashlib
import json
import time
from functools import lru_cache
from urllib.parse import urlsplit

from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from joserfc.jwt import JWTClaimsRegistry
from starlette.requests import Request
from starlette.responses import Response

from api.settings import Settings

ALGORITHMS = ["dir", "A256GCM"]
PURPOSE = "portal-session"
_HEADER = {"alg": "dir", "enc": "A256GCM", "typ": "JWT"}
_CLAIMS = JWTClaimsRegistry(
    purpose={"essential": True, "value": PURPOSE},
    exp={"essential": True},
    link={"essential": True},
)


def is_secure(settings: Settings) -> bool:
    """Cookies are Secure in production, and wherever clients reach Tandem over https."""
    return settings.environment == "production" or settings.public_url.startswith("https:")


def cookie_name(settings: Settings) -> str:
    """`__Host-` where the cookie is Secure (the browser then holds it to this host, path /)."""
    return "__Host-tandem_portal" if is_secure(settings) else "tandem_portal"


@lru_cache(maxsize=4)
def _key(secret: str) -> OctKey:
    return OctKey.import_key(hashlib.sha256(f"tandem portal session\n{secret}".encode()).digest())


def seal(token: str, settings: Settings, now: float | None = None) -> str:
    """The cookie's value for a link's token, valid for the session's minutes from `now`."""
    issued = int(time.time() if now is None else now)
    claims = {
        "purpose": PURPOSE,
        "iat": issued,
        "exp": issued + settings.portal_session_minutes * 60,
        "link": token,
    }
    plaintext = json.dumps(claims, separators=(",", ":")).encode()
    return jwe.encrypt_compact(
        _HEADER, plaintext, _key(settings.signing_key.get_secret_value()), algorithms=ALGORITHMS
    )


def unseal(value: str, settings: Settings) -> str | None:
    """The link token a cookie holds, or None when it is expired, altered or not ours."""
    try:
        opened = jwe.decrypt_compact(
            value, _key(settings.signing_key.get_secret_value()), algorithms=ALGORITHMS
        )
        claims = json.loads(opened.plaintext or b"")
        if not isinstance(claims, dict):
            return None
        _CLAIMS.validate(claims)
    except (JoseError, ValueError):
        return None
    token = claims["link"]
    return token if isinstance(token, str) and token else None


def link_token(request: Request, settings: Settings) -> str | None:
    """The link token of the request's session cookie, if it has a live one."""
    value = request.cookies.get(cookie_name(settings))
    return unseal(value, settings) if value else None


def start(response: Response, token: str, settings: Settings) -> None:
    """Set (or renew) the session cookie for a link's token on `response`."""
    response.set_cookie(
        cookie_name(settings),
        seal(token, settings),
        max_age=settings.portal_session_minutes * 60,
        path="/",
        httponly=True,
        secure=is_secure(settings),
        samesite="strict",
    )


def end(response: Response, settings: Settings) -> None:
    """Remove the session cookie."""
    response.delete_cookie(
        cookie_name(settings),
        path="/",
        httponly=True,
        secure=is_secure(settings),
        samesite="strict",
    )


def public_origin(settings: Settings) -> str:
    """The origin clients reach Tandem at (`https://clinic.example`), from TANDEM_PUBLIC_URL."""
    parts = urlsplit(settings.public_url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def same_origin(request: Request, settings: Settings) -> bool:
    """Whether a state-changing request comes from Tandem's own pages (CSRF defence, on top
    of the SameSite=Strict cookie).

    Its `Origin` must be Tandem's public origin, and `Sec-Fetch-Site`, when sent, must say
    same-origin. One exception: the pages send `Referrer-Policy: no-referrer`, under which
    browsers send `Origin: null` with a form's POST (Chromium does; the browser tests see
    it). `null` is accepted only with `Sec-Fetch-Site: same-origin`, which the browser
    sets itself and no page can forge (a sandboxed frame elsewhere also sends `null`, but
    with `cross-site`). A POST with no Origin at all is refused: browsers send one.
    """
    origin = request.headers.get("origin")
    fetch_site = request.headers.get("sec-fetch-site")
    if origin == "null":
        return fetch_site == "same-origin"
    if origin is None or origin.lower().rstrip("/") != public_origin(settings):
        return False
    return fetch_site is None or fetch_site == "same-origin"
