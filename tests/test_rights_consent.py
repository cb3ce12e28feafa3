"""Consent history: every change is an event, written with the current state in one place
(storage/consent.py); PRIVACY texts back the notice, in every language."""

from __future__ import annotations

from dataclasses import replace

import pytest
from sqlalchemy import select

from bot.inbound import InboundPipeline, InboundResult, IncomingText
from config.clock import FakeClock
from config.settings import Settings
from storage import consent
from storage.db import Database
from storage.models import ConsentEvent, Person
from storage.people import apply_delivery_effect, new_person, person_by_phone
from tests import factories as f

_sid = iter(range(1, 1_000_000))


async def text(pipeline: InboundPipeline, n: int, body: str) -> InboundResult:
    message = IncomingText("sms", "sandbox", f"SM{next(_sid):032d}", f.phone(n), body)
    return await pipeline.receive(message)


@pytest.fixture
def pipeline(db: Database, settings: Settings, clock: FakeClock) -> InboundPipeline:
    return InboundPipeline(db, settings, clock)


def states(events: list[ConsentEvent]) -> list[tuple[str, str, str | None, str | None]]:
    return [(e.state, e.source, e.channel, e.words) for e in events]


async def test_a_new_number_stop_and_start_each_leave_an_event_with_the_words_used(
    db: Database, pipeline: InboundPipeline, clock: FakeClock
) -> None:
    await text(pipeline, 1, "hello")
    clock.advance(minutes=5)
    await text(pipeline, 1, "Stop please")
    await text(pipeline, 1, "STOP")  # already out: no second event
    clock.advance(minutes=5)
    await text(pipeline, 1, "start")
    async with db.session() as s:
        person = await person_by_phone(s, f.phone(1))
        assert person is not None
        events = await consent.history(s, person.id)
        assert states(events) == [
            ("opted_in", "texted_in", None, None),
            ("opted_out", "stop_word", "sms", "Stop please"),
            ("opted_in", "start_word", "sms", "start"),
        ]
        assert person.consent == "opted_in" and person.consent_source == "start_word"
        assert person.consent_at == events[-1].at


async def test_the_carriers_21610_is_an_event(db: Database, clock: FakeClock) -> None:
    now = clock.now()
    async with db.session() as s:
        ann = await f.person(s, "Ann Patel", 1, now)
        apply_delivery_effect(s, ann, "opted_out", now)
        apply_delivery_effect(s, ann, "opted_out", now)
    async with db.session() as s:
        events = await consent.history(s, ann.id)
        assert states(events) == [("opted_out", "carrier", "sms", None)]
        assert (await s.get(Person, ann.id)).opted_out  # type: ignore[union-attr]


async def test_a_new_person_gets_their_first_event_with_them(
    db: Database, clock: FakeClock
) -> None:
    now = clock.now()
    async with db.session() as s:
        person = new_person(
            phone=f.phone(9),
            language="en",
            timezone="Europe/London",
            consent="opted_in",
            consent_source="import",
            now=now,
        )
        s.add(person)
        await s.flush()
        # A change before the first flush and after it both land in the history.
        consent.change(s, person, "opted_out", source="organiser", channel="cli", at=now)
    async with db.session() as s:
        events = (await s.scalars(select(ConsentEvent).order_by(ConsentEvent.id))).all()
        assert [(e.state, e.source) for e in events] == [
            ("opted_in", "import"),
            ("opted_out", "organiser"),
        ]


async def test_an_unknown_source_is_refused(db: Database, clock: FakeClock) -> None:
    async with db.session() as s:
        ann = await f.person(s, "Ann Patel", 1, clock.now())
        with pytest.raises(ValueError):
            consent.change(s, ann, "opted_out", source="guess", at=clock.now())


@pytest.mark.parametrize("word", ["PRIVACY", "privacy", "Preifatrwydd", "PRYWATNOŚĆ", "prywatnosc"])
async def test_privacy_texts_back_the_notice(
    db: Database, settings: Settings, clock: FakeClock, word: str
) -> None:
    notice = "We keep your number to organise. Ask for a copy: privacy@example.org"
    pipeline = InboundPipeline(db, replace(settings, privacy_notice=notice), clock)
    async with db.session() as s:
        await f.person(s, "Ann Patel", 1, clock.now())
    result = await text(pipeline, 1, word)
    assert [r.template for r in result.replies] == ["privacy"]
    assert result.replies[0].body == notice


async def test_without_a_notice_privacy_gives_the_default_in_the_persons_language(
    db: Database, pipeline: InboundPipeline, clock: FakeClock
) -> None:
    async with db.session() as s:
        await f.person(s, "Ann Patel", 1, clock.now(), language="cy")
    result = await text(pipeline, 1, "preifatrwydd")
    assert [r.template for r in result.replies] == ["privacy_default"]
    assert "Gofynnwch" in result.replies[0].body
