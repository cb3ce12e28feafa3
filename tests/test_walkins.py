"""A walk-in's exchange: HERE from a number (or a Telegram account) we do not know checks them
in, then asks their name and their group, recording both; "none" is an answer; an answer we
cannot use is asked again once, then kept for an organiser. The same by SMS and Telegram, in
the person's language."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.inbound import InboundPipeline, InboundResult, IncomingText
from config.clock import FakeClock
from config.settings import Settings
from storage.audit import entries
from storage.db import Database
from storage.models import (
    Attendance,
    InboundMessage,
    Membership,
    OutboxMessage,
    PendingQuestion,
    Person,
)
from tests import factories as f
from tests.fakes.telegram_updates import harness, private, user

_sid = iter(range(1, 1_000_000))


@pytest.fixture
def pipeline(db: Database, settings: Settings, clock: FakeClock) -> InboundPipeline:
    return InboundPipeline(db, settings, clock)


async def say(pipeline: InboundPipeline, channel: str, sender: str, body: str) -> InboundResult:
    provider = "sandbox" if channel == "sms" else "telegram"
    message = IncomingText(channel, provider, f"ID{next(_sid):030d}", sender, body)
    return await pipeline.receive(message)


def templates(result: InboundResult) -> list[str]:
    return [r.template for r in result.replies]


async def assembly_under_way(db: Database, clock: FakeClock) -> None:
    now = clock.now()
    async with db.session() as s:
        await f.action(s, now, starts_in=timedelta(minutes=-30))
        await f.institution(s, "St Mary's Church", now)
        await f.institution(s, "Al-Noor Mosque", now)


async def walker(db: Database, channel: str, sender: str) -> Person:
    async with db.session() as s:
        column = Person.phone if channel == "sms" else Person.telegram_user_id
        value: object = sender if channel == "sms" else int(sender)
        person = await s.scalar(select(Person).where(column == value))
        assert person is not None
        return person


@pytest.mark.parametrize(("channel", "sender"), [("sms", f.phone(50)), ("telegram", "777001")])
async def test_a_walk_in_is_asked_their_name_and_group_and_both_are_recorded(
    db: Database, pipeline: InboundPipeline, clock: FakeClock, channel: str, sender: str
) -> None:
    await assembly_under_way(db, clock)
    assert templates(await say(pipeline, channel, sender, "HERE")) == [
        "intro",
        "checkin_ok",
        "walkin_name",
    ]
    result = await say(pipeline, channel, sender, "  Maria   Lopez ")
    assert templates(result) == ["walkin_group"]
    assert result.replies[0].body.startswith("Thanks Maria. Which group are you with")
    result = await say(pipeline, channel, sender, "st marys")
    assert templates(result) == ["walkin_done"]
    assert result.replies[0].body == "Thank you Maria! You're counted with St Mary's Church."
    person = await walker(db, channel, sender)
    assert person.name == "Maria Lopez"
    async with db.session() as s:
        members = list(await s.scalars(select(Membership).where(Membership.person_id == person.id)))
        assert [(m.role, m.institution_id) for m in members] == [("member", 1)]
        assert await s.scalar(select(PendingQuestion)) is None
        assert await s.scalar(select(Attendance.person_id)) == person.id
        # Nothing of it landed in the inbox; the join is on record.
        assert list(await s.scalars(select(InboundMessage.inbox_status).distinct())) == ["none"]
        assert [e.action for e in await entries(s)] == ["walkin_joined"]
    # Their next words are just words again.
    assert templates(await say(pipeline, channel, sender, "Where are the toilets?")) == [
        "inbox_ack"
    ]


async def test_none_is_an_answer_and_yes_no_are_words_while_asked(
    db: Database, pipeline: InboundPipeline, clock: FakeClock
) -> None:
    await assembly_under_way(db, clock)
    sender = f.phone(51)
    await say(pipeline, "sms", sender, "here")
    assert templates(await say(pipeline, "sms", sender, "YES")) == ["walkin_name"]  # not a name
    assert templates(await say(pipeline, "sms", sender, "Tom")) == ["walkin_group"]
    assert templates(await say(pipeline, "sms", sender, "No")) == ["walkin_done_none"]
    async with db.session() as s:
        assert await s.scalar(select(Membership.id)) is None
        assert await s.scalar(select(PendingQuestion)) is None


async def test_an_unknown_group_is_asked_again_once_then_kept_for_an_organiser(
    db: Database, pipeline: InboundPipeline, clock: FakeClock
) -> None:
    await assembly_under_way(db, clock)
    sender = f.phone(52)
    await say(pipeline, "sms", sender, "HERE")
    await say(pipeline, "sms", sender, "Sam")
    assert templates(await say(pipeline, "sms", sender, "The chess club")) == ["walkin_group_again"]
    assert templates(await say(pipeline, "sms", sender, "Chess club on Fridays")) == ["inbox_ack"]
    async with db.session() as s:
        assert await s.scalar(select(PendingQuestion)) is None
        kept = list(
            await s.scalars(
                select(InboundMessage.body).where(InboundMessage.inbox_status == "open")
            )
        )
    assert kept == ["Chess club on Fridays"]


async def test_a_known_name_is_not_asked_and_an_old_question_no_longer_waits(
    db: Database, pipeline: InboundPipeline, clock: FakeClock
) -> None:
    await assembly_under_way(db, clock)
    async with db.session() as s:
        await f.person(s, "Grace Okafor", 5, clock.now())
    assert templates(await say(pipeline, "sms", f.phone(5), "HERE")) == ["checkin_ok"]
    await say(pipeline, "sms", f.phone(53), "HERE")
    clock.advance(hours=7)
    assert templates(await say(pipeline, "sms", f.phone(53), "Bob")) == ["inbox_ack"]


async def test_the_questions_are_in_the_persons_language(
    db: Database, pipeline: InboundPipeline, clock: FakeClock
) -> None:
    await assembly_under_way(db, clock)
    sender = f.phone(54)
    await say(pipeline, "sms", sender, "HERE")
    async with db.session() as s:
        person = await s.scalar(select(Person).where(Person.phone == sender))
        assert person is not None
        person.language = "cy"
    result = await say(pipeline, "sms", sender, "Eluned")
    assert result.replies[0].body.startswith("Diolch Eluned. Gyda pha grwp")
    result = await say(pipeline, "sms", sender, "dim")
    assert templates(result) == ["walkin_done_none"]
    assert result.replies[0].body == "Diolch Eluned! Rydych chi'n cael eich cyfrif."


async def test_by_a_real_telegram_private_chat_too(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    """Updates through the Telegram webhook from someone new to us: /here, then the answers."""
    await assembly_under_way(db, clock)
    async with harness(db, settings, clock) as tg:
        maria = user(880001, "Mari")
        chat = private(maria)
        for said in ("/here", "Maria Lopez", "Al Noor"):
            await tg.send(tg.updates.text(maria, chat, said))
        async with db.session() as s:
            person = await s.scalar(select(Person).where(Person.telegram_user_id == 880001))
            assert person is not None and person.name == "Maria Lopez"
            member = await s.scalar(
                select(Membership.institution_id).where(Membership.person_id == person.id)
            )
            assert member == 2  # Al-Noor Mosque
            said_back = list(
                await s.scalars(
                    select(OutboxMessage.template)
                    .where(OutboxMessage.person_id == person.id)
                    .order_by(OutboxMessage.id)
                )
            )
    assert said_back == ["intro", "checkin_ok", "walkin_name", "walkin_group", "walkin_done"]
