"""response identifiers: a QuestionnaireResponse's business identifier, searchable

FHIR search by `identifier` on QuestionnaireResponse reads real indexed
columns, taken from the response's own `identifier` when it is recorded.

Also: the index of responses by assignment gains `created_at`. An
assignment's latest response is read with ORDER BY created_at; once 0008
added (clinic_id, created_at, id), SQLite chose that index to avoid the sort
and walked every response of the clinic for each assignment (assignment
pages fell from 434 to 5 a second in bench/workflow.py).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28 15:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("response", schema=None) as batch_op:
        batch_op.add_column(sa.Column("identifier_system", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("identifier_value", sa.String(length=255), nullable=True))
        batch_op.create_index(
            "ix_response_identifier",
            ["clinic_id", "identifier_value", "identifier_system"],
            unique=False,
        )
        batch_op.drop_index("ix_response_assignment")
        batch_op.create_index(
            "ix_response_assignment", ["clinic_id", "assignment_id", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("response", schema=None) as batch_op:
        batch_op.drop_index("ix_response_assignment")
        batch_op.create_index(
            "ix_response_assignment", ["clinic_id", "assignment_id"], unique=False
        )
        batch_op.drop_index("ix_response_identifier")
        batch_op.drop_column("identifier_value")
        batch_op.drop_column("identifier_system")
