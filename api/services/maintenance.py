"""Bringing a database up to date: schema migrations, then built-in instruments."""

from __future__ import annotations

from sqlalchemy import Engine

from api.persistence.migrations import upgrade
from api.persistence.tenancy import ClinicSession
from api.services.instruments import install_builtins_everywhere


def prepare_database(engine: Engine) -> int:
    """Apply pending migrations and install new built-in versions in every clinic.

    Safe to run again: both steps only add what is missing. Returns the number
    of instrument rows added.
    """
    upgrade(engine)
    with ClinicSession(engine) as session:
        added = install_builtins_everywhere(session)
        session.commit()
    return added
