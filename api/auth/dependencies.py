"""FastAPI dependencies that say who is calling and scope the request's session to their clinic.

    def create_client(..., caller: Annotated[Principal, Depends(require("Patient.c"))])

`require` checks the bearer token and its SMART scope, then scopes the
request's session to the token's clinic; `portal_visitor` does the same for a
portal link. Handlers never scope by hand.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.auth import tokens
from api.auth.scopes import allows
from api.errors import Forbidden, Unauthorized
from api.persistence import DbSession, scope_to_clinic
from api.services.portal_links import PortalVisitor, open_link

_bearer = HTTPBearer(auto_error=False, description="OAuth2 access token from POST /oauth/token")
_portal_bearer = HTTPBearer(
    auto_error=False, scheme_name="PortalLink", description="the token of a portal link"
)


def _challenge(error: str, **extra: str) -> dict[str, str]:
    parts = [f'error="{error}"', *(f'{k}="{v}"' for k, v in extra.items())]
    return {"WWW-Authenticate": "Bearer " + ", ".join(parts)}


def require(permission: str) -> Callable[..., Awaitable[tokens.Principal]]:
    """A dependency for `Resource.letter` (e.g. `Patient.c`): the caller, or 401/403.

    It does no I/O (the token is checked by its signature), so it runs on the
    event loop rather than taking a worker thread.
    """

    async def dependency(
        request: Request,
        session: DbSession,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> tokens.Principal:
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
        demand(principal, permission)
        scope_to_clinic(session, principal.clinic_id)
        return principal

    return dependency


def demand(principal: tokens.Principal, permission: str) -> None:
    """403 naming the scope unless the principal's token grants `Resource.letter`."""
    resource, _, letter = permission.partition(".")
    if not allows(principal.scopes, resource, letter):
        needed = f"system/{resource}.{letter}"
        raise Forbidden(
            f"this token lacks the scope {needed}",
            headers=_challenge("insufficient_scope", scope=needed),
        )


def portal_visitor(
    session: DbSession,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_portal_bearer)],
) -> PortalVisitor:
    """The client whose portal link this is, or 401."""
    if credentials is None:
        raise Unauthorized(
            "open your portal link: Authorization: Bearer <portal token>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return open_link(session, credentials.credentials)


Visitor = Annotated[PortalVisitor, Depends(portal_visitor)]
