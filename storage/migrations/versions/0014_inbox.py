"""console pages: inbox assignments; spreadsheets waiting in the import wizard

Revision ID: 0014
Revises: 0010
Create Date: 2026-11-30 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models.base

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = storage.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "inbox_assignments",
        sa.Column("inbound_id", sa.Integer(), nullable=False),
        sa.Column("assigned_to_id", sa.Integer(), nullable=False),
        sa.Column("assigned_by_id", sa.Integer(), nullable=True),
        sa.Column("assigned_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["inbound_id"],
            ["inbound_messages.id"],
            name=op.f("fk_inbox_assignments_inbound_id_inbound_messages"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["assigned_to_id"],
            ["people.id"],
            name=op.f("fk_inbox_assignments_assigned_to_id_people"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["assigned_by_id"],
            ["people.id"],
            name=op.f("fk_inbox_assignments_assigned_by_id_people"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("inbound_id", name=op.f("pk_inbox_assignments")),
    )
    with op.batch_alter_table("inbox_assignments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_inbox_assignments_assigned_to_id"), ["assigned_to_id"], unique=False
        )
    op.create_table(
        "console_uploads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["console_sessions.id"],
            name=op.f("fk_console_uploads_session_id_console_sessions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_console_uploads")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_console_uploads_token_hash")),
    )
    with op.batch_alter_table("console_uploads", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_console_uploads_session_id"), ["session_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("console_uploads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_uploads_session_id"))
    op.drop_table("console_uploads")
    with op.batch_alter_table("inbox_assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbox_assignments_assigned_to_id"))
    op.drop_table("inbox_assignments")
