"""a score names its response, client and clinic in one key

A score row had three foreign keys (its clinic, its client, its response) and
a unique (clinic_id, id) that no key referenced. Now one key names the
response with its clinic and its client, against a new unique index on
`response` (clinic_id, id, client_id): a score can no longer name a client other than its
response's, and a submission checks one key a score row instead of three
(on PostgreSQL each check also locked the clinic's or the client's row).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 11:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # An index, so SQLite adds it in place; a constraint would rebuild `response`, copying
    # every response document.
    op.create_index(
        "uq_response_clinic_id_id_client_id",
        "response",
        ["clinic_id", "id", "client_id"],
        unique=True,
    )

    with op.batch_alter_table("score", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_score_clinic_id_id"), type_="unique")
        batch_op.drop_constraint(batch_op.f("fk_score_clinic_id_clinic"), type_="foreignkey")
        batch_op.drop_constraint(
            batch_op.f("fk_score_clinic_id_client_id_client"), type_="foreignkey"
        )
        batch_op.drop_constraint(
            batch_op.f("fk_score_clinic_id_response_id_response"), type_="foreignkey"
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_score_clinic_id_response_id_client_id_response"),
            "response",
            ["clinic_id", "response_id", "client_id"],
            ["clinic_id", "id", "client_id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("score", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_score_clinic_id_response_id_client_id_response"), type_="foreignkey"
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_score_clinic_id_response_id_response"),
            "response",
            ["clinic_id", "response_id"],
            ["clinic_id", "id"],
            ondelete="CASCADE",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_score_clinic_id_client_id_client"),
            "client",
            ["clinic_id", "client_id"],
            ["clinic_id", "id"],
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_score_clinic_id_clinic"), "clinic", ["clinic_id"], ["id"]
        )
        batch_op.create_unique_constraint(batch_op.f("uq_score_clinic_id_id"), ["clinic_id", "id"])

    op.drop_index("uq_response_clinic_id_id_client_id", table_name="response")
