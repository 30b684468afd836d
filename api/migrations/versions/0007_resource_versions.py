"""resource versions: clients, couples, assignments and responses count their changes

FHIR's meta.versionId and ETag: each row starts at version 1 and every
change adds one (assignments count the changes `stamp_changes` and
`number_status_change` number; an in-progress response each save).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("client", "couple", "assignment", "response")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("version", sa.Integer(), server_default="1", nullable=False)
            )


def downgrade() -> None:
    for table in reversed(TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("version")
