"""Invitations written in bulk (scheduler/actions.py ``invite`` through storage/bulk.py): the
too-late drop stays on record, two invites at once queue each text once, and what a key
already taken would have written is not written."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy import func, select

from config.clock import FakeClock
from config.settings import Settings
from scheduler.actions import InviteReport, invite
from scheduler.invitations import preview
from storage import counters
from storage.db import Database
from storage.invitations import add_invitations
from storage.models import Action, Invitation, OutboxMessage, Person
from storage.segments import Segment
from tests import factories as f


async def invite_everyone(
    db: Database, action_id: int, settings: Settings, now: datetime
) -> InviteReport:
    async with db.session() as s:
        return await invite(s, await s.get_one(Action, action_id), settings=settings, now=now)


async def test_an_invitation_quiet_hours_would_hold_past_the_start_is_dropped_on_record(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    late = clock.now() + timedelta(hours=12)  # 22:00 in London
    async with db.session() as s:
        ann = await f.person(s, "Ann Patel", 1, late, introduced=False)
        bob = await f.person(s, "Bilal Khan", 2, late, timezone="America/New_York")
        # 08:00 in London tomorrow: Ann's quiet hours end at 09:00, after it has started.
        action = await f.action(s, late, starts_in=timedelta(hours=10))
    seen = await preview(
        db, action.id, Segment("everyone"), scope=None, settings=settings, now=late
    )
    report = await invite_everyone(db, action.id, settings, late)
    assert seen.report == report
    assert (report.invited, report.queued, report.dropped) == (2, 1, 1)
    assert seen.invitations == 1 and seen.go_now == 1  # 17:00 in New York: Bilal's goes now
    async with db.session() as s:
        rows = {
            r.person_id: r
            for r in await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        }
        assert (rows[ann.id].status, rows[ann.id].error_code) == ("cancelled", "too_late")
        assert "after the last useful moment" in (rows[ann.id].error_message or "")
        assert (rows[bob.id].status, rows[bob.id].error_code) == ("queued", None)
        # Nothing went to Ann, so she has still not been introduced.
        assert (await s.get_one(Person, ann.id)).introduced_at is None
        assert await counters.drift(s, await s.get_one(Action, action.id)) == []


async def test_a_fresh_person_is_introduced_by_the_invitation(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    now = clock.now()
    async with db.session() as s:
        eve = await f.person(s, "Eve Lamb", 5, now, introduced=False)
        action = await f.action(s, now)
        report = await invite(s, action, settings=settings, now=now)
        # The session's own copy says so too, without a flush of its own.
        assert eve.introduced_at == now and eve not in s.dirty
    assert report.queued == 1
    async with db.session() as s:
        assert (await s.get_one(Person, eve.id)).introduced_at == now


async def test_two_invites_at_once_queue_each_text_once_and_count_each_person_once(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    now = clock.now()
    async with db.session() as s:
        mary = await f.institution(s, "St Mary's Church", now)
        for n in range(1, 41):
            await f.person(s, f"Person {n}", n, now, institution=mary if n % 2 else None)
        action = await f.action(s, now)
    first, second = await asyncio.gather(
        invite_everyone(db, action.id, settings, now),
        invite_everyone(db, action.id, settings, now),
    )
    assert first.invited + second.invited == 40
    assert first.queued + second.queued == 40
    assert first.already_invited + second.already_invited == 40
    async with db.session() as s:
        keys = list(await s.scalars(select(OutboxMessage.dedupe_key)))
        assert len(keys) == len(set(keys)) == 40
        assert await s.scalar(select(func.count()).select_from(Invitation)) == 40
        assert await counters.drift(s, await s.get_one(Action, action.id)) == []


async def test_a_bulk_insert_writes_and_returns_only_the_new_rows(
    db: Database, clock: FakeClock
) -> None:
    now = clock.now()
    async with db.session() as s:
        people = [await f.person(s, f"Person {n}", n, now) for n in range(1, 4)]
        action = await f.action(s, now)
        await f.invite(s, action, people[1], now)
        ids = [p.id for p in people]
        assert await add_invitations(s, action.id, ids, now) == [ids[0], ids[2]]
        assert await add_invitations(s, action.id, ids, now) == []
        # One row alone: every column is one value (SQLite sends it without a JSON row).
        fourth = await f.person(s, "Person 4", 4, now)
        assert await add_invitations(s, action.id, [fourth.id], now) == [fourth.id]
        invitation = await s.scalar(select(Invitation).where(Invitation.person_id == fourth.id))
        assert invitation is not None
        assert (invitation.invited_at, invitation.guests, invitation.response) == (now, 0, None)
        assert await s.scalar(select(func.count()).select_from(Invitation)) == 4
