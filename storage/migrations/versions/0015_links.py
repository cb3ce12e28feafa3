"""one table for capability links: leader links become capability_links of kind "leader"

Every leader_links row moves with its token's hash (so every URL handed out keeps working),
its action, institution, leader, times and revocation; capability_links gains
``last_used_at`` (a leader link's last use). The moved rows get new ids: audit entries made
before this migration name a leader link by its old id. The downgrade moves them back.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 09:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models.base

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = storage.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.add_column("capability_links", sa.Column("last_used_at", UTC_DATETIME, nullable=True))
    op.execute(
        "INSERT INTO capability_links (kind, token_hash, action_id, institution_id, person_id,"
        " label, created_by_id, created_at, expires_at, revoked_at, last_used_at)"
        " SELECT 'leader', token_hash, action_id, institution_id, person_id, '', NULL,"
        " created_at, expires_at, revoked_at, last_used_at FROM leader_links ORDER BY id"
    )
    op.drop_index(op.f("ix_leader_links_person_id"), table_name="leader_links")
    op.drop_index(op.f("ix_leader_links_action_id"), table_name="leader_links")
    op.drop_table("leader_links")


def downgrade() -> None:
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
    op.execute(
        "INSERT INTO leader_links (token_hash, person_id, action_id, institution_id,"
        " created_at, expires_at, revoked_at, last_used_at)"
        " SELECT token_hash, person_id, action_id, institution_id, created_at, expires_at,"
        " revoked_at, last_used_at FROM capability_links WHERE kind = 'leader'"
        " AND person_id IS NOT NULL AND institution_id IS NOT NULL AND expires_at IS NOT NULL"
        " ORDER BY id"
    )
    op.execute("DELETE FROM capability_links WHERE kind = 'leader'")
    with op.batch_alter_table("capability_links") as batch:
        batch.drop_column("last_used_at")
