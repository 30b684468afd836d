"""Tandem's data shapes: the SQLModel tables and their Create/Public/Update variants.

Field validation only, no behaviour. Importing this package registers every
table on `SQLModel.metadata`, which the Alembic migrations are checked against.
"""

from schemas.access import IdempotencyRecord, Integration
from schemas.alert import Alert, AlertStatus
from schemas.assignment import Assignment, AssignmentStatus, PortalLink
from schemas.base import ClinicOwned
from schemas.clinic import ChangeCounter, Client, ClientIdentifier, Clinic, Couple, CoupleMember
from schemas.export import ExportJob, ExportLevel, ExportStatus
from schemas.instrument import Instrument, InstrumentSource
from schemas.plan import Plan, PlanStatus, PlanVersion
from schemas.response import Response, ResponseStatus, Score

__all__ = [
    "Alert",
    "AlertStatus",
    "Assignment",
    "AssignmentStatus",
    "ChangeCounter",
    "Client",
    "ClientIdentifier",
    "Clinic",
    "ClinicOwned",
    "Couple",
    "CoupleMember",
    "ExportJob",
    "ExportLevel",
    "ExportStatus",
    "IdempotencyRecord",
    "Instrument",
    "InstrumentSource",
    "Integration",
    "Plan",
    "PlanStatus",
    "PlanVersion",
    "PortalLink",
    "Response",
    "ResponseStatus",
    "Score",
]
