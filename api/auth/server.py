"""The OAuth2 token endpoint, built on authlib's AuthorizationServer core.

authlib has no FastAPI integration, so this subclass supplies what a
framework integration must: the client lookup, the request and response
shapes, and a token generator that issues Tandem's JWTs. Only the
client-credentials grant with HTTP Basic client authentication is offered.
"""

from __future__ import annotations

import binascii
from typing import Any

from authlib.oauth2.rfc6749 import AuthorizationServer, ClientMixin, OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidClientError, InvalidScopeError
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from sqlmodel import Session

from api.auth import tokens
from api.auth.scopes import ScopeSyntaxError, grant, parse_scopes
from api.services.integrations import find_integration, secret_matches
from api.settings import Settings
from schemas import Integration


class IntegrationClient(ClientMixin):
    """An integration row seen through authlib's client interface."""

    def __init__(self, integration: Integration) -> None:
        self.integration = integration

    def get_client_id(self) -> str:
        return self.integration.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        return grant(scope, self.integration.scope)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return secret_matches(self.integration, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return endpoint == "token" and method == "client_secret_basic"

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


class TokenRequest:
    """What the route hands over: the form fields and headers of POST /oauth/token."""

    def __init__(self, form: dict[str, str], headers: dict[str, str], uri: str) -> None:
        self.form = form
        self.headers = headers
        self.uri = uri


class TokenServer(AuthorizationServer):
    def __init__(self, session: Session, settings: Settings) -> None:
        super().__init__()
        self.session = session
        self.settings = settings
        self.register_grant(ClientCredentialsGrant)
        self.register_token_generator("default", self._generate)

    def create_token_response(self, request: Any = None) -> Any:
        """authlib's token response, with unreadable HTTP Basic credentials (bytes that are
        not UTF-8, broken base64) answered as invalid_client rather than an error."""
        try:
            return super().create_token_response(request)
        except (UnicodeDecodeError, binascii.Error, ValueError):
            error = InvalidClientError(
                description="the client credentials cannot be read", status_code=401
            )
            status, body, headers = error()
            return self.handle_response(status, body, [*headers, ("WWW-Authenticate", "Basic")])

    def query_client(self, client_id: str) -> IntegrationClient | None:
        integration = find_integration(self.session, client_id)
        return IntegrationClient(integration) if integration else None

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        """Access tokens are self-contained JWTs: nothing to store."""

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """No signal system here."""

    def create_oauth2_request(self, request: TokenRequest) -> OAuth2Request:
        oauth_request = OAuth2Request("POST", request.uri, headers=request.headers)
        oauth_request.payload = BasicOAuth2Payload(request.form)
        return oauth_request

    def handle_response(
        self, status: int, body: dict[str, Any], headers: list[tuple[str, str]]
    ) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        return status, body, headers

    def validate_requested_scope(self, scope: str | None) -> None:
        try:
            parse_scopes(scope)
        except ScopeSyntaxError as error:
            raise InvalidScopeError(description=str(error)) from error

    def _generate(
        self,
        grant_type: str,
        client: IntegrationClient,
        user: Any = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = False,
    ) -> dict[str, Any]:
        granted = client.get_allowed_scope(scope)
        if not granted:
            raise InvalidScopeError(description="none of the requested scopes is allowed")
        lifetime = self.settings.access_token_lifetime
        return {
            "access_token": tokens.issue(
                secret=self.settings.signing_key.get_secret_value(),
                issuer=self.settings.public_url,
                clinic_id=client.integration.clinic_id,
                client_id=client.integration.client_id,
                scope=granted,
                lifetime=lifetime,
            ),
            "token_type": "Bearer",
            "expires_in": lifetime,
            "scope": granted,
        }
