"""Access tokens: short-lived JWTs in the RFC 9068 shape, signed and checked with joserfc.

HS256 with TANDEM_SIGNING_KEY, named explicitly on both encode and decode, so
a token cannot choose its own algorithm. The token carries everything a
request needs (clinic, client, scope), so checking one touches no database.
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass
from functools import lru_cache

from joserfc import jwt
from joserfc.errors import ExpiredTokenError, JoseError
from joserfc.jwk import OctKey

from api.auth.scopes import Scope, parse_scopes

ALGORITHM = "HS256"
TOKEN_TYPE = "at+jwt"
CLINIC_CLAIM = "https://tandem.dev/clinic"


class TokenError(ValueError):
    """The access token cannot be used; the message says why, without echoing it."""


@dataclass(frozen=True)
class Principal:
    """Who is calling: an integration of one clinic, with the scopes its token carries."""

    clinic_id: uuid.UUID
    client_id: str
    scopes: tuple[Scope, ...]


@lru_cache(maxsize=8)
def _key(secret: str) -> OctKey:
    return OctKey.import_key(secret.encode())


def issue(
    *, secret: str, issuer: str, clinic_id: uuid.UUID, client_id: str, scope: str, lifetime: int
) -> str:
    now = int(time.time())
    claims = {
        "iss": issuer,
        "sub": client_id,
        "aud": issuer,
        "client_id": client_id,
        "iat": now,
        "exp": now + lifetime,
        "jti": secrets.token_urlsafe(16),
        "scope": scope,
        CLINIC_CLAIM: str(clinic_id),
    }
    header = {"alg": ALGORITHM, "typ": TOKEN_TYPE}
    return jwt.encode(header, claims, _key(secret), algorithms=[ALGORITHM])


_REGISTRY_CACHE: dict[str, jwt.JWTClaimsRegistry] = {}


def _registry(issuer: str) -> jwt.JWTClaimsRegistry:
    registry = _REGISTRY_CACHE.get(issuer)
    if registry is None:
        registry = jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": issuer},
            aud={"essential": True, "value": issuer},
            exp={"essential": True},
            sub={"essential": True},
            client_id={"essential": True},
            scope={"essential": True},
        )
        _REGISTRY_CACHE[issuer] = registry
    return registry


def verify(token: str, *, secret: str, issuer: str) -> Principal:
    """The principal a token names, or TokenError if it is badly signed, expired or malformed.

    A token that checked out is remembered until it expires (an integration
    sends the same token with every request for its lifetime), so later
    requests skip the signature and claims checks but not the expiry.
    """
    known = _verified.get((token, secret, issuer))
    if known is not None:
        principal, expires = known
        if expires <= time.time():
            _verified.pop((token, secret, issuer), None)
            raise TokenError("the access token has expired; request a new one")
        return principal
    principal, expires = _verify(token, secret=secret, issuer=issuer)
    _verified[(token, secret, issuer)] = (principal, expires)
    while len(_verified) > _VERIFIED_SIZE:
        _verified.pop(next(iter(_verified)), None)  # the oldest
    return principal


_VERIFIED_SIZE = 4096
_verified: dict[tuple[str, str, str], tuple[Principal, float]] = {}


def _verify(token: str, *, secret: str, issuer: str) -> tuple[Principal, float]:
    try:
        decoded = jwt.decode(token, _key(secret), algorithms=[ALGORITHM])
        if decoded.header.get("typ") != TOKEN_TYPE:
            raise TokenError("the access token is not an RFC 9068 access token (typ at+jwt)")
        _registry(issuer).validate(decoded.claims)
        clinic_id = uuid.UUID(str(decoded.claims[CLINIC_CLAIM]))
        if not isinstance(decoded.claims["scope"], str):
            raise TokenError("the access token is not valid")
        scopes = tuple(parse_scopes(decoded.claims["scope"]))
    except ExpiredTokenError as error:
        raise TokenError("the access token has expired; request a new one") from error
    except (JoseError, KeyError, ValueError) as error:
        if isinstance(error, TokenError):
            raise
        raise TokenError("the access token is not valid") from error
    principal = Principal(
        clinic_id=clinic_id, client_id=str(decoded.claims["client_id"]), scopes=scopes
    )
    return principal, float(decoded.claims["exp"])
