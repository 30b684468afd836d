"""FastAPI dependencies that say who is calling and scope the request's session to their clinic.

    def create_client(..., caller: Annotated[Principal, Depends(require("Patient.c"))])

`require` checks the bearer token and its SMART scope, then scopes the
request's session to the token's clinic (`connection_for` gives the hot
routes a clinic connection scoped the same way); `Portal` does this for a
portal link. Handlers never scope by hand.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.auth import tokens
from api.auth.scopes import allows
from api.errors import Forbidden, Unauthorized
from api.persistence import DbSession, scope_to_clinic
from api.persistence.connection import ClinicConnection, request_connection
from api.services.fhir import check_type
from api.services.portal_links import PortalVisitor, open_link


def _challenge(error: str, **extra: str) -> dict[str, str]:
    parts = [f'error="{error}"', *(f'{k}="{v}"' for k, v in extra.items())]
    return {"WWW-Authenticate": "Bearer " + ", ".join(parts)}


class _AccessToken(HTTPBearer):
    """A dependency on the caller's access token that is the OpenAPI bearer scheme itself.

    Each subclass is one dependency with the scheme built in, where a function
    depending on an `HTTPBearer` would be two: FastAPI solves every dependency
    on every request, and the second cost a read of a response 5.9% of its
    instructions (README, performance).
    """

    def __init__(self, permission: str = "") -> None:
        super().__init__(
            auto_error=False,
            scheme_name="HTTPBearer",
            description="OAuth2 access token from POST /oauth/token",
        )
        self.permission = permission  # `Resource.letter`, e.g. `Patient.c`; "" for none

    async def _allowed(self, request: Request, permission: str | None = None) -> tokens.Principal:
        """The principal of a valid token that grants `permission` (this dependency's own
        unless given; none if empty), or 401/403."""
        principal = _verified(request, await super().__call__(request))
        needed = self.permission if permission is None else permission
        if needed:
            demand(principal, needed)
        return principal


class require(_AccessToken):
    """A dependency for `Resource.letter` (e.g. `Patient.c`): the caller, or 401/403.

    It checks the token by its signature (no I/O, so it runs on the event loop)
    and scopes the request's session to the token's clinic.
    """

    async def __call__(self, request: Request, session: DbSession) -> tokens.Principal:  # type: ignore[override]
        principal = await self._allowed(request)
        scope_to_clinic(session, principal.clinic_id)
        return principal


class require_on_resource(_AccessToken):
    """`require` for the FHIR routes, whose resource type is the path's `resource_type`:
    404 for a type the server does not `interaction`, then the token and its scope
    (`letter` of the type, e.g. `r` for `system/Task.r`)."""

    def __init__(self, letter: str, interaction: str) -> None:
        super().__init__()
        self.letter, self.interaction = letter, interaction

    async def __call__(  # type: ignore[override]
        self, request: Request, resource_type: str, session: DbSession
    ) -> tokens.Principal:
        check_type(resource_type, self.interaction)
        principal = await self._allowed(request, f"{resource_type}.{self.letter}")
        scope_to_clinic(session, principal.clinic_id)
        return principal


class caller_for(_AccessToken):
    """The caller allowed `permission`, or 401/403, with nothing opened: for a hot read
    that opens its own connection (`reading_connection`) in the route. A dependency
    that yields costs FastAPI an exit stack on every request; this one returns."""

    async def __call__(self, request: Request) -> tokens.Principal:  # type: ignore[override]
        return await self._allowed(request)


class connection_for(_AccessToken):
    """`require`, for the hot routes that work on a clinic connection instead of a session:
    the request's connection, scoped to the caller's clinic, or 401/403. One
    dependency does both: the token is checked before the connection opens."""

    async def __call__(self, request: Request) -> AsyncIterator[ClinicConnection]:  # type: ignore[override]
        principal = await self._allowed(request)
        async with request_connection(request) as connection:
            connection.scope_to(principal.clinic_id)
            yield connection


# The caller (401 without a valid token), the session scoped to its clinic, for routes
# whose scopes depend on what is asked (a Bulk Data export: its types): `require` with no
# permission of its own; the service checks those with `demand`.
authenticated = require("")


def _verified(
    request: Request, credentials: HTTPAuthorizationCredentials | None
) -> tokens.Principal:
    """The principal of a valid bearer token, or 401 saying what is wrong."""
    if credentials is None:
        raise Unauthorized(
            "send an access token: Authorization: Bearer <token> from POST /oauth/token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    settings = request.app.state.settings
    try:
        principal = tokens.verify(
            credentials.credentials,
            secret=settings.signing_key.get_secret_value(),
            issuer=settings.public_url,
        )
    except tokens.TokenError as error:
        raise Unauthorized(str(error), headers=_challenge("invalid_token")) from error
    return principal


def demand(principal: tokens.Principal, permission: str) -> None:
    """403 naming the scope unless the principal's token grants `Resource.letter`."""
    resource, _, letter = permission.partition(".")
    if not allows(principal.scopes, resource, letter):
        needed = f"system/{resource}.{letter}"
        raise Forbidden(
            f"this token lacks the scope {needed}",
            headers=_challenge("insufficient_scope", scope=needed),
        )


@dataclass(frozen=True)
class PortalCall:
    """A portal request: the visitor whose link it carries, and the connection scoped to them."""

    connection: ClinicConnection
    visitor: PortalVisitor


class _PortalLink(HTTPBearer):
    """The client whose portal link this is, or 401, with a connection scoped to their
    clinic; the portal's bearer scheme itself, as `_AccessToken` is the integrators'."""

    def __init__(self) -> None:
        super().__init__(
            auto_error=False, scheme_name="PortalLink", description="the token of a portal link"
        )

    async def __call__(self, request: Request) -> AsyncIterator[PortalCall]:  # type: ignore[override]
        credentials = await super().__call__(request)
        if credentials is None:
            raise Unauthorized(
                "open your portal link: Authorization: Bearer <portal token>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        async with request_connection(request) as connection:
            visitor = await open_link(connection, credentials.credentials)
            yield PortalCall(connection, visitor)


portal_call = _PortalLink()
Portal = Annotated[PortalCall, Depends(portal_call, scope="function")]
