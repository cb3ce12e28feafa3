"""A walk-in's short exchange (bot/handlers/walkin.py): someone who texted HERE from a number we
did not know is asked their name, then which group they are with. The question waiting for
their answer is one row per person (``pending_questions``), read with everything else open for
them by storage.conversation.open_state; here are the writes."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import PendingQuestion
from storage.people import add_membership

# A question not answered within this long is no longer waiting (the text is just a text).
PENDING_WINDOW = timedelta(hours=6)


async def ask(
    session: AsyncSession, person_id: int, action_id: int, step: str, now: datetime
) -> PendingQuestion:
    """The question ``step`` now waits for the person's answer (replacing any other)."""
    pending = await session.get(PendingQuestion, person_id)
    if pending is None:
        pending = PendingQuestion(person_id=person_id, action_id=action_id)
        session.add(pending)
    pending.action_id, pending.step, pending.tries, pending.asked_at = action_id, step, 0, now
    await session.flush()
    return pending


async def forget(session: AsyncSession, person_id: int) -> None:
    """Nothing waits for the person any more."""
    await session.execute(delete(PendingQuestion).where(PendingQuestion.person_id == person_id))


async def join(session: AsyncSession, person_id: int, institution_id: int, now: datetime) -> bool:
    """The person is a member of the institution (False: they were already); their numbers
    move to its live counters in the same transaction."""
    return await add_membership(session, person_id, institution_id, role="member", now=now)
