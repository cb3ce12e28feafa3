"""Telegram tables: every update received, the group chats linked to institutions, one-time
link codes, the RSVP cards posted in groups, and headcounts leaders record on the day.

Telegram ids are 64-bit (supergroup ids look like -1001234567890): ``BigInteger`` throughout.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, CleanString, CleanText

LINK_KINDS = ("group", "person")
GROUP_STATUSES = ("active", "removed")


class TelegramUpdate(Base):
    """An update exactly as Telegram sent it, stored before it is acknowledged: the unique
    ``update_id`` makes a replay a no-op, and an update not yet processed when the server
    stopped is processed at the next start."""

    __tablename__ = "telegram_updates"

    id: Mapped[int] = mapped_column(primary_key=True)
    update_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    # message | callback_query | ... | unknown (the update's own key: any text)
    kind: Mapped[str] = mapped_column(CleanString(32))
    # Lossless: serialised with JSON escapes (``\u0000`` for NUL), which both databases hold.
    raw: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime | None] = mapped_column(index=True)
    error: Mapped[str | None] = mapped_column(CleanText)  # may quote the update


class TelegramGroup(Base):
    """A group chat linked to an institution (an institution may have several groups)."""

    __tablename__ = "telegram_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    institution_id: Mapped[int] = mapped_column(
        ForeignKey("institutions.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(CleanString(200), default="")  # as Telegram sent it
    language: Mapped[str] = mapped_column(String(8), default="en")
    # "removed" once Telegram says the bot is no longer in the group (Forbidden).
    status: Mapped[str] = mapped_column(String(16), default="active")
    linked_by_user_id: Mapped[int | None] = mapped_column(BigInteger)
    linked_at: Mapped[datetime]
    # The basic group's id before Telegram upgraded it to a supergroup.
    migrated_from_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime]


class TelegramLinkCode(Base):
    """A one-time, expiring code: links a group to an institution (kind "group") or a Telegram
    account to a person (kind "person"). Only a hash of the code is stored."""

    __tablename__ = "telegram_link_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    institution_id: Mapped[int | None] = mapped_column(
        ForeignKey("institutions.id", ondelete="CASCADE")
    )
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    used_by_user_id: Mapped[int | None] = mapped_column(BigInteger)
    used_in_chat_id: Mapped[int | None] = mapped_column(BigInteger)


class TelegramCodeAttempt(Base):
    """A link code attempt held against a chat or a Telegram user (``key`` "chat:<id>" or
    "user:<id>"), in one of a few numbered slots: a wrong code keeps its slot until the window
    has passed (storage.telegram.CODE_ATTEMPTS, CODE_ATTEMPT_WINDOW). The unique (key, slot)
    means two workers can never take the same slot, and a key never has more rows than slots:
    a slot whose time has passed is taken again, not added to."""

    __tablename__ = "telegram_code_attempts"
    __table_args__ = (UniqueConstraint("key", "slot"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(32))
    slot: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime]


class TelegramRsvpCard(Base):
    """An RSVP card posted in a group: which action and institution its buttons and counts are
    for. ``message_id`` is filled in when the card has actually been sent."""

    __tablename__ = "telegram_rsvp_cards"

    id: Mapped[int] = mapped_column(primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, index=True)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id", ondelete="CASCADE"))
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id", ondelete="CASCADE"))
    posted_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]


class Headcount(Base):
    """A leader's count of the people their institution brought, on the day (``/count 37``),
    kept apart from individual check-ins (Attendance). The latest row per action and
    institution is the current count; earlier rows are its history."""

    __tablename__ = "headcounts"
    __table_args__ = (Index("ix_headcounts_action_institution", "action_id", "institution_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id", ondelete="CASCADE"))
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]
