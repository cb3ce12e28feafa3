"""Retention: free text is kept no longer than TURNOUT_RETAIN_TEXT_DAYS, and people with no
activity are listed for an organiser to review (nothing is deleted without their decision).

    counts = await redact_text(session, before=now - timedelta(days=730))
    rows = await dormant(session, since=now - timedelta(days=30 * 18))

Redacting keeps what the numbers are made of: the rows, their dates, themes (an answer's
``listening_answer_themes``), counts and intents; only the words go.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Attendance,
    InboundMessage,
    Invitation,
    ListeningAnswer,
    ListeningFollowUp,
    Person,
    TelegramUpdate,
)


async def redact_text(session: AsyncSession, *, before: datetime) -> dict[str, int]:
    """Blank the free text written before ``before``; the counts of rows changed, by table."""
    changed: dict[str, int] = {}

    async def run(name: str, statement: object) -> None:
        result = await session.execute(statement)  # type: ignore[call-overload]
        changed[name] = int(getattr(result, "rowcount", 0) or 0)

    await run(
        "inbound_messages",
        update(InboundMessage)
        .where(InboundMessage.received_at < before)
        .where((InboundMessage.body != "") | InboundMessage.body_original.is_not(None))
        .values(body="", body_original=None, error=None),
    )
    await run(
        "listening_answers",
        update(ListeningAnswer)
        .where(ListeningAnswer.received_at < before)
        .where(ListeningAnswer.body != "")
        .values(body=""),
    )
    await run(
        "listening_follow_ups",
        update(ListeningFollowUp)
        .where(ListeningFollowUp.at < before)
        .where(ListeningFollowUp.note != "")
        .values(note=""),
    )
    # Telegram updates as received (their text, names): processed ones are not needed again.
    await run(
        "telegram_updates",
        delete(TelegramUpdate)
        .where(TelegramUpdate.received_at < before)
        .where(TelegramUpdate.processed_at.is_not(None)),
    )
    return changed


@dataclass(frozen=True)
class Dormant:
    person_id: int
    name: str
    phone: str | None
    last_activity: datetime


async def dormant(session: AsyncSession, *, since: datetime) -> list[Dormant]:
    """People (not erased) with nothing since ``since``: no text from them, no RSVP, no
    attendance, and added before it. Oldest activity first."""
    moments = union_all(
        select(Person.id.label("pid"), Person.created_at.label("at")),
        select(InboundMessage.person_id, InboundMessage.received_at).where(
            InboundMessage.person_id.is_not(None)
        ),
        select(Invitation.person_id, Invitation.responded_at).where(
            Invitation.responded_at.is_not(None)
        ),
        select(Attendance.person_id, Attendance.at),
    ).subquery()
    last = (
        select(moments.c.pid, func.max(moments.c.at).label("last"))
        .group_by(moments.c.pid)
        .subquery()
    )
    rows = await session.execute(
        select(Person.id, Person.name, Person.phone, last.c.last)
        .join(last, last.c.pid == Person.id)
        .where(Person.erased_at.is_(None))
        .where(last.c.last < since)
        .order_by(last.c.last, Person.id)
    )
    return [Dormant(pid, name, phone, at) for pid, name, phone, at in rows]
