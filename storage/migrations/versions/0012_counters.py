"""assembly day: action counters, capability links (board, steward, leader), board states

Revision ID: 0012
Revises: 0010
Create Date: 2026-11-30 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models.base

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = storage.models.base.UTCDateTime(timezone=True)
CLEAN_STRING = storage.models.base.CleanString(100)

# The counters of the actions already on record, from their rows (storage/counters.py keeps
# them from here on): per institution (0: in none), and everyone once (-1).
RSVPS = """
SELECT i.action_id, {bucket}, COUNT(*),
       SUM(CASE WHEN i.response = 'yes' THEN 1 ELSE 0 END),
       SUM(CASE WHEN i.response = 'yes' THEN i.guests ELSE 0 END),
       SUM(CASE WHEN i.response = 'maybe' THEN 1 ELSE 0 END),
       SUM(CASE WHEN i.response = 'no' THEN 1 ELSE 0 END)
FROM invitations i {join} GROUP BY i.action_id{group}
"""
ATTENDED = (
    "SELECT a.action_id, {bucket}, COUNT(*) FROM attendance a {join} GROUP BY a.action_id{group}"
)
HEADCOUNTS = """
SELECT h.action_id, h.institution_id, h.number FROM headcounts h
WHERE h.id IN (SELECT MAX(id) FROM headcounts GROUP BY action_id, institution_id)
"""
FIELDS = ("invited", "yes", "guests", "maybe", "no")


def _backfill() -> None:
    bind = op.get_bind()
    rows: dict[tuple[int, int], dict[str, int | None]] = {}

    def row(action_id: int, bucket: int | None) -> dict[str, int | None]:
        key = (int(action_id), -1 if bucket is None else int(bucket))
        return rows.setdefault(key, {**dict.fromkeys((*FIELDS, "attended"), 0), "headcount": None})

    for person in ("i", "a"):
        join = f"LEFT JOIN memberships m ON m.person_id = {person}.person_id"
        by_institution = {"bucket": "COALESCE(m.institution_id, 0)", "join": join}
        by_institution["group"] = ", COALESCE(m.institution_id, 0)"
        everyone = {"bucket": "NULL", "join": "", "group": ""}
        for parts in (by_institution, everyone):
            if person == "i":
                for action_id, bucket, *counts in bind.execute(sa.text(RSVPS.format(**parts))):
                    row(action_id, bucket).update(zip(FIELDS, map(int, counts), strict=True))
            else:
                for action_id, bucket, n in bind.execute(sa.text(ATTENDED.format(**parts))):
                    row(action_id, bucket)["attended"] = int(n)
    for action_id, institution_id, number in bind.execute(sa.text(HEADCOUNTS)):
        row(action_id, institution_id)["headcount"] = int(number)
    if not rows:
        return
    actions = sa.table("actions", sa.column("id"), sa.column("updated_at", UTC_DATETIME))
    updated = {aid: at for aid, at in bind.execute(sa.select(actions.c.id, actions.c.updated_at))}
    table = sa.table(
        "action_counters",
        *(sa.column(name) for name in ("action_id", "bucket", *FIELDS, "attended", "headcount")),
        sa.column("seq"),
        sa.column("updated_at", UTC_DATETIME),
    )
    op.bulk_insert(
        table,
        [
            {"action_id": aid, "bucket": bucket, **values, "seq": 1, "updated_at": updated[aid]}
            for (aid, bucket), values in sorted(rows.items())
        ],
    )


def upgrade() -> None:
    op.create_table(
        "action_counters",
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("invited", sa.Integer(), nullable=False),
        sa.Column("yes", sa.Integer(), nullable=False),
        sa.Column("guests", sa.Integer(), nullable=False),
        sa.Column("maybe", sa.Integer(), nullable=False),
        sa.Column("no", sa.Integer(), nullable=False),
        sa.Column("attended", sa.Integer(), nullable=False),
        sa.Column("headcount", sa.Integer(), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["actions.id"],
            name=op.f("fk_action_counters_action_id_actions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("action_id", "bucket", name=op.f("pk_action_counters")),
    )
    _backfill()
    op.create_table(
        "capability_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=True),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("label", CLEAN_STRING, nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("expires_at", UTC_DATETIME, nullable=True),
        sa.Column("revoked_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["actions.id"],
            name=op.f("fk_capability_links_action_id_actions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["people.id"],
            name=op.f("fk_capability_links_created_by_id_people"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["institution_id"],
            ["institutions.id"],
            name=op.f("fk_capability_links_institution_id_institutions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_capability_links_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_capability_links")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_capability_links_token_hash")),
    )
    op.create_index(
        "ix_capability_links_action_kind",
        "capability_links",
        ["action_id", "kind"],
        unique=False,
    )
    op.create_table(
        "board_states",
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("highlight", sa.Integer(), nullable=True),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["actions.id"],
            name=op.f("fk_board_states_action_id_actions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("action_id", name=op.f("pk_board_states")),
    )


def downgrade() -> None:
    op.drop_table("board_states")
    op.drop_index("ix_capability_links_action_kind", table_name="capability_links")
    op.drop_table("capability_links")
    op.drop_table("action_counters")
