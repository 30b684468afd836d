"""create the foundation tables

Revision ID: 0001
Revises:
Create Date: 2026-11-22 04:35:25.306452
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# JSON documents: JSONB on PostgreSQL, JSON text on SQLite (as schemas.base.JSONDocument).
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "clinic",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clinic")),
    )
    op.create_table(
        "client",
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_client_clinic_id_clinic")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client")),
        sa.UniqueConstraint("clinic_id", "id", name=op.f("uq_client_clinic_id_id")),
    )
    op.create_table(
        "couple",
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("identifier_system", sa.String(length=255), nullable=True),
        sa.Column("identifier_value", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_couple_clinic_id_clinic")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_couple")),
        sa.UniqueConstraint("clinic_id", "id", name=op.f("uq_couple_clinic_id_id")),
        sa.UniqueConstraint(
            "clinic_id",
            "identifier_system",
            "identifier_value",
            name=op.f("uq_couple_clinic_id_identifier_system_identifier_value"),
        ),
    )
    op.create_table(
        "instrument",
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("url", sa.String(length=255), nullable=False),
        sa.Column("version", sa.String(length=50), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("questionnaire", JSON_DOCUMENT, nullable=False),
        sa.Column("scoring", JSON_DOCUMENT, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("source IN ('builtin', 'imported')", name=op.f("ck_instrument_source")),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_instrument_clinic_id_clinic")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instrument")),
        sa.UniqueConstraint("clinic_id", "id", name=op.f("uq_instrument_clinic_id_id")),
        sa.UniqueConstraint(
            "clinic_id", "url", "version", name=op.f("uq_instrument_clinic_id_url_version")
        ),
    )
    op.create_index("ix_instrument_slug", "instrument", ["clinic_id", "slug"])
    op.create_table(
        "assignment",
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("couple_id", sa.Uuid(), nullable=True),
        sa.Column("instrument_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("due", sa.Date(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('requested', 'in-progress', 'completed', 'cancelled')",
            name=op.f("ck_assignment_status"),
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id", "client_id"],
            ["client.clinic_id", "client.id"],
            name=op.f("fk_assignment_clinic_id_client_id_client"),
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id", "couple_id"],
            ["couple.clinic_id", "couple.id"],
            name=op.f("fk_assignment_clinic_id_couple_id_couple"),
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id", "instrument_id"],
            ["instrument.clinic_id", "instrument.id"],
            name=op.f("fk_assignment_clinic_id_instrument_id_instrument"),
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_assignment_clinic_id_clinic")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignment")),
        sa.UniqueConstraint("clinic_id", "id", name=op.f("uq_assignment_clinic_id_id")),
    )
    op.create_index(
        "ix_assignment_changes", "assignment", ["clinic_id", "status", "updated_at", "id"]
    )
    op.create_index("ix_assignment_client", "assignment", ["clinic_id", "client_id"])
    op.create_index("ix_assignment_couple", "assignment", ["clinic_id", "couple_id"])
    op.create_table(
        "client_identifier",
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("system", sa.String(length=255), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id", "client_id"],
            ["client.clinic_id", "client.id"],
            name=op.f("fk_client_identifier_clinic_id_client_id_client"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_client_identifier_clinic_id_clinic")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client_identifier")),
        sa.UniqueConstraint(
            "clinic_id", "system", "value", name=op.f("uq_client_identifier_clinic_id_system_value")
        ),
    )
    op.create_index("ix_client_identifier_client", "client_identifier", ["clinic_id", "client_id"])
    op.create_table(
        "couple_member",
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("couple_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.CheckConstraint("position IN (1, 2)", name=op.f("ck_couple_member_position")),
        sa.ForeignKeyConstraint(
            ["clinic_id", "client_id"],
            ["client.clinic_id", "client.id"],
            name=op.f("fk_couple_member_clinic_id_client_id_client"),
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id", "couple_id"],
            ["couple.clinic_id", "couple.id"],
            name=op.f("fk_couple_member_clinic_id_couple_id_couple"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_couple_member_clinic_id_clinic")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_couple_member")),
        sa.UniqueConstraint(
            "couple_id", "client_id", name=op.f("uq_couple_member_couple_id_client_id")
        ),
        sa.UniqueConstraint(
            "couple_id", "position", name=op.f("uq_couple_member_couple_id_position")
        ),
    )
    op.create_index("ix_couple_member_client", "couple_member", ["clinic_id", "client_id"])
    op.create_table(
        "response",
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("assignment_id", sa.Uuid(), nullable=True),
        sa.Column("instrument_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("authored", sa.DateTime(timezone=True), nullable=True),
        sa.Column("questionnaire_response", JSON_DOCUMENT, nullable=False),
        sa.Column("flags", JSON_DOCUMENT, nullable=False),
        sa.Column("replaces_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('in-progress', 'completed', 'amended', 'entered-in-error', 'stopped')",
            name=op.f("ck_response_status"),
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id", "assignment_id"],
            ["assignment.clinic_id", "assignment.id"],
            name=op.f("fk_response_clinic_id_assignment_id_assignment"),
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id", "client_id"],
            ["client.clinic_id", "client.id"],
            name=op.f("fk_response_clinic_id_client_id_client"),
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id", "instrument_id"],
            ["instrument.clinic_id", "instrument.id"],
            name=op.f("fk_response_clinic_id_instrument_id_instrument"),
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id", "replaces_id"],
            ["response.clinic_id", "response.id"],
            name=op.f("fk_response_clinic_id_replaces_id_response"),
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_response_clinic_id_clinic")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_response")),
        sa.UniqueConstraint("clinic_id", "id", name=op.f("uq_response_clinic_id_id")),
    )
    op.create_index("ix_response_assignment", "response", ["clinic_id", "assignment_id"])
    op.create_index(
        "ix_response_client_authored", "response", ["clinic_id", "client_id", "authored"]
    )
    op.create_table(
        "score",
        sa.Column("clinic_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("response_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("scale", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=255), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("min", sa.Float(), nullable=False),
        sa.Column("max", sa.Float(), nullable=False),
        sa.Column("band", sa.String(length=64), nullable=True),
        sa.Column("interpretation", sa.Text(), nullable=True),
        sa.Column("items_used", JSON_DOCUMENT, nullable=False),
        sa.Column("unscored_reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinic_id", "client_id"],
            ["client.clinic_id", "client.id"],
            name=op.f("fk_score_clinic_id_client_id_client"),
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id", "response_id"],
            ["response.clinic_id", "response.id"],
            name=op.f("fk_score_clinic_id_response_id_response"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["clinic_id"], ["clinic.id"], name=op.f("fk_score_clinic_id_clinic")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_score")),
        sa.UniqueConstraint("clinic_id", "id", name=op.f("uq_score_clinic_id_id")),
        sa.UniqueConstraint("response_id", "scale", name=op.f("uq_score_response_id_scale")),
    )
    op.create_index("ix_score_client_scale", "score", ["clinic_id", "client_id", "scale"])


def downgrade() -> None:
    op.drop_table("score")
    op.drop_table("response")
    op.drop_table("couple_member")
    op.drop_table("client_identifier")
    op.drop_table("assignment")
    op.drop_table("instrument")
    op.drop_table("couple")
    op.drop_table("client")
    op.drop_table("clinic")
