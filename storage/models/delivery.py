"""Delivery tables: the send-rate buckets every worker shares (scheduler/delivery/ratelimit.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class SendRateBucket(Base):
    """One rate limit shared by all workers: an SMS sender, the Telegram bot, one Telegram chat.

    ``next_free`` is the earliest moment the next unit (an SMS segment, a Telegram message) may
    go out; reserving ``n`` units moves it on by ``n / rate`` seconds (GCRA, no burst).
    """

    __tablename__ = "send_rate_buckets"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    next_free: Mapped[datetime]
    updated_at: Mapped[datetime]
