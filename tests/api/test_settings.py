from __future__ import annotations

import pytest
from pydantic import ValidationError

from api.settings import Settings, get_settings


def test_settings_come_from_tandem_variables(monkeypatch):
    monkeypatch.setenv("TANDEM_DATABASE_URL", "postgresql+psycopg://db.internal/tandem")
    monkeypatch.setenv("TANDEM_PUBLIC_URL", "https://tandem.clinic.example")
    get_settings.cache_clear()
    try:
        settings = get_settings()
        assert settings.database_url == "postgresql+psycopg://db.internal/tandem"
        assert settings.public_url == "https://tandem.clinic.example"
        assert settings.migrate_on_start is False  # PostgreSQL: `tandem db upgrade` per deploy
        assert get_settings() is settings
    finally:
        get_settings.cache_clear()


def test_laptop_defaults():
    settings = Settings(_env_file=None)
    assert settings.database_url == "sqlite:///./tandem.db"
    assert settings.migrate_on_start is True


@pytest.mark.parametrize("key", [None, "short"])
def test_production_refuses_a_development_or_weak_signing_key(key):
    values = {"environment": "production"} | ({"signing_key": key} if key else {})
    with pytest.raises(ValidationError, match="TANDEM_SIGNING_KEY must be set"):
        Settings(**values)


def test_production_accepts_a_real_key():
    settings = Settings(environment="production", signing_key="k" * 48)
    assert settings.signing_key.get_secret_value() == "k" * 48
    assert "k" * 48 not in repr(settings)
