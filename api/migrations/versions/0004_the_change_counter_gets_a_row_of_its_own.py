"""the change counter gets a row of its own

Every foreign key to `clinic` checks the clinic's row; a counter column there,
updated by every change, slowed each of those checks on PostgreSQL. The count
moves, with its value, to `change_counter`.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 09:43:34.347053
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "change_counter",
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.BigInteger(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_change_counter_clinic_id_clinic")
        ),
        sa.PrimaryKeyConstraint("clinic_id", name=op.f("pk_change_counter")),
    )
    op.execute("INSERT INTO change_counter (clinic_id, seq) SELECT id, change_seq FROM clinic")
    # SQLite (3.35+) drops the column in place: rebuilding `clinic`, as batch mode
    # would, is refused while other tables' rows refer to it.
    op.drop_column("clinic", "change_seq")


def downgrade() -> None:
    with op.batch_alter_table("clinic", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("change_seq", sa.BigInteger(), server_default="0", nullable=False)
        )
    op.execute(
        "UPDATE clinic SET change_seq = "
        "(SELECT seq FROM change_counter WHERE change_counter.clinic_id = clinic.id)"
    )
    op.drop_table("change_counter")
