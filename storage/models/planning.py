"""Planning tables: per-action reminder ladder settings, daily rollup snapshots (the digest's
"change since yesterday"), and attachments to outbox rows (the digest's chart image)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class ActionReminder(Base):
    """One step of an action's reminder ladder that differs from the default ladder
    (scheduler.reminders.DEFAULT_LADDER): a new offset, or the step switched off."""

    __tablename__ = "action_reminders"
    __table_args__ = (UniqueConstraint("action_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    # Minutes from the step's anchor (the action's start or end; negative = before).
    # Null switches the step off for this action.
    offset_minutes: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime]


class RollupSnapshot(Base):
    """An action's rollup as it stood on one (alliance-local) day, one row per action per day.

    ``counts`` maps a row key (an institution id as text, ``"none"``, ``"total"``) to that row's
    numbers (``yes``, ``guests``, ``maybe``, ``no``, ``not_replied``, ``attended``, ``committed``).
    """

    __tablename__ = "rollup_snapshots"
    __table_args__ = (UniqueConstraint("action_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    taken_at: Mapped[datetime]
    counts: Mapped[dict[str, Any]] = mapped_column(JSON)


class OutboxAttachment(Base):
    """A file sent with an outbox row (the digest chart, a PNG): one per row. A channel that
    can send files (Telegram: sendPhoto with the row's body as caption) sends it; others ignore
    it."""

    __tablename__ = "outbox_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), unique=True)
    filename: Mapped[str] = mapped_column(String(100))
    content_type: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
