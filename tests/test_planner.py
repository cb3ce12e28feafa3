"""The reminder ladder, planned by driving the clock forward (no sleeping).

The scenario: an assembly on Tuesday 31 March 2026, 10:00 to 12:00 in London (BST: the UK
clocks went forward on Sunday 29 March; New York's on 8 March). Six people, invited on 10
March: Ann (London, yes, St Mary's), Bob (New York, yes), Cath (London, maybe), Dev (London,
not replied), Eve (New York, not replied), Fay (London, no). Ann checks in; Bob does not.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

import scheduler.planner as planner
from bot.inbound import InboundPipeline, IncomingText
from config.clock import FakeClock
from config.settings import Settings
from scheduler.actions import reschedule
from scheduler.planner import plan
from scheduler.reminders import ladder_schedule, set_step
from storage.commitments import set_commitment
from storage.db import Database
from storage.models import Action, Attendance, Invitation, OutboxMessage, Person
from storage.outbox import Draft, Envelope, enqueue
from tests import factories as f

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
INVITED = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
START = datetime(2026, 3, 31, 9, 0, tzinfo=UTC)  # 10:00 BST
END = START + timedelta(hours=2)
CHECK_IN = START + timedelta(minutes=20)
NAMES = {1: "Ann", 2: "Bob", 3: "Cath", 4: "Dev", 5: "Eve", 6: "Fay"}


def utc(day: int, hour: int, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=UTC)


# (reminder, person) -> (template, status, not_before): what the whole ladder must produce.
EXPECTED = {
    # Two days before, Sunday 29 March 09:00 UTC: 10:00 in London (BST), 05:00 in New York
    # (quiet: waits for 09:00 EDT = 13:00 UTC).
    ("still_coming", "Ann"): ("still_coming", "queued", utc(29, 9)),
    ("still_coming", "Bob"): ("still_coming", "queued", utc(29, 13)),
    ("still_coming", "Cath"): ("still_maybe", "queued", utc(29, 9)),
    ("nudge", "Dev"): ("nudge", "queued", utc(29, 9)),
    ("nudge", "Eve"): ("nudge", "queued", utc(29, 13)),
    # Three hours before, 06:00 UTC = 07:00 BST: waits for 09:00 BST (08:00 UTC), in time (the
    # last useful moment is half an hour before the start). In New York it is 02:00; 09:00 EDT
    # is after the start: dropped.
    ("day_of", "Ann"): ("day_of", "queued", utc(31, 8)),
    ("day_of", "Bob"): ("day_of", "cancelled", utc(31, 13)),
    # An hour after the end (12:00 UTC): Bob, who did not check in, at 09:00 in New York.
    ("did_you_make_it", "Bob"): ("did_you_make_it", "queued", utc(31, 13)),
    # 20 hours after the end, 07:00 UTC = 08:00 BST: at 09:00 BST.
    ("thank_you", "Ann"): ("thanks_committed", "queued", utc(1, 8, month=4)),
}


async def build(db: Database) -> Action:
    now = INVITED
    async with db.session() as s:
        mary = await f.institution(s, "St Mary's Church", now)
        people = [
            await f.person(s, "Ann Patel", 1, now, institution=mary),
            await f.person(s, "Bob Rivera", 2, now, timezone="America/New_York"),
            await f.person(s, "Cath Jones", 3, now),
            await f.person(s, "Dev Shah", 4, now),
            await f.person(s, "Eve Lamb", 5, now, timezone="America/New_York"),
            await f.person(s, "Fay Okoro", 6, now),
        ]
        action = await f.action(s, now, starts_in=START - now, hours=2)
        action.bring = "photo ID"
        await set_commitment(
            s,
            action_id=action.id,
            institution_id=mary.id,
            number=40,
            set_by_id=None,
            channel="sms",
            now=now,
        )
        for person, response in zip(people, ["yes", "yes", "maybe", None, None, "no"], strict=True):
            inv = await f.invite(s, action, person, now)
            if response:
                inv.response, inv.responded_at = response, now + timedelta(days=1)
    return action


async def check_in(db: Database, action: Action, person_id: int) -> None:
    async with db.session() as s:
        s.add(Attendance(action_id=action.id, person_id=person_id, source="checkin", at=CHECK_IN))


def hours(start: datetime, end: datetime) -> Iterator[datetime]:
    moment = start
    while moment <= end:
        yield moment
        moment += timedelta(hours=1)


async def ladder(db: Database) -> dict[tuple[str, str], tuple[str, str, datetime]]:
    async with db.session() as s:
        rows = list(await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
    result = {}
    for row in rows:
        if not row.dedupe_key.startswith("reminder:"):
            continue  # replies to texts
        _, kind, _action, revision, person = row.dedupe_key.split(":")
        assert revision == "r0"
        key = (kind, NAMES[int(person)])
        assert key not in result, f"duplicate {key}"
        result[key] = (row.template, row.status, row.not_before)
    return result


async def test_the_ladder_across_the_dst_change_in_two_time_zones(
    db: Database, settings: Settings
) -> None:
    action = await build(db)
    planned = 0
    for now in hours(utc(26, 0), utc(3, 0, month=4)):
        if now == utc(31, 10):
            await check_in(db, action, 1)
        planned += (await plan(db, settings, now)).total_planned
    got = await ladder(db)
    assert got == EXPECTED
    assert planned == 8  # Bob's day_of was dropped, not planned
    # The local clock reads 09:00 or 10:00 in each person's own time zone, either side of DST.
    assert got["nudge", "Dev"][2].astimezone(LONDON).hour == 10
    assert got["nudge", "Eve"][2].astimezone(NEW_YORK).hour == 9
    assert got["day_of", "Ann"][2].astimezone(LONDON).hour == 9
    bodies: dict[str, str] = {}  # the first (Ann's or Cath's in London) of each template
    async with db.session() as s:
        for row in await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)):
            bodies.setdefault(row.template, row.body)
    assert bodies["still_coming"].endswith(
        "Tue 31 Mar 10:00 at De Montfort Hall. Still coming? Reply YES or NO."
    )
    assert bodies["day_of"].startswith(
        "Today: Accountability Assembly at 10:00, De Montfort Hall. Please bring photo ID."
    )
    assert "St Mary's Church brought 1 of the 40 it promised" in bodies["thanks_committed"]
    assert "Leicester Citizens brought 1 people" in bodies["thanks_committed"]


async def test_planning_again_changes_nothing(db: Database, settings: Settings) -> None:
    action = await build(db)
    await check_in(db, action, 1)
    moments = [utc(29, 9), utc(31, 6), utc(31, 12), utc(1, 7, month=4)]
    for now in moments:
        await plan(db, settings, now)
    before = await ladder(db)
    for now in moments:
        report = await plan(db, settings, now)
        assert (report.total_planned, report.total_dropped) == (0, 0)
    assert await ladder(db) == before


async def test_a_restart_mid_ladder_loses_and_duplicates_nothing(
    db_url: str, db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    action = await build(db)
    monkeypatch.setattr(planner, "CHUNK", 1)  # one person per transaction
    real = planner.place_message
    calls = 0

    async def crash_on_the_second(*args: object, **kwargs: object) -> str:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("worker killed")
        return await real(*args, **kwargs)  # type: ignore[arg-type]

    # The first process plans Ann's still_coming, then dies mid-run.
    fresh = Database.from_url(db_url)
    monkeypatch.setattr(planner, "place_message", crash_on_the_second)
    with pytest.raises(RuntimeError):
        await plan(fresh, settings, utc(29, 9))
    await fresh.dispose()
    monkeypatch.setattr(planner, "place_message", real)
    assert set(await ladder(db)) == {("still_coming", "Ann")}

    # Each later run is a new process with a new Database; some run twice, some late.
    for now in [utc(29, 9), utc(29, 9), utc(29, 15), utc(31, 6), utc(31, 10), utc(31, 12)]:
        if now == utc(31, 10):
            await check_in(db, action, 1)
        fresh = Database.from_url(db_url)
        await plan(fresh, settings, now)
        await fresh.dispose()
    for now in [utc(1, 7, month=4), utc(1, 7, month=4), utc(2, 7, month=4)]:
        fresh = Database.from_url(db_url)
        await plan(fresh, settings, now)
        await fresh.dispose()
    assert await ladder(db) == EXPECTED


async def test_reminders_that_fell_due_while_down_are_sent_if_useful_else_dropped_and_counted(
    db: Database, settings: Settings
) -> None:
    await build(db)
    # Down from before the two-day reminders until Sunday 20:00 UTC (21:00 BST: quiet hours).
    late = await plan(db, settings, utc(29, 20))
    assert late.planned == {"still_coming": 3, "nudge": 2}
    got = await ladder(db)
    # Still useful (the last useful moment is 12 hours before the start): sent next morning.
    assert got["still_coming", "Ann"] == ("still_coming", "queued", utc(30, 8))
    assert got["nudge", "Eve"] == ("nudge", "queued", utc(29, 20))  # 16:00 in New York

    # Down again until half an hour before the start: the day-of reminder is too late.
    report = await plan(db, settings, START - timedelta(minutes=30))
    assert report.dropped == {"day_of": 2} and report.total_planned == 0
    async with db.session() as s:
        dropped = list(
            await s.scalars(select(OutboxMessage).where(OutboxMessage.status == "cancelled"))
        )
    assert {(r.template, r.error_code) for r in dropped} == {("day_of", "too_late")}
    assert all(r.expires_at == START - timedelta(minutes=30) for r in dropped)
    # Counted once: planning again neither drops nor plans anything more.
    again = await plan(db, settings, START - timedelta(minutes=20))
    assert (again.total_planned, again.total_dropped) == (0, 0)


@pytest.mark.parametrize(
    ("zone", "planned", "expected"),
    [
        # Saturday 28 March 22:00 GMT -> Sunday 09:00 BST (the clocks went forward at 01:00).
        ("Europe/London", datetime(2026, 3, 28, 22, 0), datetime(2026, 3, 29, 8, 0)),
        # Saturday 7 March 22:00 EST -> Sunday 09:00 EDT (US clocks went forward at 02:00).
        ("America/New_York", datetime(2026, 3, 8, 3, 0), datetime(2026, 3, 8, 13, 0)),
        # An ordinary night in London.
        ("Europe/London", datetime(2026, 3, 10, 22, 0), datetime(2026, 3, 11, 9, 0)),
    ],
)
async def test_quiet_hours_hold_a_reminder_planned_at_22_local_until_9_next_day_local(
    db: Database, settings: Settings, zone: str, planned: datetime, expected: datetime
) -> None:
    planned, expected = planned.replace(tzinfo=UTC), expected.replace(tzinfo=UTC)
    assert planned.astimezone(ZoneInfo(zone)).hour == 22
    assert expected.astimezone(ZoneInfo(zone)).hour == 9
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    start = datetime(2026, 4, 2, 18, 0, tzinfo=UTC)
    async with db.session() as s:
        dev = await f.person(s, "Dev Shah", 4, now, timezone=zone)
        action = await f.action(s, now, starts_in=start - now)
        await f.invite(s, action, dev, now)
        await set_step(s, action, "nudge", planned - start, now=now)
    report = await plan(db, settings, planned)
    assert report.planned == {"nudge": 1}
    async with db.session() as s:
        row = await s.scalar(select(OutboxMessage))
    assert row is not None and (row.template, row.not_before) == ("nudge", expected)


async def test_a_ladder_step_can_be_moved_or_switched_off_per_action(
    db: Database, settings: Settings
) -> None:
    await build(db)
    async with db.session() as s:
        action = await s.get_one(Action, 1)
        await set_step(s, action, "nudge", None, now=INVITED)
        await set_step(s, action, "day_of", timedelta(hours=-14), now=INVITED)  # evening before
        schedule = [(step.kind, due) for step, due, _ in await ladder_schedule(s, action)]
    assert schedule == [
        ("still_coming", utc(29, 9)),
        ("day_of", utc(30, 19)),
        ("did_you_make_it", utc(31, 12)),
        ("thank_you", utc(1, 7, month=4)),
    ]
    for now in hours(utc(29, 0), utc(31, 8)):
        await plan(db, settings, now)
    got = await ladder(db)
    assert not any(kind == "nudge" for kind, _ in got)
    # 30 March 19:00 UTC: 20:00 in London, 15:00 in New York: both in time now.
    assert got["day_of", "Ann"] == ("day_of", "queued", utc(30, 19))
    assert got["day_of", "Bob"] == ("day_of", "queued", utc(30, 19))


async def test_a_reschedule_supersedes_queued_reminders_and_the_ladder_starts_again(
    db: Database, settings: Settings
) -> None:
    action = await build(db)
    await plan(db, settings, utc(29, 9))  # Bob's and Eve's wait for 13:00 UTC
    async with db.session() as s:
        action = await s.get_one(Action, action.id)
        report = await reschedule(
            s, action, starts_at=START + timedelta(days=7), now=utc(29, 10), settings=settings
        )
    assert report.superseded == 5 and report.notified == 3
    async with db.session() as s:
        statuses = {
            r.dedupe_key: (r.status, r.error_code)
            for r in await s.scalars(select(OutboxMessage))
            if r.dedupe_key.startswith("reminder:")
        }
    assert set(statuses.values()) == {("cancelled", "superseded")}
    # The ladder of revision 1 starts two days before the new date.
    assert (await plan(db, settings, utc(5, 9, month=4))).planned == {
        "still_coming": 3,
        "nudge": 2,
    }
    async with db.session() as s:
        keys = set(await s.scalars(select(OutboxMessage.dedupe_key)))
    assert f"reminder:still_coming:{action.id}:r1:1" in keys


async def test_a_yes_to_did_you_make_it_counts_as_a_check_in(
    db: Database, settings: Settings
) -> None:
    action = await build(db)
    await check_in(db, action, 1)
    await plan(db, settings, utc(31, 12))
    async with db.session() as s:
        question = await s.scalar(
            select(OutboxMessage).where(OutboxMessage.template == "did_you_make_it")
        )
        assert question is not None and question.person_id == 2
        question.status, question.sent_at = "delivered", utc(31, 13)
    clock = FakeClock(utc(31, 14))
    pipeline = InboundPipeline(db, settings, clock)

    bob = await pipeline.receive(IncomingText("sms", "twilio", "SM1", f.phone(2), "Yes!"))
    fay = await pipeline.receive(IncomingText("sms", "twilio", "SM2", f.phone(6), "yes"))

    assert [r.template for r in bob.replies] == ["followup_yes"]
    assert [r.template for r in fay.replies] == ["rsvp_closed"]  # Fay was not asked
    async with db.session() as s:
        attended = {(a.person_id, a.source) for a in await s.scalars(select(Attendance))}
        fay_rsvp = await s.scalar(select(Invitation.response).where(Invitation.person_id == 6))
    assert attended == {(1, "checkin"), (2, "followup")}
    assert fay_rsvp == "no"
    # Bob now gets the thank-you too, with his institution-less wording.
    await plan(db, settings, utc(1, 7, month=4))
    got = await ladder(db)
    assert got["thank_you", "Bob"] == ("thanks", "queued", utc(1, 13, month=4))


async def test_a_yes_answers_the_latest_question_an_invitation_sent_after_it_wins(
    db: Database, settings: Settings
) -> None:
    action = await build(db)
    await plan(db, settings, utc(31, 12))
    async with db.session() as s:
        for row in await s.scalars(select(OutboxMessage)):
            row.status, row.sent_at = "delivered", utc(31, 13)
        bob = await s.get_one(Person, 2)
        training = await f.action(
            s, utc(31, 13), slug="training", title="Leaders training", starts_in=timedelta(days=9)
        )
        await f.invite(s, training, bob, utc(31, 13))
        await enqueue(
            s,
            bob,
            Envelope(
                Draft(
                    "invite", {"title": "Leaders training", "when": "Thu 9 Apr 18:00", "place": "X"}
                ),
                "invite:training:2",
                action_id=training.id,
            ),
            now=utc(31, 13),
            alliance=settings.alliance_name,
        )
        invite_row = await s.scalar(
            select(OutboxMessage).where(OutboxMessage.dedupe_key == "invite:training:2")
        )
        assert invite_row is not None
        invite_row.status, invite_row.sent_at = "delivered", utc(31, 13) + timedelta(minutes=30)
    pipeline = InboundPipeline(db, settings, FakeClock(utc(31, 14)))
    result = await pipeline.receive(IncomingText("sms", "twilio", "SM1", f.phone(2), "yes"))
    assert [r.template for r in result.replies] == ["rsvp_yes"]
    async with db.session() as s:
        assert (
            list(await s.scalars(select(Attendance).where(Attendance.action_id == action.id))) == []
        )
        answer = await s.scalar(
            select(Invitation.response).where(Invitation.action_id == training.id)
        )
    assert answer == "yes"


async def test_a_yes_long_after_the_question_is_not_a_check_in(
    db: Database, settings: Settings
) -> None:
    action = await build(db)
    await plan(db, settings, utc(31, 12))
    async with db.session() as s:
        for row in await s.scalars(select(OutboxMessage)):
            row.status, row.sent_at = "delivered", utc(31, 13)
    pipeline = InboundPipeline(db, settings, FakeClock(utc(31, 13) + timedelta(hours=30)))
    result = await pipeline.receive(IncomingText("sms", "twilio", "SM1", f.phone(2), "yes"))
    assert [r.template for r in result.replies] == ["rsvp_closed"]
    async with db.session() as s:
        assert (
            list(await s.scalars(select(Attendance).where(Attendance.action_id == action.id))) == []
        )


async def test_opted_out_and_unreachable_people_get_no_reminders(
    db: Database, settings: Settings
) -> None:
    await build(db)
    async with db.session() as s:
        (await s.get_one(Person, 1)).consent = "opted_out"
        (await s.get_one(Person, 2)).phone_status = "invalid"
    report = await plan(db, settings, utc(29, 9))
    assert report.planned == {"still_coming": 1, "nudge": 2} and report.unreachable == 1
