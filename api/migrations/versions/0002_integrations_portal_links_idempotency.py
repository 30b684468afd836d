"""integrations, portal links, idempotency and the change sequence

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 05:12:54.985331
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "idempotency_record",
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("body", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_idempotency_record_clinic_id_clinic")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_record")),
        sa.UniqueConstraint("clinic_id", "key", name=op.f("uq_idempotency_record_clinic_id_key")),
    )
    with op.batch_alter_table("idempotency_record", schema=None) as batch_op:
        batch_op.create_index("ix_idempotency_record_created", ["created_at"], unique=False)

    op.create_table(
        "integration",
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("scope", sa.String(length=1000), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_integration_clinic_id_clinic")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_integration")),
        sa.UniqueConstraint("client_id", name=op.f("uq_integration_client_id")),
    )
    op.create_table(
        "portal_link",
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("assignment_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id", "assignment_id"],
            ["assignment.clinic_id", "assignment.id"],
            name=op.f("fk_portal_link_clinic_id_assignment_id_assignment"),
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id", "client_id"],
            ["client.clinic_id", "client.id"],
            name=op.f("fk_portal_link_clinic_id_client_id_client"),
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_portal_link_clinic_id_clinic")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_link")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_portal_link_token_hash")),
    )
    with op.batch_alter_table("portal_link", schema=None) as batch_op:
        batch_op.create_index(
            "ix_portal_link_assignment", ["clinic_id", "assignment_id"], unique=False
        )

    with op.batch_alter_table("assignment", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("change_seq", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.drop_index(batch_op.f("ix_assignment_changes"))
        batch_op.create_index("ix_assignment_changes", ["clinic_id", "change_seq"], unique=False)

    with op.batch_alter_table("clinic", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("change_seq", sa.BigInteger(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("clinic", schema=None) as batch_op:
        batch_op.drop_column("change_seq")

    with op.batch_alter_table("assignment", schema=None) as batch_op:
        batch_op.drop_index("ix_assignment_changes")
        batch_op.create_index(
            batch_op.f("ix_assignment_changes"),
            ["clinic_id", "status", "updated_at", "id"],
            unique=False,
        )
        batch_op.drop_column("change_seq")

    with op.batch_alter_table("portal_link", schema=None) as batch_op:
        batch_op.drop_index("ix_portal_link_assignment")

    op.drop_table("portal_link")
    op.drop_table("integration")
    with op.batch_alter_table("idempotency_record", schema=None) as batch_op:
        batch_op.drop_index("ix_idempotency_record_created")

    op.drop_table("idempotency_record")
