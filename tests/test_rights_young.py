"""Young people are never messaged directly until a named adult has consented: tested like
STOP, on every send path (scheduler/outbound.py held_back is where each one asks)."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, date, datetime, timedelta

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from bot.cli import cli
from bot.cli.runtime import Runtime
from bot.inbound import InboundPipeline, IncomingText
from config.clock import FakeClock
from config.settings import Settings
from scheduler import actions
from scheduler.delivery.sender import Sender
from scheduler.listening import send_campaign
from scheduler.outbound import channel_for, held_back, place_message
from storage import listening, young
from storage.db import Database
from storage.listening import Segment
from storage.models import InboundMessage, ListeningContact, OutboxMessage, Person
from storage.outbox import Draft, Envelope, enqueue
from tests import factories as f
from tests.conftest import T0
from tests.fakes import FakeSleep, RecordingChannel


async def young_person(db: Database, clock: FakeClock, n: int = 1, **marks: object) -> int:
    async with db.session() as s:
        mary = await f.institution(s, f"St Mary's {n}", clock.now(), kind="school")
        p = await f.person(s, "Sam Young", n, clock.now(), institution=mary)
        young.mark(p, today=clock.now().date(), **marks)  # type: ignore[arg-type]
        return p.id


def test_a_date_of_birth_makes_them_young_until_their_sixteenth_birthday() -> None:
    born = date(2010, 12, 1)
    p = Person(under_16=False, born_on=born, adult_consent_at=None, consent="opted_in")
    clock = FakeClock(datetime(2026, 11, 30, 12, tzinfo=UTC))
    assert young.is_young(p, clock.now()) and young.needs_adult(p, clock.now())
    assert not young.is_young(p, clock.now() + timedelta(days=1))
    assert held_back(p, clock.now(), "consent") == "young"


async def test_the_sender_sends_nothing_of_any_kind_until_an_adult_consents(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    pid = await young_person(db, clock)
    now = clock.now()
    async with db.session() as s:
        p = await s.get_one(Person, pid)
        for kind in ("bulk", "reply", "system", "consent"):
            await enqueue(
                s, p, Envelope(Draft("help", {}), f"t:{kind}", kind=kind), now=now,
                alliance="Leicester Citizens",
            )  # fmt: skip
    channel = RecordingChannel()
    sender = Sender(db, {"sms": channel}, clock, settings, worker_id="w",
                    sleep=FakeSleep(clock), rng=random.Random(1))  # fmt: skip
    await sender.send_due()
    assert channel.sent == []
    async with db.session() as s:
        rows = (await s.scalars(select(OutboxMessage))).all()
        assert {(r.status, r.error_code) for r in rows} == {("cancelled", "young")}
        p = await s.get_one(Person, pid)
        young.adult_consent(p, name="Grace Obi", relation="parent", at=now)
        await enqueue(
            s, p, Envelope(Draft("help", {}), "t:after"), now=now, alliance="Leicester Citizens"
        )
    await sender.send_due()
    assert len(channel.sent) == 1


async def test_invitations_and_reminders_pass_them_by(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    pid = await young_person(db, clock, born=date(2013, 3, 4))
    async with db.session() as s:
        action = await f.action(s, clock.now())
        report = await actions.invite(s, action, settings=settings, now=clock.now())
        assert report.skipped_unreachable == 1 and report.queued == 0
        p = await s.get_one(Person, pid)
        assert channel_for(p, clock.now()) is None
        outcome = await place_message(
            s, p, Draft("help", {}), settings=settings, key="reminder:x", now=clock.now(),
            not_before=clock.now(), deadline=clock.now() + timedelta(days=1), action_id=action.id,
        )  # fmt: skip
        assert outcome == "unreachable"
        assert await s.scalar(select(func.count()).select_from(OutboxMessage)) == 0


async def test_their_texts_get_no_reply_and_go_to_an_organiser(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    await young_person(db, clock)
    pipeline = InboundPipeline(db, settings, clock)
    result = await pipeline.receive(
        IncomingText("sms", "sandbox", "SM" + "1" * 32, f.phone(1), "HELP")
    )
    assert result.replies == []
    async with db.session() as s:
        assert await s.scalar(select(func.count()).select_from(OutboxMessage)) == 0
        assert await s.scalar(select(InboundMessage.inbox_status)) == "open"


def test_the_adult_must_be_named_and_a_parent_carer_or_teacher() -> None:
    p = Person()
    with pytest.raises(ValueError):
        young.adult_consent(p, name="Grace", relation="friend", at=T0)
    with pytest.raises(ValueError):
        young.adult_consent(p, name=" ", relation="teacher", at=T0)


async def test_the_cli_marks_them_and_records_the_adult(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    async with db.session() as s:
        await f.person(s, "Sam Young", 1, clock.now())
    runtime = Runtime(settings=settings, clock=clock)

    async def turnout(*args: str) -> Result:
        return await asyncio.to_thread(CliRunner().invoke, cli, list(args), obj=runtime)

    marked = await turnout("people", "young", "07700 900001", "--born", "2013-05-01")
    assert marked.exit_code == 0, marked.output
    assert "no adult consent yet" in marked.output
    half = await turnout("people", "young", "07700 900001", "--adult", "Grace Obi")
    assert half.exit_code != 0 and "--relation" in half.output
    done = await turnout(
        "people", "young", "07700 900001", "--adult", "Grace Obi", "--relation", "carer"
    )
    assert done.exit_code == 0 and "carer Grace Obi consented" in done.output
    bad = await turnout("people", "young", "07700 900001", "--born", "2013-13-01")
    assert bad.exit_code != 0 and "Traceback" not in bad.output
    async with db.session() as s:
        p = await s.scalar(select(Person))
        assert p is not None and p.born_on == date(2013, 5, 1) and p.adult_relation == "carer"
        assert channel_for(p, clock.now()) == "sms"


async def test_a_listening_campaign_does_not_ask_them(
    db: Database, clock: FakeClock, settings: Settings
) -> None:
    pid = await young_person(db, clock, under_16=True)
    async with db.session() as s:
        await f.person(s, "Ada Adult", 2, clock.now())
        campaign = await listening.create_campaign(
            s, slug="city-listens", title="City", questions=[{"en": "What matters?"}],
            now=clock.now(), themes=[],
        )  # fmt: skip
        sent = await send_campaign(
            s, campaign, Segment(everyone=True), now=clock.now(), settings=settings
        )
        assert sent.unreachable == 1
        contacts = (await s.scalars(select(ListeningContact.person_id))).all()
        assert pid not in contacts and len(contacts) == 1
