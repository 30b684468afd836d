"""alerts for the counsellor

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 10:57:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert",
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("couple_id", sa.Uuid(), nullable=True),
        sa.Column("rule", sa.String(length=64), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column(
            "evidence", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["clinic_id", "client_id"],
            ["client.clinic_id", "client.id"],
            name=op.f("fk_alert_clinic_id_client_id_client"),
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id", "couple_id"],
            ["couple.clinic_id", "couple.id"],
            name=op.f("fk_alert_clinic_id_couple_id_couple"),
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_alert_clinic_id_clinic")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert")),
        sa.UniqueConstraint("clinic_id", "id", name=op.f("uq_alert_clinic_id_id")),
        sa.UniqueConstraint("clinic_id", "key", name=op.f("uq_alert_clinic_id_key")),
    )
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.create_index(
            "ix_alert_status", ["clinic_id", "status", "priority", "raised_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_index("ix_alert_status")

    op.drop_table("alert")
