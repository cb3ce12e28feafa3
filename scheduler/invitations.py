"""Inviting a segment to an action, with a preview before anything is queued.

:func:`preview` *rehearses* the invitation: it runs the one invitation use case
(scheduler.actions.invite, with its consent, reachability, quiet hours, the too-late drop and
the dedupe keys) in a transaction that is then rolled back, and describes the outbox rows it
would have written: how many people by channel, the SMS segments (GSM-7 or UCS-2) and their
estimated cost (``TURNOUT_SMS_PRICE`` a segment), how many are opted out or unreachable,
already invited, and when quiet hours let the messages go. Nothing in the preview is worked
out a second way, so it cannot drift from what :func:`queue` then does.

:func:`queue` invites for real (in the caller's transaction). Submitting it twice queues
nothing twice: the invitation keys (storage/keys.py) are already taken.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from config.segments import is_gsm7
from config.settings import Settings
from scheduler.actions import InviteReport, invite
from storage import segments
from storage.db import Database
from storage.models import Action, OutboxMessage
from storage.segments import Segment

T = TypeVar("T")


class _Rehearsed(Exception):  # not an error: how a rehearsal rolls back
    pass


async def rehearse(db: Database, body: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``body`` in a transaction that is always rolled back, and return what it returned:
    a use case's own outcome, without its writes (a preview)."""
    outcome: list[T] = []
    try:
        async with db.session() as session:
            outcome.append(await body(session))
            raise _Rehearsed
    except _Rehearsed:
        pass
    return outcome[0]


@dataclass
class Preview:
    report: InviteReport
    people: int  # in the segment
    by_channel: Counter[str] = field(default_factory=Counter)  # invitations, per channel
    intros: int = 0  # people never texted before get a "who we are" message first
    sms_messages: int = 0  # invitations and intros by SMS
    sms_segments: int = 0
    ucs2_messages: int = 0  # SMS with a character outside GSM-7: 70 a segment, not 160
    cost: float = 0.0
    go_now: int = 0  # invitations due at once
    held: int = 0  # held by the person's quiet hours
    first_held_until: datetime | None = None
    last_held_until: datetime | None = None
    samples: list[str] = field(default_factory=list)  # the texts, one per wording

    @property
    def invitations(self) -> int:
        return sum(self.by_channel.values())


async def preview(
    db: Database,
    action_id: int,
    segment: Segment,
    *,
    scope: Collection[int] | None,
    settings: Settings,
    now: datetime,
) -> Preview:
    """What :func:`queue` would do, now, without doing it."""

    async def body(session: AsyncSession) -> Preview:
        action = await session.get(Action, action_id)
        assert action is not None
        people = await session.scalar(
            select(func.count()).select_from(
                segments.people(segment, action_id=action_id, scope=scope).subquery()
            )
        )
        before = await session.scalar(select(func.max(OutboxMessage.id))) or 0
        report = await queue(session, action, segment, scope=scope, settings=settings, now=now)
        result = Preview(report=report, people=int(people or 0))
        # The columns it needs, not 10,000 ORM objects: the rows are thrown away at rollback.
        rows = await session.execute(
            select(
                OutboxMessage.status,
                OutboxMessage.template,
                OutboxMessage.channel,
                OutboxMessage.segments,
                OutboxMessage.body,
                OutboxMessage.not_before,
            )
            .where(OutboxMessage.id > before)
            .where(OutboxMessage.action_id == action_id)
            .order_by(OutboxMessage.id)
        )
        gsm7: dict[str, bool] = {}
        for row in rows:
            if row.status != "queued":  # dropped as too late: counted in report.dropped
                continue
            intro = row.template == "intro"
            if intro:
                result.intros += 1
            if row.channel == "sms":
                result.sms_messages += 1
                result.sms_segments += row.segments
                if row.body not in gsm7:  # a few wordings among thousands of rows
                    gsm7[row.body] = is_gsm7(row.body)
                result.ucs2_messages += not gsm7[row.body]
            if intro:
                continue
            result.by_channel[row.channel] += 1
            if row.not_before <= now:
                result.go_now += 1
            else:
                result.held += 1
                first, last = result.first_held_until, result.last_held_until
                result.first_held_until = min(first or row.not_before, row.not_before)
                result.last_held_until = max(last or row.not_before, row.not_before)
            if row.body not in result.samples and len(result.samples) < 3:
                result.samples.append(row.body)
        result.cost = round(result.sms_segments * settings.sms_price, 2)
        return result

    return await rehearse(db, body)


async def queue(
    session: AsyncSession,
    action: Action,
    segment: Segment,
    *,
    scope: Collection[int] | None,
    settings: Settings,
    now: datetime,
) -> InviteReport:
    """Invite the segment (limited to ``scope``) through the invitation use case."""
    await segments.check_exists(session, segment)
    return await invite(
        session,
        action,
        among=segments.people(segment, action_id=action.id, scope=scope),
        settings=settings,
        now=now,
    )
