"""The console's working tables: who an inbox text is assigned to, and a spreadsheet uploaded
to the import wizard between its preview and its confirmation (bot/web/inbox.py,
bot/web/importing.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class InboxAssignment(Base):
    """An inbox text given to a leader (or organiser) to deal with. Done or open stays on
    ``inbound_messages.inbox_status``; this says whose it is."""

    __tablename__ = "inbox_assignments"

    inbound_id: Mapped[int] = mapped_column(
        ForeignKey("inbound_messages.id", ondelete="CASCADE"), primary_key=True
    )
    assigned_to_id: Mapped[int] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), index=True
    )
    assigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    assigned_at: Mapped[datetime]


class ConsoleUpload(Base):
    """A spreadsheet waiting for its confirmation. Kept here, never in the page: the confirm
    form carries only a token, whose SHA-256 is stored, and only the console session that
    uploaded it may confirm it. Deleted when imported, and pruned after it expires."""

    __tablename__ = "console_uploads"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("console_sessions.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(200), default="")
    content: Mapped[str] = mapped_column(Text)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
