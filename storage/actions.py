"""Finding the action a message is about (shared by the RSVP, check-in and leader handlers)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
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


def pick(actions: list[Action], hint: str) -> Action | None:
    """The action named by ``hint``, else the soonest one."""
    if not actions:
        return None
    named = [a for a in actions if matches(a, hint)]
    return (named or actions)[0]


# Built once, run with parameters: every RSVP runs it, and building it (and its cache key) took
# longer than running it.
_OPEN_INVITATIONS = (
    select(Invitation, Action)
    .join(Action, Action.id == Invitation.action_id)
    .where(Invitation.person_id == bindparam("person_id"))
    .where(Action.status == "scheduled")
    .where(Action.ends_at > bindparam("now"))
    .order_by(Action.starts_at)
)


async def open_invitations(
    session: AsyncSession, person_id: int, now: datetime
) -> list[tuple[Invitation, Action]]:
    """Invitations a person can still answer (action scheduled and not over), soonest first."""
    rows = await session.execute(_OPEN_INVITATIONS, {"person_id": person_id, "now": now})
    return [(inv, action) for inv, action in rows]


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
