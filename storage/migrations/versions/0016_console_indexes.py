"""console pages: invitations indexed by (action, responded_at) and (action, invited_at), so
Today finds the institutions gone quiet from the invitations since a cutoff; people by
(name, id), so a list by name reads its first page in order

Revision ID: 0016
Revises: 0014
Create Date: 2026-11-30 10:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.create_index("ix_people_name", ["name", "id"], unique=False)
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_invitations_action_responded", ["action_id", "responded_at"], unique=False
        )
        batch_op.create_index(
            "ix_invitations_action_invited", ["action_id", "invited_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("invitations", schema=None) as batch_op:
        batch_op.drop_index("ix_invitations_action_invited")
        batch_op.drop_index("ix_invitations_action_responded")
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_index("ix_people_name")
