"""The organising domain: institutions, people, actions, RSVPs, commitments, attendance,
and the message log (inbound messages and the outbox).

Enumerations are stored as short strings and validated in Python (the ``*_VALUES`` tuples),
which keeps migrations simple on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from storage.models.base import Base, CleanString, CleanText
from storage.models.rights import ConsentEvent

INSTITUTION_KINDS = ("faith", "school", "union", "charity", "other")
INSTITUTION_STATUSES = ("member", "joining", "former")
ROLES = ("member", "leader", "organiser")
# A person's role for the whole alliance, apart from any institution (people.alliance_role): an
# organiser the operator made with `turnout organisers add` need not belong to an institution.
ALLIANCE_ROLES = ("organiser",)
ACTION_KINDS = ("assembly", "action", "house_meeting", "training")
ACTION_STATUSES = ("scheduled", "cancelled")
RESPONSES = ("yes", "no", "maybe")
CONSENT_STATES = ("unknown", "opted_in", "opted_out")
# Who may consent for a young person (people.adult_relation).
ADULT_RELATIONS = ("parent", "carer", "teacher")
PHONE_STATUSES = ("ok", "invalid", "not_mobile")
# Outbox statuses. Forward-only: see storage.outbox.STATUS_RANK.
OUTBOX_STATUSES = (
    "queued",  # waiting for the sender (not before ``not_before``)
    "sending",  # claimed by a worker; the provider call may be in flight
    "unknown",  # the worker died mid-call; reconciled, never blindly resent
    "sent",  # the provider accepted it (has provider_id)
    "delivered",
    "undelivered",
    "failed",  # permanent failure, or retries exhausted
    "cancelled",  # not sent on purpose (opted out, action cancelled, too late)
)


class Institution(Base):
    __tablename__ = "institutions"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(16), default="other")
    status: Mapped[str] = mapped_column(String(16), default="member")
    created_at: Mapped[datetime]

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="institution", cascade="all, delete-orphan", passive_deletes=True
    )


class Person(Base):
    __tablename__ = "people"
    # Lists by name (the people pages, an action's attendees): the first page read in order.
    __table_args__ = (Index("ix_people_name", "name", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Names arrive from spreadsheets and Telegram profiles: any text at all.
    name: Mapped[str] = mapped_column(CleanString(200), default="")
    # E.164; unique so a number is one person. Null for a Telegram-only person.
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)
    phone_status: Mapped[str] = mapped_column(String(16), default="ok")
    language: Mapped[str] = mapped_column(String(8), default="en")
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/London")
    consent: Mapped[str] = mapped_column(String(16), default="unknown")
    consent_source: Mapped[str] = mapped_column(String(32), default="import")
    consent_at: Mapped[datetime]
    # Telegram identity (issue: Telegram channel). Unique: one Telegram account, one person.
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    telegram_status: Mapped[str] = mapped_column(String(16), default="ok")
    # Set once the person has had a message saying who is texting, why, and how to stop.
    introduced_at: Mapped[datetime | None]
    # One of ALLIANCE_ROLES, or None: see storage.roles (the one "who may do what" rule).
    alliance_role: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime]
    # Young people (storage/young.py): marked under 16, or a date of birth; never messaged
    # directly until a named adult (parent, carer, teacher) has consented, with who and when.
    under_16: Mapped[bool] = mapped_column(Boolean, default=False)
    born_on: Mapped[date | None] = mapped_column(Date)
    adult_name: Mapped[str | None] = mapped_column(CleanString(200))
    adult_relation: Mapped[str | None] = mapped_column(String(16))
    adult_consent_at: Mapped[datetime | None]
    # Set when the person was erased (storage/erase.py): the row stays, anonymous, so past
    # rollups still count them; nothing about who they were is left.
    erased_at: Mapped[datetime | None]

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="person", cascade="all, delete-orphan", passive_deletes=True
    )
    # Written through storage/consent.py only; here so a new person's first event is added with
    # them (never loaded: read the history with storage.consent.history).
    consent_events: Mapped[list[ConsentEvent]] = relationship(
        cascade="save-update, merge", passive_deletes=True, lazy="raise"
    )

    @property
    def opted_out(self) -> bool:
        return self.consent == "opted_out"


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("person_id", "institution_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    institution_id: Mapped[int] = mapped_column(
        ForeignKey("institutions.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(16), default="member")
    created_at: Mapped[datetime]

    person: Mapped[Person] = relationship(back_populates="memberships")
    institution: Mapped[Institution] = relationship(back_populates="memberships")


class Action(Base):
    __tablename__ = "actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Short name people and commands use ("assembly-mar"); unique.
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16), default="assembly")
    starts_at: Mapped[datetime] = mapped_column(index=True)
    ends_at: Mapped[datetime]
    place: Mapped[str] = mapped_column(String(300), default="")
    bring: Mapped[str] = mapped_column(String(300), default="")
    target: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    # Bumped on every reschedule/cancel so re-notifications get a fresh dedupe key.
    revision: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Invitation(Base):
    """A person invited to an action, carrying their current RSVP (history in RsvpEvent)."""

    __tablename__ = "invitations"
    __table_args__ = (
        UniqueConstraint("action_id", "person_id"),
        Index("ix_invitations_person_open", "person_id", "action_id"),
        # Who answered or was invited lately (Today's institutions gone quiet): range reads.
        Index("ix_invitations_action_responded", "action_id", "responded_at"),
        Index("ix_invitations_action_invited", "action_id", "invited_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    invited_at: Mapped[datetime]
    response: Mapped[str | None] = mapped_column(String(8))
    guests: Mapped[int] = mapped_column(Integer, default=0)
    responded_at: Mapped[datetime | None]
    channel: Mapped[str | None] = mapped_column(String(16))


class RsvpEvent(Base):
    __tablename__ = "rsvp_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    invitation_id: Mapped[int] = mapped_column(
        ForeignKey("invitations.id", ondelete="CASCADE"), index=True
    )
    response: Mapped[str] = mapped_column(String(8))
    guests: Mapped[int] = mapped_column(Integer, default=0)
    channel: Mapped[str] = mapped_column(String(16))
    inbound_id: Mapped[int | None] = mapped_column(
        ForeignKey("inbound_messages.id", ondelete="SET NULL")
    )
    at: Mapped[datetime]


class Commitment(Base):
    """An institution's current pledge for an action (history in CommitmentEvent)."""

    __tablename__ = "commitments"
    __table_args__ = (UniqueConstraint("action_id", "institution_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id", ondelete="CASCADE"))
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id", ondelete="CASCADE"))
    number: Mapped[int]
    set_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    set_at: Mapped[datetime]


class CommitmentEvent(Base):
    __tablename__ = "commitment_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id", ondelete="CASCADE"))
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id", ondelete="CASCADE"))
    number: Mapped[int]
    set_by_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime]


class Attendance(Base):
    __tablename__ = "attendance"
    __table_args__ = (UniqueConstraint("action_id", "person_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id", ondelete="CASCADE"))
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(16), default="checkin")
    at: Mapped[datetime]


class InboundMessage(Base):
    """Every message anyone sent us, stored before anything else happens."""

    __tablename__ = "inbound_messages"
    __table_args__ = (UniqueConstraint("provider", "provider_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))  # sms | telegram
    provider: Mapped[str] = mapped_column(String(16))  # twilio | sandbox | telegram
    # Written as the provider sent them (checked at the edge), normalised by the column types
    # (storage.models.base.CleanText) so the store-first insert cannot fail on content.
    provider_id: Mapped[str] = mapped_column(CleanString(64))  # MessageSid, update_id, ...
    sender: Mapped[str] = mapped_column(CleanString(64))  # E.164 or a Telegram chat/user id
    recipient: Mapped[str] = mapped_column(CleanString(64), default="")
    body: Mapped[str] = mapped_column(CleanText, default="")
    # The text exactly as received, as a JSON string literal (ASCII: NUL and unpaired
    # surrogates escaped, so both databases hold it), only when ``body`` differs from it
    # (normalised or cut at bot.inbound.MAX_BODY); null otherwise. ``json.loads`` gives it back.
    body_original: Mapped[str | None] = mapped_column(Text)
    # A person's texts are personal data: erased with the person.
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), index=True
    )
    received_at: Mapped[datetime]
    intent: Mapped[str | None] = mapped_column(String(32))
    handled_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(CleanText)
    # The organiser inbox: "open" until an organiser deals with it.
    inbox_status: Mapped[str] = mapped_column(String(16), default="none", index=True)


class OutboxMessage(Base):
    """Every message we send: written here first, then sent by the sender (scheduler/)."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "priority", "not_before"),
        # /metrics counts rows by status and channel: the live ones (queued, sending, unknown),
        # and the settled ones of the last day only (updated_at), so a scrape reads what is
        # current, never the whole history (storage/monitoring.py).
        Index("ix_outbox_status_channel", "status", "channel", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Unique: planning the same message twice can never send it twice.
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    channel: Mapped[str] = mapped_column(String(16))  # sms | telegram
    person_id: Mapped[int | None] = mapped_column(
        ForeignKey("people.id", ondelete="CASCADE"), index=True
    )
    to_address: Mapped[str] = mapped_column(CleanString(64))
    # Rendered with names and titles people typed: any text.
    body: Mapped[str] = mapped_column(CleanText)
    template: Mapped[str] = mapped_column(String(64), default="")
    kind: Mapped[str] = mapped_column(String(16), default="bulk")  # reply | bulk | system
    priority: Mapped[int] = mapped_column(Integer, default=5)  # lower goes first
    segments: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    not_before: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    provider: Mapped[str | None] = mapped_column(String(16))
    provider_id: Mapped[str | None] = mapped_column(CleanString(64), index=True)
    error_code: Mapped[str | None] = mapped_column(CleanString(32))
    error_message: Mapped[str | None] = mapped_column(CleanText)
    action_id: Mapped[int | None] = mapped_column(ForeignKey("actions.id", ondelete="SET NULL"))
    in_reply_to_id: Mapped[int | None] = mapped_column(
        ForeignKey("inbound_messages.id", ondelete="SET NULL"), index=True
    )
    # Channel-specific extras (Telegram: reply_markup, the RSVP card to record or edit); see
    # scheduler/delivery/channels/telegram.py. Null for a plain text message.
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class DeliveryEvent(Base):
    """Each attempt to send and each provider status callback, kept for audit."""

    __tablename__ = "delivery_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # attempt | callback
    status: Mapped[str] = mapped_column(String(16))
    # From provider callbacks and error texts: any text.
    error_code: Mapped[str | None] = mapped_column(CleanString(32))
    error_message: Mapped[str | None] = mapped_column(CleanText)
    provider_id: Mapped[str | None] = mapped_column(CleanString(64))
    at: Mapped[datetime]
