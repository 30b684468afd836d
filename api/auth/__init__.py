"""Who may call Tandem: integrations with OAuth2 access tokens, clients with portal links."""
