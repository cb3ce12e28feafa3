"""assembly day and after: leader links, walk-ins' pending questions, asks and promises

Revision ID: 0013
Revises: 0010
Create Date: 2026-11-30 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models.base

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = storage.models.base.UTCDateTime(timezone=True)
CLEAN_TEXT = storage.models.base.CleanText()


def clean(length: int) -> storage.models.base.CleanString:
    return storage.models.base.CleanString(length)


def upgrade() -> None:
    op.create_table(
        "leader_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.Column("revoked_at", UTC_DATETIME, nullable=True),
        sa.Column("last_used_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["actions.id"],
            name=op.f("fk_leader_links_action_id_actions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_leader_links_institution_id_institutions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_leader_links_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leader_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_leader_links_token_hash")),
    )
    op.create_index(op.f("ix_leader_links_action_id"), "leader_links", ["action_id"])
    op.create_index(op.f("ix_leader_links_person_id"), "leader_links", ["person_id"])
    op.create_table(
        "pending_questions",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("tries", sa.Integer(), nullable=False),
        sa.Column("asked_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["actions.id"],
            name=op.f("fk_pending_questions_action_id_actions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_pending_questions_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_pending_questions")),
    )
    op.create_table(
        "promises",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("holder_name", clean(200), nullable=False),
        sa.Column("holder_role", clean(200), nullable=False),
        sa.Column("holder_organisation", clean(200), nullable=False),
        sa.Column("ask", CLEAN_TEXT, nullable=False),
        sa.Column("answer", sa.String(length=16), nullable=False),
        sa.Column("words", CLEAN_TEXT, nullable=False),
        sa.Column("due_on", sa.Date(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("note", CLEAN_TEXT, nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["actions.id"],
            name=op.f("fk_promises_action_id_actions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_promises")),
    )
    op.create_index(op.f("ix_promises_action_id"), "promises", ["action_id"])
    op.create_index(op.f("ix_promises_due_on"), "promises", ["due_on"])


def downgrade() -> None:
    op.drop_index(op.f("ix_promises_due_on"), table_name="promises")
    op.drop_index(op.f("ix_promises_action_id"), table_name="promises")
    op.drop_table("promises")
    op.drop_table("pending_questions")
    op.drop_index(op.f("ix_leader_links_person_id"), table_name="leader_links")
    op.drop_index(op.f("ix_leader_links_action_id"), table_name="leader_links")
    op.drop_table("leader_links")
