"""clinic embed origins: the pages that may frame the embedded couple report

A JSON list of origins (`https://pm.example`) per clinic, written into the
report page's Content-Security-Policy `frame-ancestors`. Existing clinics
start with none, so no page frames their report until they say which may.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("clinic", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "embed_origins",
                sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
                server_default="[]",
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("clinic", schema=None) as batch_op:
        batch_op.drop_column("embed_origins")
