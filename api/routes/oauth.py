from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.auth.server import TokenRequest, TokenServer
from api.persistence import DbSession

router = APIRouter(tags=["auth"])


class AccessToken(BaseModel):
    access_token: str = Field(description="a signed JWT (RFC 9068); send it as a Bearer token")
    token_type: str = Field(examples=["Bearer"])
    expires_in: int = Field(description="seconds until the token expires")
    scope: str = Field(description="the SMART scopes granted, space-separated")


class OAuthError(BaseModel):
    error: str = Field(examples=["invalid_client"])
    error_description: str | None = None


@router.post(
    "/oauth/token",
    response_model=AccessToken,
    responses={
        400: {"model": OAuthError, "description": "invalid request, grant type or scope"},
        401: {"model": OAuthError, "description": "client authentication failed"},
    },
    summary="Exchange client credentials (HTTP Basic) for an access token",
    description=(
        "OAuth 2.0 client credentials grant (RFC 6749 section 4.4). Authenticate with HTTP "
        "Basic (`client_id:client_secret`); ask for SMART v2 scopes such as "
        "`system/Patient.cruds system/QuestionnaireResponse.rs`, or leave `scope` out to get "
        "everything the client may have. Errors follow RFC 6749 section 5.2."
    ),
)
def issue_token(
    request: Request,
    session: DbSession,
    grant_type: Annotated[str | None, Form()] = None,
    scope: Annotated[str | None, Form()] = None,
) -> JSONResponse:
    form = {k: v for k, v in {"grant_type": grant_type, "scope": scope}.items() if v is not None}
    settings = request.app.state.settings
    server = TokenServer(session, settings)
    status, body, headers = server.create_token_response(
        TokenRequest(form, request.headers, settings.public_url.rstrip("/") + "/oauth/token")
    )
    return JSONResponse(body, status_code=status, headers=dict(headers))
