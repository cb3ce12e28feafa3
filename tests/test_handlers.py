"""What texts do, through the inbound pipeline (channel-agnostic handlers, real database)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot import handlers
from bot.handlers.grammar import Rsvp
from bot.inbound import InboundPipeline, InboundResult, IncomingText
from config.clock import FakeClock
from config.settings import Settings
from storage.db import Database
from storage.models import (
    Attendance,
    Commitment,
    CommitmentEvent,
    InboundMessage,
    Invitation,
    OutboxMessage,
    Person,
)
from tests import factories as f

_sid = iter(range(1, 1_000_000))


async def text(pipeline: InboundPipeline, n: int, body: str) -> InboundResult:
    message = IncomingText("sms", "sandbox", f"SM{next(_sid):032d}", f.phone(n), body)
    return await pipeline.receive(message)


def templates(result: InboundResult) -> list[str]:
    return [r.template for r in result.replies]


@pytest.fixture
def pipeline(db: Database, settings: Settings, clock: FakeClock) -> InboundPipeline:
    return InboundPipeline(db, settings, clock)


async def test_an_answer_after_the_action_ended_is_told_replies_have_closed(
    db: Database, pipeline: InboundPipeline, clock: FakeClock
) -> None:
    now = clock.now()
    async with db.session() as s:
        action = await f.action(s, now, starts_in=timedelta(hours=-5))
        await f.invite(s, action, await f.person(s, "Ann Patel", 1, now), now)
    result = await text(pipeline, 1, "yes")
    assert templates(result) == ["rsvp_closed"]
    assert "have closed" in result.replies[0].body
    async with db.session() as s:
        assert (await s.scalar(select(Invitation.response))) is None


async def test_with_two_open_invitations_the_named_action_gets_the_answer(
    db: Database, pipeline: InboundPipeline, clock: FakeClock
) -> None:
    now = clock.now()
    async with db.session() as s:
        ann = await f.person(s, "Ann Patel", 1, now)
        soon = await f.action(s, now, slug="housemeeting", title="House meeting")
        later = await f.action(s, now, slug="assembly", starts_in=timedelta(days=20))
        await f.invite(s, soon, ann, now)
        await f.invite(s, later, ann, now)
    await text(pipeline, 1, "yes assembly")
    await text(pipeline, 1, "no")
    async with db.session() as s:
        answers = dict((await s.execute(select(Invitation.action_id, Invitation.response))).all())
    assert answers == {later.id: "yes", soon.id: "no"}


async def test_here_checks_in_during_the_action_once(
    db: Database, pipeline: InboundPipeline, clock: FakeClock
) -> None:
    now = clock.now()
    async with db.session() as s:
        await f.action(s, now, starts_in=timedelta(minutes=-30))
        await f.person(s, "Ann Patel", 1, now)
    assert templates(await text(pipeline, 1, "HERE")) == ["checkin_ok"]
    assert templates(await text(pipeline, 1, "arrived")) == ["checkin_already"]
    # A walk-in (a number we did not know) is checked in too, after the introduction.
    assert templates(await text(pipeline, 2, "here")) == ["intro", "checkin_ok", "walkin_name"]
    async with db.session() as s:
        assert await s.scalar(select(func.count()).select_from(Attendance)) == 2


async def test_here_with_no_action_running_says_so(
    db: Database, pipeline: InboundPipeline, clock: FakeClock
) -> None:
    async with db.session() as s:
        await f.action(s, clock.now(), starts_in=timedelta(days=3))
        await f.person(s, "Ann Patel", 1, clock.now())
    assert templates(await text(pipeline, 1, "here")) == ["checkin_none"]


async def test_stop_cancels_queued_messages_and_silences_everything_until_start(
    db: Database, pipeline: InboundPipeline, clock: FakeClock
) -> None:
    now = clock.now()
    async with db.session() as s:
        action = await f.action(s, now)
        ann = await f.person(s, "Ann Patel", 1, now)
        await f.invite(s, action, ann, now)
        s.add(
            OutboxMessage(
                dedupe_key="reminder:x",
                channel="sms",
                person_id=ann.id,
                to_address=ann.phone,
                body="Reminder",
                not_before=now,
                created_at=now,
                updated_at=now,
            )
        )
    assert templates(await text(pipeline, 1, "CANCEL")) == ["stop_confirm"]
    assert templates(await text(pipeline, 1, "yes")) == []
    assert templates(await text(pipeline, 1, "help")) == []
    assert templates(await text(pipeline, 1, "stop")) == []
    async with db.session() as s:
        reminder = await s.scalar(
            select(OutboxMessage).where(OutboxMessage.dedupe_key == "reminder:x")
        )
        assert reminder is not None and reminder.status == "cancelled"
        assert (await s.scalar(select(Invitation.response))) is None
        open_items = await s.scalar(
            select(func.count())
            .select_from(InboundMessage)
            .where(InboundMessage.inbox_status == "open")
        )
        assert open_items == 2  # "yes" and "help" were kept for an organiser
    assert templates(await text(pipeline, 1, "start")) == ["start_confirm"]
    assert templates(await text(pipeline, 1, "yes")) == ["rsvp_yes"]


async def test_lang_switches_language_and_answers_in_it(
    db: Database, pipeline: InboundPipeline, clock: FakeClock
) -> None:
    async with db.session() as s:
        await f.person(s, "Ann Patel", 1, clock.now())
    result = await text(pipeline, 1, "LANG cy")
    assert templates(result) == ["lang_set"]
    assert "Saesneg" not in result.replies[0].body
    async with db.session() as s:
        assert await s.scalar(select(Person.language)) == "cy"
    assert templates(await text(pipeline, 1, "lang klingon")) == ["lang_unknown"]


async def test_a_leader_commits_their_institution_and_counts(
    db: Database, pipeline: InboundPipeline, clock: FakeClock
) -> None:
    now = clock.now()
    async with db.session() as s:
        mary = await f.institution(s, "St Mary's Church", now)
        action = await f.action(s, now)
        await f.person(s, "Ann Patel", 1, now, institution=mary, role="leader")
        cara = await f.person(s, "Cara Jones", 2, now, institution=mary)
        await f.invite(s, action, cara, now)
    result = await text(pipeline, 1, "COMMIT 40")
    assert templates(result) == ["commit_set"]
    assert "St Mary's Church commits to bring 40" in result.replies[0].body
    await text(pipeline, 1, "commit 45")
    count = await text(pipeline, 1, "COUNT")
    assert templates(count) == ["count"]
    assert "committed 45" in count.replies[0].body and "not replied 1" in count.replies[0].body
    async with db.session() as s:
        assert await s.scalar(select(Commitment.number)) == 45
        assert await s.scalar(select(func.count()).select_from(CommitmentEvent)) == 2


async def test_a_leader_of_two_institutions_must_name_one(
    db: Database, pipeline: InboundPipeline, clock: FakeClock
) -> None:
    now = clock.now()
    async with db.session() as s:
        mary = await f.institution(s, "St Mary's Church", now)
        mosque = await f.institution(s, "Al-Noor Mosque", now)
        await f.action(s, now)
        ann = await f.person(s, "Ann Patel", 1, now, institution=mary, role="leader")
        from storage.models import Membership

        s.add(Membership(person_id=ann.id, institution_id=mosque.id, role="leader", created_at=now))
    assert templates(await text(pipeline, 1, "COMMIT 30")) == ["commit_which"]
    assert templates(await text(pipeline, 1, "COMMIT 30 al-noor")) == ["commit_set"]
    async with db.session() as s:
        assert await s.scalar(select(Commitment.institution_id)) == mosque.id


async def test_a_member_cannot_commit(
    db: Database, pipeline: InboundPipeline, clock: FakeClock
) -> None:
    now = clock.now()
    async with db.session() as s:
        mary = await f.institution(s, "St Mary's Church", now)
        await f.action(s, now)
        await f.person(s, "Cara Jones", 2, now, institution=mary)
    assert templates(await text(pipeline, 2, "COMMIT 40")) == ["commit_not_leader"]
    assert templates(await text(pipeline, 2, "COUNT")) == ["count_not_leader"]


async def test_someone_never_introduced_gets_the_intro_first(
    db: Database, pipeline: InboundPipeline, clock: FakeClock
) -> None:
    now = clock.now()
    async with db.session() as s:
        action = await f.action(s, now)
        ann = await f.person(s, "Ann Patel", 1, now, introduced=False)
        await f.invite(s, action, ann, now)
    result = await text(pipeline, 1, "yes")
    assert templates(result) == ["intro", "rsvp_yes"]
    assert "STOP" in result.replies[0].body
    assert templates(await text(pipeline, 1, "maybe")) == ["rsvp_maybe"]


async def test_a_handler_failure_keeps_the_text_and_still_answers(
    db: Database, pipeline: InboundPipeline, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(ctx: handlers.Context, intent: Rsvp) -> None:
        raise RuntimeError("boom")

    monkeypatch.setitem(handlers.ROUTES, Rsvp, broken)
    async with db.session() as s:
        await f.person(s, "Ann Patel", 1, clock.now())
    result = await text(pipeline, 1, "yes")
    assert templates(result) == ["inbox_ack"]
    async with db.session() as s:
        inbound = await s.scalar(select(InboundMessage))
    assert inbound is not None and inbound.body == "yes"
    assert inbound.inbox_status == "open" and "boom" in (inbound.error or "")
