"""Listening campaigns: questions, who was asked what, free-text answers, themes, follow-ups.

Every table that holds something a person said or agreed to points at ``people`` with
``ON DELETE CASCADE``: erasing a person erases their answers, themes, consent and follow-ups.

Enumerations are short strings validated in Python (the ``*_VALUES`` tuples), as in core.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base

CAMPAIGN_STATUSES = ("open", "closed")
CONTACT_STATUSES = (
    "asking",  # a question (or the consent step) awaits this person's answer
    "done",  # answered everything, or was listened to face to face / through the inbox
    "stopped",  # texted STOP during the campaign: nothing more is sent
    "expired",  # replied after the campaign closed and was told so
)
ANSWER_SOURCES = ("sms", "telegram", "face_to_face", "inbox")
CONVERSATION_KINDS = ("one_to_one", "house_meeting", "doorstep")
TAG_SOURCES = ("none", "rule", "manual")
CONSENT_ANSWERS = ("yes", "no")


class ListeningCampaign(Base):
    __tablename__ = "listening_campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Short name commands use ("south-listens"); unique.
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]
    # How many people the alliance means to listen to (e.g. 705); shown against "listened".
    target: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(16), default="open")
    # Hours without an answer before the one nudge; 0 = never nudge.
    nudge_after_hours: Mapped[int] = mapped_column(Integer, default=72)
    # A second text within this many seconds of an answer is joined to it (0 = never).
    join_seconds: Mapped[int] = mapped_column(Integer, default=15)
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]


class ListeningQuestion(Base):
    """One question of a campaign, in order; ``texts`` maps a language code to its text."""

    __tablename__ = "listening_questions"
    __table_args__ = (UniqueConstraint("campaign_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("listening_campaigns.id", ondelete="CASCADE")
    )
    position: Mapped[int] = mapped_column(Integer)  # 0, 1, 2, ...
    texts: Mapped[dict[str, str]] = mapped_column(JSON)


class ListeningContact(Base):
    """Where one person stands in one campaign: which step awaits them, and their consent.

    ``step`` is the position of the question awaiting an answer; ``step == len(questions)``
    is the consent step. ``asked_at`` is when the pending step was (or will be, after quiet
    hours) sent: a text that arrives before it is not an answer to it.
    """

    __tablename__ = "listening_contacts"
    __table_args__ = (UniqueConstraint("campaign_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("listening_campaigns.id", ondelete="CASCADE")
    )
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="asking", index=True)
    step: Mapped[int] = mapped_column(Integer, default=0)
    channel: Mapped[str | None] = mapped_column(String(16))  # sms | telegram; None face to face
    asked_at: Mapped[datetime | None]
    # The one nudge a person may get in a campaign (never reset).
    nudged_at: Mapped[datetime | None]
    first_answer_at: Mapped[datetime | None]  # set: this person has been listened to
    last_answer_at: Mapped[datetime | None]
    consent: Mapped[str | None] = mapped_column(String(8))  # yes | no | None (not answered)
    consent_at: Mapped[datetime | None]
    source: Mapped[str] = mapped_column(String(16), default="sent")  # sent | face_to_face | inbox
    created_at: Mapped[datetime]


class ListeningAnswer(Base):
    """Something a person said: a text answer, an inbox message attached by an organiser, or
    notes of a face-to-face conversation logged by a leader. Personal data: never posted to a
    group chat, never exported except the fields an organiser asks for."""

    __tablename__ = "listening_answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("listening_campaigns.id", ondelete="CASCADE"), index=True
    )
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    # None for a face-to-face conversation or an inbox message attached to the campaign.
    question_id: Mapped[int | None] = mapped_column(
        ForeignKey("listening_questions.id", ondelete="SET NULL")
    )
    body: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(8))
    source: Mapped[str] = mapped_column(String(16))
    conversation_kind: Mapped[str | None] = mapped_column(String(16))
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    # The message it came from; unique, so one message is never two answers.
    inbound_id: Mapped[int | None] = mapped_column(
        ForeignKey("inbound_messages.id", ondelete="SET NULL"), unique=True
    )
    received_at: Mapped[datetime]
    # How the themes were set: none yet, by the rules, or by hand (manual wins over rules).
    tag_source: Mapped[str] = mapped_column(String(8), default="none")


class ListeningTheme(Base):
    """A theme of one campaign ("housing"), seeded from config/themes.toml, editable."""

    __tablename__ = "listening_themes"
    __table_args__ = (UniqueConstraint("campaign_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("listening_campaigns.id", ondelete="CASCADE")
    )
    key: Mapped[str] = mapped_column(String(64))
    # Short label per language ("Housing", "Tai", "Mieszkania"), for tables and report-backs.
    labels: Mapped[dict[str, str]] = mapped_column(JSON)
    position: Mapped[int] = mapped_column(Integer, default=0)


class ListeningThemeRule(Base):
    """A keyword or phrase that tags an answer with a theme (``rent``, ``food bank``,
    ``mieszkan*`` as a prefix). Matched on normalised text: storage.listening_themes."""

    __tablename__ = "listening_theme_rules"
    __table_args__ = (UniqueConstraint("theme_id", "language", "phrase"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    theme_id: Mapped[int] = mapped_column(ForeignKey("listening_themes.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(8))
    phrase: Mapped[str] = mapped_column(String(200))


class ListeningAnswerTheme(Base):
    __tablename__ = "listening_answer_themes"

    answer_id: Mapped[int] = mapped_column(
        ForeignKey("listening_answers.id", ondelete="CASCADE"), primary_key=True
    )
    theme_id: Mapped[int] = mapped_column(
        ForeignKey("listening_themes.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    source: Mapped[str] = mapped_column(String(8), default="rule")  # rule | manual


class ListeningFollowUp(Base):
    """A leader or organiser followed a listened-to person up (a call, a visit, a coffee)."""

    __tablename__ = "listening_follow_ups"
    __table_args__ = (Index("ix_listening_follow_ups_campaign_person", "campaign_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("listening_campaigns.id", ondelete="CASCADE")
    )
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    by_name: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    channel: Mapped[str] = mapped_column(String(16), default="cli")
    at: Mapped[datetime]
