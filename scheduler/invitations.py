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
        before = await session.scalar(select(func.max(OutboxMessage.id))) or 0
        report = await queue(session, action, segment, scope=scope, settings=settings, now=now)
        result = Preview(report=report, people=report.people)
        # What it wrote, grouped by everything the preview tells apart (a few groups for
        # thousands of rows: one per wording, status and quiet-hours opening), first seen first.
        o = OutboxMessage
        groups = await session.execute(
            select(
                o.status,
                o.template,
                o.channel,
                o.body,
                o.not_before,
                func.count(),
                func.sum(o.segments),
            )
            .where(o.id > before)
            .where(o.action_id == action_id)
            .group_by(o.status, o.template, o.channel, o.body, o.not_before)
            .order_by(func.min(o.id))
        )
        for status, template, channel, body, not_before, n, segments_ in groups:
            if status != "queued":  # dropped as too late: counted in report.dropped
                continue
            intro = template == "intro"
            if intro:
                result.intros += n
            if channel == "sms":
                result.sms_messages += n
                result.sms_segments += int(segments_)
                result.ucs2_messages += 0 if is_gsm7(body) else n
            if intro:
                continue
            result.by_channel[channel] += n
            if not_before <= now:
                result.go_now += n
            else:
                result.held += n
                first, last = result.first_held_until, result.last_held_until
                result.first_held_until = min(first or not_before, not_before)
                result.last_held_until = max(last or not_before, not_before)
            if body not in result.samples and len(result.samples) < 3:
                result.samples.append(body)
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
