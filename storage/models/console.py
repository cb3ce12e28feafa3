"""The organiser console's sign-in records: one-time codes and links, the attempts counted
against them, and the sessions a sign-in opens (bot/web/, storage/console.py).

No secret is stored in clear: a code, a link, a browser's pending sign-in and a session are
each a random token given to the browser once, and only its SHA-256 is kept here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base

SIGN_IN_KINDS = ("code", "link")
ATTEMPT_KINDS = ("request", "wrong_code")


class SignInCode(Base):
    """A pending sign-in. Kind ``code``: a browser asked for a code for a phone number;
    ``token_hash`` is its cookie's, ``code_hash`` the code sent to the person (bound to that
    token), and ``person_id`` is null when the number is nobody who may sign in (the browser is
    not told). Kind ``link``: a one-time sign-in link made by the operator (``turnout
    organisers link``); ``token_hash`` is the link's."""

    __tablename__ = "sign_in_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(8))
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16), default="")  # sms | telegram | ""
    client: Mapped[str] = mapped_column(String(64), default="")  # hash of the client address
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    wrong_attempts: Mapped[int] = mapped_column(Integer, default=0)


class SignInAttempt(Base):
    """One code asked for, or one wrong code typed: counted per person and per client over
    the lockout window (with the injected clock) to limit both."""

    __tablename__ = "sign_in_attempts"
    __table_args__ = (
        Index("ix_sign_in_attempts_client_at", "client", "at"),
        Index("ix_sign_in_attempts_person_at", "person_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(16))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    client: Mapped[str] = mapped_column(String(64))


class ConsoleSession(Base):
    """A signed-in browser. ``expires_at`` slides with use (idle timeout) but never past
    ``created_at`` plus the absolute maximum; ``last_seen_at`` is written at most once a
    minute. Revoked sessions stay listed until they are pruned."""

    __tablename__ = "console_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    method: Mapped[str] = mapped_column(String(8))  # code | link
    user_agent: Mapped[str] = mapped_column(String(100), default="")  # "Firefox on Android"
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    # signed_out | revoked (from another session) | role_removed
    revoked_reason: Mapped[str | None] = mapped_column(String(16))
