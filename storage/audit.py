"""The audit log: every change an organiser, a leader or the operator makes is attributable.

    await record(session, Actor.of(person, "web"), "session_revoked", "console_session", 12,
                 at=now, details={"others": 3})

``record`` is the one way in; ``entries`` reads. There is no update or delete here on purpose
(on PostgreSQL a trigger refuses both as well). ``details`` holds ids, counts, channels and
outcomes: a string that looks like a phone number, or is long enough to be someone's message,
is refused (a bug in the caller), so the log never quotes message text or phone numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from config.phones import redact_phones
from storage.models import AUDIT_VIA, AuditEntry, Person

MAX_DETAIL_TEXT = 64  # a channel, an outcome, a slug: never free text


@dataclass(frozen=True)
class Actor:
    """Who did it, and through which door: a person (web, Telegram, SMS) or the operator."""

    via: str
    label: str
    person_id: int | None = None

    @classmethod
    def of(cls, person: Person, via: str) -> Actor:
        return cls(via, person.name.strip() or f"person #{person.id}", person.id)

    @classmethod
    def operator(cls) -> Actor:
        """Whoever runs the CLI: they have the server, not a person record."""
        return cls("cli", "operator (command line)")

    @classmethod
    def anonymous(cls, via: str) -> Actor:
        """Someone not (yet) known: e.g. a sign-in asked for a number that is nobody's."""
        return cls(via, "someone not signed in")


def check_details(details: dict[str, Any]) -> dict[str, Any]:
    """``details`` as given, or ValueError if a value is not allowed (free text, a phone)."""
    for key, value in details.items():
        values = value if isinstance(value, list) else [value]
        for item in values:
            if item is None or isinstance(item, bool | int | float):
                continue
            if not isinstance(item, str):
                raise ValueError(f"audit detail {key!r}: {type(item).__name__} is not allowed")
            if len(item) > MAX_DETAIL_TEXT or redact_phones(item) != item:
                raise ValueError(f"audit detail {key!r} looks like message text or a phone")
    return details


async def record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    subject_type: str,
    subject_id: int | None,
    *,
    at: datetime,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append one entry (in the caller's transaction: it commits with the change it records)."""
    if actor.via not in AUDIT_VIA:
        raise ValueError(f"unknown audit door {actor.via!r}")
    entry = AuditEntry(
        at=at,
        actor_person_id=actor.person_id,
        actor_label=actor.label[:200],
        via=actor.via,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        details=check_details(dict(details or {})),
    )
    session.add(entry)
    await session.flush()
    return entry


async def entries(
    session: AsyncSession,
    *,
    limit: int = 100,
    before_id: int | None = None,
    action: str | None = None,
    subject_type: str | None = None,
    subject_id: int | None = None,
    actor_person_id: int | None = None,
) -> list[AuditEntry]:
    """The newest entries first (page on with ``before_id``), optionally narrowed."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    if subject_type is not None:
        query = query.where(AuditEntry.subject_type == subject_type)
    if subject_id is not None:
        query = query.where(AuditEntry.subject_id == subject_id)
    if actor_person_id is not None:
        query = query.where(AuditEntry.actor_person_id == actor_person_id)
    return list(await session.scalars(query))
