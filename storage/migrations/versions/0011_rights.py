"""people's data rights: consent history, suppressed numbers, young people, erasure

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models.base

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_DATETIME = storage.models.base.UTCDateTime(timezone=True)

# PostgreSQL: the audit log stays append-only; besides the foreign key's ON DELETE SET NULL,
# erasing a person may now replace the name an entry was signed with by "erased person"
# (storage/erase.py), and nothing else.
APPEND_ONLY = """
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND (NEW.actor_person_id IS NULL OR NEW.actor_person_id = OLD.actor_person_id)
       AND OLD.actor_person_id IS NOT NULL
       AND (NEW.actor_label = OLD.actor_label OR NEW.actor_label = 'erased person')
       AND (NEW.id, NEW.at, NEW.via, NEW.action, NEW.subject_type,
            NEW.subject_id, NEW.details::text)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.at, OLD.via, OLD.action, OLD.subject_type,
            OLD.subject_id, OLD.details::text)
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
END
$$
"""
PREVIOUS = """
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND OLD.actor_person_id IS NOT NULL AND NEW.actor_person_id IS NULL
       AND (NEW.id, NEW.at, NEW.actor_label, NEW.via, NEW.action, NEW.subject_type,
            NEW.subject_id, NEW.details::text)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.at, OLD.actor_label, OLD.via, OLD.action, OLD.subject_type,
            OLD.subject_id, OLD.details::text)
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
END
$$
"""

# History begins with today's state: one event per person, its source as the row says. STOP and
# START were recorded under the channel's name ("sms", "telegram"); "telegram" also meant a
# Telegram link (opted in), so an opted-in "telegram" is read as that.
BACKFILL = """
INSERT INTO consent_events (person_id, state, source, channel, words, at)
SELECT id, consent,
       CASE
           WHEN consent_source IN ('sms', 'telegram') AND consent = 'opted_out' THEN 'stop_word'
           WHEN consent_source = 'sms' THEN 'start_word'
           WHEN consent_source IN
               ('texted_in', 'import', 'carrier', 'organiser', 'telegram', 'face_to_face')
               THEN consent_source
           ELSE 'backfill'
       END,
       CASE
           WHEN consent_source = 'sms' THEN 'sms'
           WHEN consent_source = 'telegram' AND consent = 'opted_out' THEN 'telegram'
       END,
       NULL, consent_at
FROM people
"""


def upgrade() -> None:
    op.create_table(
        "consent_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("words", sa.Text(), nullable=True),
        sa.Column("at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_consent_events_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_events")),
    )
    op.create_index(op.f("ix_consent_events_at"), "consent_events", ["at"], unique=False)
    op.create_index(
        op.f("ix_consent_events_person_id"), "consent_events", ["person_id"], unique=False
    )
    op.create_table(
        "suppressions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppressions")),
        sa.UniqueConstraint("key", name=op.f("uq_suppressions_key")),
    )
    with op.batch_alter_table("people") as batch_op:
        batch_op.add_column(
            sa.Column("under_16", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("born_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("adult_name", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("adult_relation", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("adult_consent_at", UTC_DATETIME, nullable=True))
        batch_op.add_column(sa.Column("erased_at", UTC_DATETIME, nullable=True))
    op.execute(BACKFILL)
    # The current-state column says the same as its (only) event from now on.
    op.execute(
        "UPDATE people SET consent_source = "
        "(SELECT source FROM consent_events WHERE consent_events.person_id = people.id)"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PREVIOUS)
    with op.batch_alter_table("people") as batch_op:
        for column in (
            "erased_at",
            "adult_consent_at",
            "adult_relation",
            "adult_name",
            "born_on",
            "under_16",
        ):
            batch_op.drop_column(column)
    op.drop_table("suppressions")
    op.drop_index(op.f("ix_consent_events_person_id"), table_name="consent_events")
    op.drop_index(op.f("ix_consent_events_at"), table_name="consent_events")
    op.drop_table("consent_events")
