"""Configuration, read once from `TANDEM_*` environment variables.

Use `get_settings()`; nothing reads the environment at import time, and tests
build their own `Settings(...)` or clear the cache.
"""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SIGNING_KEY = "tandem-development-key-do-not-use-in-production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TANDEM_", extra="ignore")

    environment: Literal["development", "production"] = Field(
        default="development",
        description="'production' refuses development defaults such as the signing key",
    )
    database_url: str = Field(
        default="sqlite:///./tandem.db",
        description="SQLAlchemy URL: the embedded SQLite file by default, or "
        "postgresql+psycopg://user:password@host/db",
    )
    auto_migrate: bool | None = Field(
        default=None,
        description="apply pending migrations at start-up; unset means yes for SQLite and no "
        "elsewhere (run `tandem db upgrade` once per deploy instead)",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000", description="the address clients reach Tandem at"
    )
    signing_key: SecretStr = Field(
        default=SecretStr(DEVELOPMENT_SIGNING_KEY), description="key for signing tokens"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    access_token_lifetime: int = Field(
        default=300, ge=30, le=3600, description="seconds an access token stays valid"
    )
    portal_link_days: int = Field(
        default=14, ge=1, le=365, description="days a portal link stays valid"
    )
    report_link_minutes: int = Field(
        default=10, ge=1, le=24 * 60, description="minutes a link to the embedded report lasts"
    )
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="larger request bodies get 413"
    )
    partners_differ_share: Decimal = Field(
        default=Decimal("0.15"),
        gt=0,
        le=1,
        description="partners differ on a scale at this share of its range "
        "(0.15: 15 points on 0-100), in the couple report and plan drafts",
    )
    overdue_after_days: int = Field(
        default=2, ge=0, le=60, description="homework this many days past due raises an alert"
    )
    write_concurrency: int = Field(
        default=8,
        ge=1,
        le=100,
        description="requests that may write running at once in a worker on PostgreSQL "
        "(the rest wait their turn); SQLite always runs one",
    )
    export_dir: str = Field(
        default="./exports",
        description="where Bulk Data export files are written (one directory per job); "
        "storage every process that serves /fhir shares, if the worker runs elsewhere",
    )
    export_hours: int = Field(
        default=24, ge=1, le=24 * 30, description="hours an export's files stay downloadable"
    )
    export_file_resources: int = Field(
        default=100_000,
        ge=1,
        description="resources per export file; a type with more is split into several files",
    )
    export_worker: bool = Field(
        default=True,
        description="run the export worker inside the server (a background thread); turn it "
        "off where `tandem worker` runs the exports instead",
    )
    portal_session_minutes: int = Field(
        default=30,
        ge=5,
        le=24 * 60,
        description="minutes a portal page session (the cookie a link is exchanged for) lasts "
        "without a visit; each page seen extends it, and the link itself still decides",
    )
    portal_client_results: dict[str, list[str]] = Field(
        default={"https://tandem.dev/fhir/Questionnaire/weekly-check-in": ["balance-rating"]},
        description="the scales a client is shown of their own results after submitting, by "
        "instrument url (JSON); scales that use a private item are never shown",
    )
    locale_dir: str | None = Field(
        default=None,
        description="a folder of the clinic's own translation catalogues "
        "(<lang>/LC_MESSAGES/messages.po), offered alongside the shipped ones",
    )

    @model_validator(mode="after")
    def _production_needs_real_secrets(self) -> Settings:
        if self.environment == "production":
            key = self.signing_key.get_secret_value()
            if key == DEVELOPMENT_SIGNING_KEY or len(key) < 32:
                raise ValueError(
                    "TANDEM_SIGNING_KEY must be set to a secret of at least 32 characters "
                    "in production"
                )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def migrate_on_start(self) -> bool:
        return self.is_sqlite if self.auto_migrate is None else self.auto_migrate


@lru_cache
def get_settings() -> Settings:
    return Settings()
