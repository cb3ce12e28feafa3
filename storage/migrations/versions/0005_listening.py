"""listening: campaigns, questions, contacts, answers, themes and rules, follow-ups

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-24 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import storage.models.base

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "listening_campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("starts_at", storage.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ends_at", storage.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("target", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("nudge_after_hours", sa.Integer(), nullable=False),
        sa.Column("join_seconds", sa.Integer(), nullable=False),
        sa.Column("created_at", storage.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", storage.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_listening_campaigns")),
        sa.UniqueConstraint("slug", name=op.f("uq_listening_campaigns_slug")),
    )
    op.create_table(
        "listening_contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("asked_at", storage.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("nudged_at", storage.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("first_answer_at", storage.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_answer_at", storage.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("consent", sa.String(length=8), nullable=True),
        sa.Column("consent_at", storage.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", storage.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["listening_campaigns.id"],
            name=op.f("fk_listening_contacts_campaign_id_listening_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_listening_contacts_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_listening_contacts")),
        sa.UniqueConstraint(
            "campaign_id", "person_id", name=op.f("uq_listening_contacts_campaign_id_person_id")
        ),
    )
    with op.batch_alter_table("listening_contacts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_listening_contacts_person_id"), ["person_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_listening_contacts_status"), ["status"], unique=False)

    op.create_table(
        "listening_follow_ups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("by_id", sa.Integer(), nullable=True),
        sa.Column("by_name", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("at", storage.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["by_id"],
            ["people.id"],
            name=op.f("fk_listening_follow_ups_by_id_people"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["listening_campaigns.id"],
            name=op.f("fk_listening_follow_ups_campaign_id_listening_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_listening_follow_ups_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_listening_follow_ups")),
    )
    with op.batch_alter_table("listening_follow_ups", schema=None) as batch_op:
        batch_op.create_index(
            "ix_listening_follow_ups_campaign_person", ["campaign_id", "person_id"], unique=False
        )

    op.create_table(
        "listening_questions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("texts", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["listening_campaigns.id"],
            name=op.f("fk_listening_questions_campaign_id_listening_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_listening_questions")),
        sa.UniqueConstraint(
            "campaign_id", "position", name=op.f("uq_listening_questions_campaign_id_position")
        ),
    )
    op.create_table(
        "listening_themes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["listening_campaigns.id"],
            name=op.f("fk_listening_themes_campaign_id_listening_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_listening_themes")),
        sa.UniqueConstraint("campaign_id", "key", name=op.f("uq_listening_themes_campaign_id_key")),
    )
    op.create_table(
        "listening_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("question_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("conversation_kind", sa.String(length=16), nullable=True),
        sa.Column("recorded_by_id", sa.Integer(), nullable=True),
        sa.Column("inbound_id", sa.Integer(), nullable=True),
        sa.Column("received_at", storage.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("tag_source", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["listening_campaigns.id"],
            name=op.f("fk_listening_answers_campaign_id_listening_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["inbound_id"],
            ["inbound_messages.id"],
            name=op.f("fk_listening_answers_inbound_id_inbound_messages"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["people.id"],
            name=op.f("fk_listening_answers_person_id_people"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["question_id"],
            ["listening_questions.id"],
            name=op.f("fk_listening_answers_question_id_listening_questions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"],
            ["people.id"],
            name=op.f("fk_listening_answers_recorded_by_id_people"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_listening_answers")),
        sa.UniqueConstraint("inbound_id", name=op.f("uq_listening_answers_inbound_id")),
    )
    with op.batch_alter_table("listening_answers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_listening_answers_campaign_id"), ["campaign_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_listening_answers_person_id"), ["person_id"], unique=False
        )

    op.create_table(
        "listening_theme_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("theme_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("phrase", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["theme_id"],
            ["listening_themes.id"],
            name=op.f("fk_listening_theme_rules_theme_id_listening_themes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_listening_theme_rules")),
        sa.UniqueConstraint(
            "theme_id",
            "language",
            "phrase",
            name=op.f("uq_listening_theme_rules_theme_id_language_phrase"),
        ),
    )
    op.create_table(
        "listening_answer_themes",
        sa.Column("answer_id", sa.Integer(), nullable=False),
        sa.Column("theme_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(
            ["answer_id"],
            ["listening_answers.id"],
            name=op.f("fk_listening_answer_themes_answer_id_listening_answers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["theme_id"],
            ["listening_themes.id"],
            name=op.f("fk_listening_answer_themes_theme_id_listening_themes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("answer_id", "theme_id", name=op.f("pk_listening_answer_themes")),
    )
    with op.batch_alter_table("listening_answer_themes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_listening_answer_themes_theme_id"), ["theme_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("listening_answer_themes")
    op.drop_table("listening_theme_rules")
    op.drop_table("listening_answers")
    op.drop_table("listening_themes")
    op.drop_table("listening_questions")
    op.drop_table("listening_follow_ups")
    op.drop_table("listening_contacts")
    op.drop_table("listening_campaigns")
