"""Commitments: an institution pledges N people for an action (history kept)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import counters
from storage.models import Commitment, CommitmentEvent


async def set_commitment(
    session: AsyncSession,
    *,
    action_id: int,
    institution_id: int,
    number: int,
    set_by_id: int | None,
    channel: str,
    now: datetime,
) -> Commitment:
    current = await session.scalar(
        select(Commitment)
        .where(Commitment.action_id == action_id)
        .where(Commitment.institution_id == institution_id)
    )
    if current is None:
        current = Commitment(action_id=action_id, institution_id=institution_id, number=number)
        session.add(current)
    current.number = number
    current.set_by_id = set_by_id
    current.set_at = now
    session.add(
        CommitmentEvent(
            action_id=action_id,
            institution_id=institution_id,
            number=number,
            set_by_id=set_by_id,
            channel=channel,
            at=now,
        )
    )
    await session.flush()
    await counters.touched(session, action_id, institution_id, now)
    return current
