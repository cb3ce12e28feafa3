"""Actions: create (validated), invite (idempotent, quiet hours), reschedule and cancel
(re-notify yes and maybe once, supersede what was queued for the old version)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from config.clock import FakeClock
from config.settings import Settings
from scheduler.actions import ActionError, cancel, create_action, invite, reschedule
from storage.db import Database
from storage.models import Action, Invitation, OutboxMessage, Person
from tests import factories as f

LONDON = ZoneInfo("Europe/London")


async def outbox(db: Database) -> list[OutboxMessage]:
    async with db.session() as s:
        return list(await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


async def make_action(db: Database, now: datetime, **changes: object) -> Action:
    values: dict[str, object] = {
        "slug": "assembly-mar",
        "title": "Accountability Assembly",
        "kind": "assembly",
        "starts_at": now + timedelta(days=7),
        "ends_at": now + timedelta(days=7, hours=2),
        "place": "De Montfort Hall",
        "bring": "",
        "target": 400,
        "now": now,
    }
    values.update(changes)
    async with db.session() as s:
        return await create_action(s, **values)  # type: ignore[arg-type]


async def test_it_creates_an_action_with_sms_safe_text(db: Database, clock: FakeClock) -> None:
    action = await make_action(
        db, clock.now(), title="St Mary’s “Big” Assembly", place="St\xa0Mary’s Hall"
    )
    assert action.title == 'St Mary\'s "Big" Assembly'
    assert action.place == "St Mary's Hall"
    assert (action.status, action.revision) == ("scheduled", 0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"starts_at": datetime(2026, 3, 20, 18, 0)}, "must carry a time zone"),
        ({"ends_at": datetime(2026, 3, 17, 9, 0, tzinfo=UTC)}, "must end after it starts"),
        ({"starts_at": datetime(2026, 3, 1, 9, 0, tzinfo=UTC)}, "in the past"),
        ({"kind": "party"}, "unknown kind 'party'"),
        ({"slug": "Assembly March 2026!"}, "lower-case letters"),
        ({"slug": "a" * 40}, "2 to 32 characters"),
        ({"title": "  "}, "title is empty"),
        ({"place": ""}, "place is empty"),
        ({"target": 0}, "positive number"),
    ],
)
async def test_it_refuses_a_bad_action_saying_why(
    db: Database, clock: FakeClock, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(ActionError, match=message):
        await make_action(db, clock.now(), **changes)


async def test_it_refuses_a_second_action_with_the_same_name(
    db: Database, clock: FakeClock
) -> None:
    await make_action(db, clock.now())
    with pytest.raises(ActionError, match="already exists"):
        await make_action(db, clock.now(), slug="Assembly-Mar")


async def test_invite_skips_opted_out_and_unreachable_people_and_counts_them(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    now = clock.now()
    action = await make_action(db, now)
    async with db.session() as s:
        mary = await f.institution(s, "St Mary's Church", now)
        mosque = await f.institution(s, "Al-Noor Mosque", now)
        await f.person(s, "Ann Patel", 1, now, institution=mary)
        await f.person(s, "Bilal Khan", 2, now, institution=mosque)
        stopped = await f.person(s, "Cath Jones", 3, now, institution=mary)
        stopped.consent = "opted_out"
        landline = await f.person(s, "Dev Shah", 4, now)
        landline.phone_status = "not_mobile"
        fresh = await f.person(s, "Eve Lamb", 5, now, introduced=False)
        action = await s.get_one(Action, action.id)
        report = await invite(s, action, settings=settings, now=now)
    assert (report.invited, report.queued) == (3, 3)
    assert (report.skipped_opted_out, report.skipped_unreachable) == (1, 1)
    rows = await outbox(db)
    assert [(r.dedupe_key, r.template) for r in rows] == [
        (f"invite:{action.id}:1", "invite"),
        (f"invite:{action.id}:2", "invite"),
        (f"invite:{action.id}:{fresh.id}", "invite"),  # invite introduces: no intro before it
    ]
    first = rows[0]
    assert first.body.startswith("Leicester Citizens: you're invited to Accountability Assembly")
    assert "Tue 17 Mar 10:00" in first.body and first.segments == 1
    assert (first.kind, first.status, first.action_id) == ("bulk", "queued", action.id)
    assert first.not_before == now and first.expires_at == action.starts_at


async def test_invite_is_idempotent_and_later_invites_only_newcomers(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    now = clock.now()
    action = await make_action(db, now)
    async with db.session() as s:
        mary = await f.institution(s, "St Mary's Church", now)
        await f.person(s, "Ann Patel", 1, now, institution=mary)
        action = await s.get_one(Action, action.id)
        await invite(s, action, settings=settings, now=now)
        again = await invite(s, action, settings=settings, now=now)
        await f.person(s, "Bilal Khan", 2, now, institution=mary)
        later = await invite(s, action, settings=settings, now=now + timedelta(hours=1))
    assert (again.invited, again.already_invited, again.queued) == (0, 1, 0)
    assert (later.invited, later.already_invited, later.queued) == (1, 1, 1)
    async with db.session() as s:
        assert await s.scalar(select(func.count()).select_from(Invitation)) == 2
    assert len(await outbox(db)) == 2


async def test_invite_one_institution_reaches_only_its_members(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    now = clock.now()
    action = await make_action(db, now)
    async with db.session() as s:
        mary = await f.institution(s, "St Mary's Church", now)
        mosque = await f.institution(s, "Al-Noor Mosque", now)
        ann = await f.person(s, "Ann Patel", 1, now, institution=mary)
        await f.person(s, "Bilal Khan", 2, now, institution=mosque)
        await f.person(s, "Cath Jones", 3, now)
        action = await s.get_one(Action, action.id)
        report = await invite(s, action, institution_id=mary.id, settings=settings, now=now)
    assert report.invited == 1
    assert [r.person_id for r in await outbox(db)] == [ann.id]


async def test_invite_in_quiet_hours_waits_for_each_persons_morning_across_dst(
    db: Database, settings: Settings
) -> None:
    # Saturday 28 March 2026, 22:00 in London (GMT); the clocks go forward that night.
    now = datetime(2026, 3, 28, 22, 0, tzinfo=UTC)
    start = now + timedelta(days=5)
    action = await make_action(db, now, starts_at=start, ends_at=start + timedelta(hours=2))
    async with db.session() as s:
        ann = await f.person(s, "Ann Patel", 1, now)
        bob = await f.person(s, "Bob Rivera", 2, now, timezone="America/New_York")
        action = await s.get_one(Action, action.id)
        await invite(s, action, settings=settings, now=now)
    rows = {r.person_id: r for r in await outbox(db)}
    # 09:00 BST on Sunday is 08:00 UTC: the window opens at local nine, not UTC nine.
    assert rows[ann.id].not_before == datetime(2026, 3, 29, 8, 0, tzinfo=UTC)
    assert rows[ann.id].not_before.astimezone(LONDON).hour == 9
    # 18:00 in New York (EDT since 8 March): no waiting.
    assert rows[bob.id].not_before == now


async def test_invite_refuses_an_action_that_has_started_or_is_cancelled(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    now = clock.now()
    action = await make_action(db, now)
    async with db.session() as s:
        action = await s.get_one(Action, action.id)
        with pytest.raises(ActionError, match="already started"):
            await invite(s, action, settings=settings, now=action.starts_at)
        await cancel(s, action, now=now, settings=settings)
        with pytest.raises(ActionError, match="it is cancelled"):
            await invite(s, action, settings=settings, now=now)


async def _with_replies(db: Database, settings: Settings, now: datetime) -> Action:
    """Five invited people: yes, yes (New York), maybe, no, not replied; invites all sent."""
    action = await make_action(db, now)
    async with db.session() as s:
        people = [
            await f.person(s, "Ann Patel", 1, now),
            await f.person(s, "Bob Rivera", 2, now, timezone="America/New_York"),
            await f.person(s, "Cath Jones", 3, now),
            await f.person(s, "Dev Shah", 4, now),
            await f.person(s, "Eve Lamb", 5, now),
        ]
        action = await s.get_one(Action, action.id)
        await invite(s, action, settings=settings, now=now)
        for person, response in zip(people, ["yes", "yes", "maybe", "no", None], strict=True):
            inv = await s.scalar(select(Invitation).where(Invitation.person_id == person.id))
            assert inv is not None
            inv.response, inv.responded_at = response, now if response else None
        for row in await s.scalars(select(OutboxMessage)):
            row.status, row.sent_at = "delivered", now
    return action


async def test_reschedule_tells_yes_and_maybe_once_with_the_new_time(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    now = clock.now()
    action = await _with_replies(db, settings, now)
    new_start = action.starts_at + timedelta(days=1, hours=8)  # Wed 18 Mar 18:00 GMT
    async with db.session() as s:
        action = await s.get_one(Action, action.id)
        report = await reschedule(
            s, action, starts_at=new_start, place="Highfields Centre", now=now, settings=settings
        )
        same = await reschedule(
            s, action, starts_at=new_start, place="Highfields Centre", now=now, settings=settings
        )
    assert (report.revision, report.notified, report.changed) == (1, 3, True)
    assert (same.revision, same.notified, same.changed) == (1, 0, False)
    assert action.ends_at - action.starts_at == timedelta(hours=2)
    moved = [r for r in await outbox(db) if r.template == "action_moved"]
    assert [r.person_id for r in moved] == [1, 2, 3]
    assert {r.dedupe_key for r in moved} == {f"moved:{action.id}:r1:{p}" for p in (1, 2, 3)}
    assert "moved to Wed 18 Mar 18:00 at Highfields Centre" in moved[0].body
    assert "moved to Wed 18 Mar 14:00" in moved[1].body  # New York time
    assert all(r.kind == "system" for r in moved)
    # Quiet hours still hold a change notice when the morning is soon enough: 06:00 in New York.
    assert [r.not_before for r in moved] == [now, datetime(2026, 3, 10, 13, 0, tzinfo=UTC), now]


async def test_reschedule_supersedes_queued_reminders_and_resends_unsent_invites(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    now = clock.now()
    action = await make_action(db, now)
    async with db.session() as s:
        await f.person(s, "Ann Patel", 1, now)
        action = await s.get_one(Action, action.id)
        await invite(s, action, settings=settings, now=now)  # still queued
        report = await reschedule(
            s, action, starts_at=action.starts_at + timedelta(days=7), now=now, settings=settings
        )
    assert (report.superseded, report.reinvited, report.notified) == (1, 1, 0)
    old, new = await outbox(db)
    assert (old.status, old.error_code) == ("cancelled", "superseded")
    assert "Tue 17 Mar" in old.body
    assert (new.dedupe_key, new.status) == (f"invite:{action.id}:1:r1", "queued")
    assert "Tue 24 Mar" in new.body and new.expires_at == action.starts_at
    async with db.session() as s:  # inviting again later does not invite Ann a third time
        action = await s.get_one(Action, action.id)
        assert (await invite(s, action, settings=settings, now=now)).queued == 0


async def test_cancel_tells_yes_and_maybe_once(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    now = clock.now()
    action = await _with_replies(db, settings, now)
    async with db.session() as s:
        action = await s.get_one(Action, action.id)
        report = await cancel(s, action, now=now, settings=settings)
        with pytest.raises(ActionError, match="cancelled"):
            await cancel(s, action, now=now, settings=settings)
    assert (report.revision, report.notified) == (1, 3)
    cancelled = [r for r in await outbox(db) if r.template == "action_cancelled"]
    assert [r.person_id for r in cancelled] == [1, 2, 3]
    assert "sorry, Accountability Assembly on Tue 17 Mar 10:00 is cancelled" in cancelled[0].body
    async with db.session() as s:
        stored = await s.get_one(Action, action.id)
        assert (stored.status, stored.revision) == ("cancelled", 1)


async def test_a_late_night_cancellation_goes_at_once_when_morning_is_too_late(
    db: Database, settings: Settings
) -> None:
    # 23:00 in London, the action is at 08:30 tomorrow: waiting for 09:00 would be useless.
    now = datetime(2026, 3, 10, 23, 0, tzinfo=UTC)
    start = datetime(2026, 3, 11, 8, 30, tzinfo=UTC)
    action = await make_action(db, now, starts_at=start, ends_at=start + timedelta(hours=1))
    async with db.session() as s:
        ann = await f.person(s, "Ann Patel", 1, now)
        inv = await f.invite(s, action, ann, now)
        inv.response, inv.responded_at = "yes", now
        action = await s.get_one(Action, action.id)
        await cancel(s, action, now=now, settings=settings)
    (row,) = await outbox(db)
    assert (row.template, row.not_before, row.status) == ("action_cancelled", now, "queued")


async def test_opted_out_people_get_no_change_notice(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    now = clock.now()
    action = await _with_replies(db, settings, now)
    async with db.session() as s:
        ann = await s.get_one(Person, 1)
        ann.consent = "opted_out"
        action = await s.get_one(Action, action.id)
        report = await cancel(s, action, now=now, settings=settings)
    assert report.notified == 2
