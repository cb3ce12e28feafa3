"""The inbound pipeline end to end on the database: store, understand, answer, roll up."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.inbound import InboundPipeline, IncomingText
from config.clock import FakeClock
from config.settings import Settings
from storage.db import Database
from storage.models import InboundMessage, Invitation, OutboxMessage, Person, RsvpEvent
from storage.rollup import action_rollup
from tests import factories as f


def sms(sid: str, sender: str, body: str) -> IncomingText:
    return IncomingText("sms", "twilio", sid, sender, body, "+447700900000")


async def test_yes_with_guests_is_recorded_and_rolled_up(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    now = clock.now()
    async with db.session() as s:
        mary = await f.institution(s, "St Mary's Church", now)
        action = await f.action(s, now)
        ann = await f.person(s, "Ann Patel", 1, now, institution=mary)
        await f.invite(s, action, ann, now)
    pipeline = InboundPipeline(db, settings, clock)

    result = await pipeline.receive(sms("SM1", f.phone(1), "Yes 2!"))

    assert not result.duplicate
    assert [r.template for r in result.replies] == ["rsvp_yes_guests"]
    assert "2 more" in result.replies[0].body
    async with db.session() as s:
        inv = await s.scalar(select(Invitation))
        assert inv is not None and (inv.response, inv.guests) == ("yes", 2)
        assert await s.scalar(select(func.count()).select_from(RsvpEvent)) == 1
        rollup = await action_rollup(s, action)
    row = rollup.row_for(mary.id)
    assert (row.yes, row.guests, row.not_replied) == (1, 2, 0)
    assert rollup.totals.confirmed == 3


async def test_replayed_message_sid_changes_nothing_and_gets_same_answer(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    pipeline = InboundPipeline(db, settings, clock)
    first = await pipeline.receive(sms("SMdup", f.phone(9), "what is this about?"))
    again = await pipeline.receive(sms("SMdup", f.phone(9), "what is this about?"))
    assert again.duplicate
    assert [r.id for r in again.replies] == [r.id for r in first.replies]
    async with db.session() as s:
        assert await s.scalar(select(func.count()).select_from(InboundMessage)) == 1
        assert await s.scalar(select(func.count()).select_from(Person)) == 1
        assert await s.scalar(select(func.count()).select_from(OutboxMessage)) == 1


async def test_unknown_number_becomes_a_person_and_lands_in_inbox(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    pipeline = InboundPipeline(db, settings, clock)
    result = await pipeline.receive(sms("SM2", f.phone(5), "The damp in our flat is terrible"))
    assert [r.template for r in result.replies] == ["welcome_unknown"]
    assert "STOP" in result.replies[0].body
    async with db.session() as s:
        person = await s.scalar(select(Person))
        inbound = await s.scalar(select(InboundMessage))
    assert person is not None and person.consent_source == "texted_in"
    assert inbound is not None and inbound.inbox_status == "open"
    assert inbound.body == "The damp in our flat is terrible"
