"""What `GET /health` reports: the database is reachable and its schema is current."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from api.persistence import database_reachable
from api.persistence.migrations import is_current


@dataclass(frozen=True)
class HealthReport:
    database: str  # "ok" | "unreachable"
    migrations: str  # "current" | "pending" | "unknown"

    @property
    def healthy(self) -> bool:
        return self.database == "ok" and self.migrations == "current"


def check_health(engine: Engine) -> HealthReport:
    if not database_reachable(engine):
        return HealthReport(database="unreachable", migrations="unknown")
    try:
        migrations = "current" if is_current(engine) else "pending"
    except SQLAlchemyError:
        migrations = "unknown"
    return HealthReport(database="ok", migrations=migrations)
