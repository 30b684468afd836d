"""export jobs: FHIR Bulk Data $export requests and how far their worker got

Also an index per exported table on (clinic_id, created_at, id), the order an
export pages through it (`schemas.export.CREATION_ORDER`).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


CREATION_ORDER = ("client", "couple", "response", "score", "assignment")


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "export_job",
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("level", sa.String(length=20), nullable=False),
        sa.Column("group_id", sa.Uuid(), nullable=True),
        sa.Column("types", _json(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("request_url", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=200), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("transaction_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("types_done", sa.Integer(), nullable=False),
        sa.Column("resources_done", sa.Integer(), nullable=False),
        sa.Column("output", _json(), nullable=False),
        sa.Column("errors", _json(), nullable=False),
        sa.Column("failure", sa.Text(), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed', 'cancelled', 'expired')",
            name=op.f("ck_export_job_status"),
        ),
        sa.CheckConstraint(
            "level IN ('system', 'patient', 'group')", name=op.f("ck_export_job_level")
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id", "group_id"],
            ["couple.clinic_id", "couple.id"],
            name=op.f("fk_export_job_clinic_id_group_id_couple"),
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_export_job_clinic_id_clinic")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_export_job")),
        sa.UniqueConstraint("clinic_id", "id", name=op.f("uq_export_job_clinic_id_id")),
    )
    with op.batch_alter_table("export_job", schema=None) as batch_op:
        batch_op.create_index("ix_export_job_claim", ["status", "lease_until"], unique=False)
    for table in CREATION_ORDER:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(
                f"ix_{table}_created", ["clinic_id", "created_at", "id"], unique=False
            )


def downgrade() -> None:
    for table in reversed(CREATION_ORDER):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f"ix_{table}_created")
    with op.batch_alter_table("export_job", schema=None) as batch_op:
        batch_op.drop_index("ix_export_job_claim")

    op.drop_table("export_job")
