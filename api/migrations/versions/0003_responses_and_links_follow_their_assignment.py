"""responses and links follow their assignment; lookups by clinic

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 07:46:47.881693
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("assignment", schema=None) as batch_op:
        batch_op.create_index("ix_assignment_updated", ["clinic_id", "updated_at"], unique=False)
        batch_op.create_unique_constraint(
            batch_op.f("uq_assignment_clinic_id_id_client_id"), ["clinic_id", "id", "client_id"]
        )

    with op.batch_alter_table("portal_link", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_portal_link_clinic_id_client_id_client"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_portal_link_clinic_id_assignment_id_assignment"), type_="foreignkey"
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_portal_link_clinic_id_assignment_id_client_id_assignment"),
            "assignment",
            ["clinic_id", "assignment_id", "client_id"],
            ["clinic_id", "id", "client_id"],
        )

    with op.batch_alter_table("response", schema=None) as batch_op:
        batch_op.create_index(
            "uq_response_in_progress",
            ["clinic_id", "assignment_id"],
            unique=True,
            postgresql_where=sa.text("status = 'in-progress'"),
            sqlite_where=sa.text("status = 'in-progress'"),
        )
        batch_op.drop_constraint(
            batch_op.f("fk_response_clinic_id_assignment_id_assignment"), type_="foreignkey"
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_response_clinic_id_assignment_id_client_id_assignment"),
            "assignment",
            ["clinic_id", "assignment_id", "client_id"],
            ["clinic_id", "id", "client_id"],
        )

    with op.batch_alter_table("score", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_score_response_id_scale"), type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_score_clinic_id_response_id_scale"),
            ["clinic_id", "response_id", "scale"],
        )


def downgrade() -> None:
    with op.batch_alter_table("score", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_score_clinic_id_response_id_scale"), type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_score_response_id_scale"), ["response_id", "scale"]
        )

    with op.batch_alter_table("response", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_response_clinic_id_assignment_id_client_id_assignment"),
            type_="foreignkey",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_response_clinic_id_assignment_id_assignment"),
            "assignment",
            ["clinic_id", "assignment_id"],
            ["clinic_id", "id"],
        )
        batch_op.drop_index(
            "uq_response_in_progress",
            postgresql_where=sa.text("status = 'in-progress'"),
            sqlite_where=sa.text("status = 'in-progress'"),
        )

    with op.batch_alter_table("portal_link", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_portal_link_clinic_id_assignment_id_client_id_assignment"),
            type_="foreignkey",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_portal_link_clinic_id_assignment_id_assignment"),
            "assignment",
            ["clinic_id", "assignment_id"],
            ["clinic_id", "id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_portal_link_clinic_id_client_id_client"),
            "client",
            ["clinic_id", "client_id"],
            ["clinic_id", "id"],
        )

    with op.batch_alter_table("assignment", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_assignment_clinic_id_id_client_id"), type_="unique")
        batch_op.drop_index("ix_assignment_updated")
