"""Cheap "has anything changed?" queries for the console's live pages (bot/web/live.py polls
them twice a second per open topic, in every process, so each is one indexed statement)."""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    Action,
    Attendance,
    CommitmentEvent,
    Headcount,
    InboundMessage,
    Invitation,
    Membership,
    OutboxMessage,
    RollupSnapshot,
    RsvpEvent,
)
from storage.outbox import FAILED, SINCE


async def numbers_version(session: AsyncSession, now: datetime) -> Hashable:
    """A value that changes whenever a number the rollup or the digest shows can have changed:
    an RSVP, a check-in, a headcount, a commitment, an invitation, a membership, an action
    created or changed, the day's snapshot, the open inbox, the failures since yesterday (as
    the digest counts them). Rows are only ever added to these tables, so their newest id is
    enough."""
    newest = [
        select(func.max(model.id)).scalar_subquery()
        for model in (
            RsvpEvent,
            Attendance,
            Headcount,
            CommitmentEvent,
            Invitation,
            Membership,
            RollupSnapshot,
        )
    ]
    row = (
        await session.execute(
            select(
                *newest,
                select(func.max(Action.updated_at)).scalar_subquery(),
                select(func.count())
                .select_from(InboundMessage)
                .where(InboundMessage.inbox_status == "open")
                .scalar_subquery(),
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status.in_(FAILED))
                .where(OutboxMessage.updated_at >= now - SINCE)
                .scalar_subquery(),
            )
        )
    ).one()
    return tuple(row)
