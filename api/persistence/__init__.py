"""The database: engines, clinic-scoped sessions, and Alembic migrations."""

from api.persistence.engine import database_reachable, make_engine
from api.persistence.session import DbSession, get_session
from api.persistence.tenancy import (
    ClinicSession,
    TenancyError,
    across_clinics,
    acting_for,
    scope_to_clinic,
)

__all__ = [
    "ClinicSession",
    "DbSession",
    "TenancyError",
    "across_clinics",
    "acting_for",
    "current_clinic",
    "database_reachable",
    "get_session",
    "make_engine",
    "scope_to_clinic",
]
