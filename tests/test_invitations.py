"""Segments (storage/segments.py) and inviting one with a preview (scheduler/invitations.py):
who each segment picks, a leader's scope, and a preview that writes nothing and says what
queueing then does (channels, SMS segments and cost, opted out, unreachable, quiet hours)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from config.clock import FakeClock
from config.settings import Settings
from scheduler.invitations import preview, queue
from storage import segments
from storage.db import Database
from storage.models import (
    Action,
    Attendance,
    Invitation,
    ListeningAnswer,
    ListeningAnswerTheme,
    ListeningCampaign,
    ListeningTheme,
    OutboxMessage,
)
from storage.segments import Segment, SegmentError
from tests import factories as f
from tests.console import Alliance, alliance


async def world(db: Database, clock: FakeClock) -> tuple[Alliance, int, int, int]:
    """The console's alliance, an assembly to invite to, an earlier march (Grace said yes, Mo
    no, Ann came), and a listening theme Mo raised. Returns (people, assembly, march, theme)."""
    now = clock.now()
    people = await alliance(db, now)
    async with db.session() as s:
        assembly = await f.action(s, now)
        march = await f.action(s, now - timedelta(days=30), slug="march", starts_in=timedelta())
        for person, response in ((people.grace, "yes"), (people.mo, "no"), (people.ann, None)):
            inv = await f.invite(s, march, person, now)
            inv.response = response
        s.add(Attendance(action_id=march.id, person_id=people.ann.id, source="checkin", at=now))
        campaign = ListeningCampaign(
            slug="listens", title="South Listens", starts_at=now, created_at=now
        )
        s.add(campaign)
        await s.flush()
        theme = ListeningTheme(campaign_id=campaign.id, key="housing", labels={"en": "Housing"})
        s.add(theme)
        await s.flush()
        answer = ListeningAnswer(
            campaign_id=campaign.id,
            person_id=people.mo.id,
            body="damp",
            language="en",
            source="sms",
            received_at=now,
        )
        s.add(answer)
        await s.flush()
        s.add(ListeningAnswerTheme(answer_id=answer.id, theme_id=theme.id))
        return people, assembly.id, march.id, theme.id


async def picked(
    db: Database, segment: Segment, action_id: int, scope: frozenset[int] | None = None
) -> set[int]:
    async with db.session() as s:
        return set(await s.scalars(segments.people(segment, action_id=action_id, scope=scope)))


async def test_each_segment_picks_its_people(db: Database, clock: FakeClock) -> None:
    p, assembly, march, theme = await world(db, clock)
    everyone = {p.ruth.id, p.ann.id, p.grace.id, p.fatima.id, p.mo.id}
    assert await picked(db, Segment("everyone"), assembly) == everyone
    mary = Segment("institutions", institution_ids=(p.mary.id,))
    assert await picked(db, mary, assembly) == {p.ann.id, p.grace.id}
    said = {
        r: await picked(db, Segment("replied", action_id=march, reply=r), assembly)
        for r in segments.REPLIES
    }
    assert said == {
        "yes": {p.grace.id},
        "no": {p.mo.id},
        "maybe": set(),
        "none": {p.ann.id},
        "attended": {p.ann.id},
    }
    assert await picked(db, Segment("theme", theme_id=theme), assembly) == {p.mo.id}
    async with db.session() as s:
        await f.invite(s, await _assembly(s, assembly), p.ruth, clock.now())
    assert await picked(db, Segment("not_asked"), assembly) == everyone - {p.ruth.id}
    # A leader's segment: their institution's people only.
    assert await picked(db, Segment("everyone"), assembly, frozenset({p.noor.id})) == {
        p.fatima.id,
        p.mo.id,
    }


async def _assembly(s: AsyncSession, action_id: int) -> Action:
    action = await s.get(Action, action_id)
    assert action is not None
    return action


@pytest.mark.parametrize(
    "segment",
    [
        Segment("party"),
        Segment("institutions"),
        Segment("replied", action_id=1),
        Segment("replied", reply="yes"),
        Segment("theme"),
    ],
)
def test_an_incomplete_segment_is_refused(segment: Segment) -> None:
    with pytest.raises(SegmentError):
        segment.check()


async def test_unknown_ids_are_refused(db: Database, clock: FakeClock) -> None:
    await world(db, clock)
    async with db.session() as s:
        for segment in (
            Segment("institutions", institution_ids=(999,)),
            Segment("replied", action_id=999, reply="yes"),
            Segment("theme", theme_id=999),
        ):
            with pytest.raises(SegmentError):
                await segments.check_exists(s, segment)


async def outbox_count(db: Database) -> int:
    async with db.session() as s:
        return int(await s.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


async def test_the_preview_writes_nothing_and_queue_does_what_it_said(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    p, assembly, _march, _theme = await world(db, clock)
    now = clock.now()  # 10:00 UTC: outside quiet hours in London
    async with db.session() as s:
        mo = await s.get(type(p.mo), p.mo.id)
        fatima = await s.get(type(p.fatima), p.fatima.id)
        ruth = await s.get(type(p.ruth), p.ruth.id)
        assert mo is not None and fatima is not None and ruth is not None
        mo.consent = "opted_out"
        fatima.phone_status = "invalid"  # and no Telegram: unreachable
        ruth.introduced_at = None  # never texted: the invitation itself says who we are
    seen = await preview(db, assembly, Segment("everyone"), scope=None, settings=settings, now=now)
    assert await outbox_count(db) == 0
    async with db.session() as s:
        assert (
            await s.scalar(
                select(func.count()).select_from(Invitation).where(Invitation.action_id == assembly)
            )
            == 0
        )
    assert seen.people == 5
    assert dict(seen.by_channel) == {"sms": 3}
    assert seen.report.skipped_opted_out == 1 and seen.report.skipped_unreachable == 1
    assert seen.intros == 0 and seen.sms_messages == 3
    assert seen.sms_segments >= 3 and seen.ucs2_messages == 0
    assert seen.cost == round(seen.sms_segments * 0.04, 2)
    assert seen.go_now == 3 and seen.held == 0
    assert "Accountability Assembly" in seen.samples[0]
    async with db.session() as s:
        action = await _assembly(s, assembly)
        report = await queue(s, action, Segment("everyone"), scope=None, settings=settings, now=now)
    assert (report.invited, report.queued) == (3, 3)
    assert await outbox_count(db) == 3
    again = await preview(db, assembly, Segment("everyone"), scope=None, settings=settings, now=now)
    assert again.invitations == 0 and again.report.already_invited == 3
    async with db.session() as s:
        action = await _assembly(s, assembly)
        report = await queue(s, action, Segment("everyone"), scope=None, settings=settings, now=now)
    assert report.queued == 0 and await outbox_count(db) == 3  # a double submit: nothing twice


async def test_quiet_hours_hold_the_messages_and_the_preview_says_until_when(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    _p, assembly, _march, _theme = await world(db, clock)
    night = clock.now().replace(hour=22)  # 22:00 in London: quiet until 09:00
    seen = await preview(
        db, assembly, Segment("everyone"), scope=None, settings=settings, now=night
    )
    assert seen.go_now == 0 and seen.held == 5
    assert seen.first_held_until == night.replace(hour=9) + timedelta(days=1)
    assert seen.first_held_until == seen.last_held_until


async def test_a_leaders_invitation_reaches_only_their_people(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    p, assembly, _march, _theme = await world(db, clock)
    async with db.session() as s:
        action = await _assembly(s, assembly)
        report = await queue(
            s,
            action,
            Segment("everyone"),
            scope=frozenset({p.mary.id}),
            settings=settings,
            now=clock.now(),
        )
        invited = set(
            await s.scalars(select(Invitation.person_id).where(Invitation.action_id == assembly))
        )
    assert report.queued == 2 and invited == {p.ann.id, p.grace.id}


async def test_a_character_outside_gsm7_is_counted_as_ucs2_with_its_segments(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    _p, assembly, _march, _theme = await world(db, clock)
    async with db.session() as s:
        action = await _assembly(s, assembly)
        action.title = "Zgromadzenie w Łodzi"  # Ł is not in GSM-7
    seen = await preview(
        db, assembly, Segment("everyone"), scope=None, settings=settings, now=clock.now()
    )
    assert seen.ucs2_messages == seen.sms_messages == 5
    assert seen.sms_segments == 15  # about 150 UTF-16 units each: three parts of 67
    assert seen.cost == 0.6
