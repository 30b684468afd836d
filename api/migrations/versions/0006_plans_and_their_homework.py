"""plans and their homework: versioned plans, and assignments that name their plan

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 13:52:59
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "plan",
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("couple_id", sa.Uuid(), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id", "couple_id"],
            ["couple.clinic_id", "couple.id"],
            name=op.f("fk_plan_clinic_id_couple_id_couple"),
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_plan_clinic_id_clinic")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan")),
        sa.UniqueConstraint("clinic_id", "id", name=op.f("uq_plan_clinic_id_id")),
    )
    with op.batch_alter_table("plan", schema=None) as batch_op:
        batch_op.create_index("ix_plan_couple", ["clinic_id", "couple_id"], unique=False)

    op.create_table(
        "plan_version",
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("start", sa.Date(), nullable=False),
        sa.Column("end", sa.Date(), nullable=False),
        sa.Column("review_date", sa.Date(), nullable=True),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column(
            "goals", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column(
            "activities", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column(
            "baseline", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approved_by", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["clinic_id", "plan_id"],
            ["plan.clinic_id", "plan.id"],
            name=op.f("fk_plan_version_clinic_id_plan_id_plan"),
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_plan_version_clinic_id_clinic")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_version")),
        sa.UniqueConstraint(
            "clinic_id",
            "plan_id",
            "version",
            name=op.f("uq_plan_version_clinic_id_plan_id_version"),
        ),
    )
    with op.batch_alter_table("assignment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("plan_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("plan_version", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("activity_id", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_assignment_plan", ["clinic_id", "plan_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_assignment_clinic_id_plan_id_plan"),
            "plan",
            ["clinic_id", "plan_id"],
            ["clinic_id", "id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("assignment", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_assignment_clinic_id_plan_id_plan"), type_="foreignkey"
        )
        batch_op.drop_index("ix_assignment_plan")
        batch_op.drop_column("activity_id")
        batch_op.drop_column("plan_version")
        batch_op.drop_column("plan_id")

    op.drop_table("plan_version")
    with op.batch_alter_table("plan", schema=None) as batch_op:
        batch_op.drop_index("ix_plan_couple")

    op.drop_table("plan")
