"""The audit log: who changed what, when, and through which door (storage/audit.py writes it;
nothing updates or deletes a row: on PostgreSQL a trigger refuses it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base

AUDIT_VIA = ("web", "cli", "telegram", "sms")


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_subject", "subject_type", "subject_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    # Null for the operator (the CLI) and for someone not signed in; set to null if the person
    # is erased (the only change PostgreSQL's trigger lets through).
    actor_person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), index=True
    )
    actor_label: Mapped[str] = mapped_column(String(200))
    via: Mapped[str] = mapped_column(String(16))  # one of AUDIT_VIA
    action: Mapped[str] = mapped_column(String(64))  # a verb: sign_in_succeeded, ...
    subject_type: Mapped[str] = mapped_column(String(32))  # person, console_session, ...
    subject_id: Mapped[int | None]
    # Ids, counts, channels, outcomes: never message text or a phone number.
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
