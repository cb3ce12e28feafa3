"""Finding the action a message is about (shared by the RSVP, check-in and leader handlers).
A person's open invitations are part of what is open for them: storage/conversation.py."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from config.text import abbreviates, words
from storage.models import Action, Invitation

# Check-in opens this long before an action starts and stays open this long after it ends.
CHECKIN_BEFORE = timedelta(hours=2)
CHECKIN_AFTER = timedelta(hours=1)


def matches(action: Action, hint: str) -> bool:
    """``hint`` names ``action``: it is a short way of writing the action's short name or its
    title (config.text.abbreviates: "assembly", "housing march", "march" for "Housing March").
    Courtesy words ("please", "sorry") name nothing."""
    said = words(hint)
    return bool(said) and (
        abbreviates(said, words(action.slug)) or abbreviates(said, words(action.title))
    )


async def named(session: AsyncSession, hint: str, now: datetime) -> list[Action]:
    """Every action ``hint`` names, whatever its state: those still to come first (soonest
    first), then those over or cancelled (latest first). Run only for a text with a hint."""
    if not words(hint):
        return []
    found = [a for a in await session.scalars(select(Action)) if matches(a, hint)]
    coming = sorted(
        (a for a in found if a.status == "scheduled" and a.ends_at > now),
        key=lambda a: a.starts_at,
    )
    done = sorted((a for a in found if a not in coming), key=lambda a: a.starts_at, reverse=True)
    return coming + done


async def latest_invitation(
    session: AsyncSession, person_id: int
) -> tuple[Invitation, Action] | None:
    row = await session.execute(
        select(Invitation, Action)
        .join(Action, Action.id == Invitation.action_id)
        .where(Invitation.person_id == person_id)
        .order_by(Action.starts_at.desc())
        .limit(1)
    )
    found = row.first()
    return None if found is None else (found[0], found[1])


async def upcoming(session: AsyncSession, now: datetime) -> list[Action]:
    """Scheduled actions that have not ended, soonest first."""
    result = await session.scalars(
        select(Action)
        .where(Action.status == "scheduled")
        .where(Action.ends_at > now)
        .order_by(Action.starts_at)
    )
    return list(result)


async def in_progress(session: AsyncSession, now: datetime) -> list[Action]:
    """Actions whose check-in window contains ``now``."""
    result = await session.scalars(
        select(Action)
        .where(Action.status == "scheduled")
        .where(Action.starts_at <= now + CHECKIN_BEFORE)
        .where(Action.ends_at >= now - CHECKIN_AFTER)
        .order_by(Action.starts_at)
    )
    return list(result)


async def action_by_slug(session: AsyncSession, slug: str) -> Action | None:
    """The action with this slug (as typed: trimmed, any case), or None."""
    return await session.scalar(select(Action).where(Action.slug == slug.strip().lower()))
