"""scores an instrument calculates: a score's range may be unknown

An imported instrument that calculates its own totals (SDC) gives scores
whose range Tandem cannot know, so `score.min` and `score.max` may be null.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 15:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("score", schema=None) as batch_op:
        batch_op.alter_column("min", existing_type=sa.Float(), nullable=True)
        batch_op.alter_column("max", existing_type=sa.Float(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM score WHERE min IS NULL OR max IS NULL")
    with op.batch_alter_table("score", schema=None) as batch_op:
        batch_op.alter_column("min", existing_type=sa.Float(), nullable=False)
        batch_op.alter_column("max", existing_type=sa.Float(), nullable=False)
