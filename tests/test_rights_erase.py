"""Erase a person who has done everything, then look for them everywhere: nothing is left,
and the counts are the same (storage/erase.py), on both databases."""

from __future__ import annotations

import asyncio
import io
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import JSON, String, Text, cast, func, select

from bot.cli import cli
from bot.cli.runtime import Runtime
from bot.inbound import InboundPipeline, IncomingText
from config.clock import FakeClock
from config.settings import Secret, Settings
from storage import audit, listening
from storage.db import Database
from storage.erase import erase
from storage.importer import read_people, write_people
from storage.models import (
    Action,
    AuditEntry,
    Base,
    ConsentEvent,
    ConsoleSession,
    InboundMessage,
    Institution,
    OutboxMessage,
    Person,
    Suppression,
    TelegramLinkCode,
    TelegramUpdate,
)
from storage.people import person_by_phone
from storage.rollup import action_rollup
from storage.suppression import NoSuppressionSecret
from tests import factories as f

SECRET = Secret("a-long-random-suppression-key")
TG = 5550001
NAME = "Annabel Okonkwo-Pryce"
WORDS = ["damp in the back bedroom", "buses cost too much for my kids", "rent is too high"]
# Every way their number may be written.
FORMS = ["+447700900001", "447700900001", "07700900001", "07700 900001", "7700900001"]

_sid = iter(range(1, 1_000_000))


async def text(pipeline: InboundPipeline, n: int, body: str) -> None:
    await pipeline.receive(IncomingText("sms", "sandbox", f"SM{next(_sid):032d}", f.phone(n), body))


@pytest.fixture
def rights_settings(settings: Settings) -> Settings:
    return replace(settings, suppression_secret=SECRET)


async def everything(db: Database, settings: Settings, clock: FakeClock) -> dict[str, Any]:
    """Annabel texts, answers, RSVPs, attends, is followed up, links Telegram, signs in; a
    leader logs a doorstep conversation quoting her number and is sent a chase list naming
    her."""
    now = clock.now()
    pipeline = InboundPipeline(db, settings, clock)
    async with db.session() as s:
        mary = await f.institution(s, "St Mary's Church", now)
        coming = await f.action(s, now, slug="assembly")
        running = await f.action(
            s, now, slug="vigil", title="Vigil", starts_in=timedelta(minutes=-30)
        )
        ann = await f.person(s, NAME, 1, now, institution=mary)
        leader = await f.person(s, "Lee Leader", 2, now, institution=mary, role="leader")
        await f.person(s, "Cara Jones", 3, now, institution=mary)
        await f.invite(s, coming, ann, now)
        ann.telegram_user_id = TG
        campaign = await listening.create_campaign(
            s, slug="city-listens", title="City listens", questions=[{"en": "What matters?"}],
            now=now, themes=[],
        )  # fmt: skip
        s.add(
            ConsoleSession(
                token_hash="t" * 64, person_id=ann.id, method="code", user_agent="Firefox",
                created_at=now, last_seen_at=now, expires_at=now + timedelta(days=1),
            )
        )  # fmt: skip
        s.add(
            TelegramLinkCode(
                code_hash="c" * 64, kind="person", person_id=ann.id, created_by_id=leader.id,
                created_at=now, expires_at=now + timedelta(hours=1), used_by_user_id=TG,
            )
        )  # fmt: skip
        s.add(
            TelegramUpdate(
                update_id=99, kind="message", received_at=now,
                raw={"update_id": 99, "message": {"from": {"id": TG, "first_name": "Annabel"},
                     "chat": {"id": TG}, "text": "yes " + WORDS[0]}},
            )
        )  # fmt: skip
        s.add(
            OutboxMessage(
                dedupe_key="chase:1", channel="sms", person_id=leader.id,
                to_address=leader.phone, body=f"Not replied yet: {NAME}, Cara Jones",
                status="sent", not_before=now, created_at=now, updated_at=now,
            )
        )  # fmt: skip
        s.add(
            OutboxMessage(
                dedupe_key="reminder:ann", channel="sms", person_id=ann.id,
                to_address=ann.phone, body=f"Hi {NAME}, see you Saturday",
                not_before=now + timedelta(days=1), created_at=now, updated_at=now,
            )
        )  # fmt: skip
        await audit.record(s, audit.Actor.of(ann, "web"), "signed_in", "person", ann.id, at=now)
        ids = {"ann": ann.id, "coming": coming.id, "running": running.id, "campaign": campaign.id}
    await text(pipeline, 1, f"Hello, we have {WORDS[0]}")
    await text(pipeline, 1, "stop please")
    await text(pipeline, 1, "start")
    await text(pipeline, 1, "YES 2")
    await text(pipeline, 1, "HERE")
    await text(pipeline, 2, f"LOG DOORSTEP 07700 900001 YES: {WORDS[2]}")
    async with db.session() as s:
        ann = await s.get_one(Person, ids["ann"])
        campaign_row = await listening.campaign_by_slug(s, "city-listens")
        assert campaign_row is not None
        await listening.log_conversation(
            s, campaign=campaign_row, person=ann, notes=WORDS[1], kind="doorstep", now=now,
            consent="yes",
        )  # fmt: skip
        await listening.record_follow_up(
            s, campaign=campaign_row, person=ann, now=now, by_name="Lee Leader",
            note=f"Called {NAME} back about the buses",
        )  # fmt: skip
        s.add(
            InboundMessage(
                channel="telegram", provider="telegram", provider_id="tg-1", sender=str(TG),
                body="yes " + WORDS[0], person_id=ann.id, received_at=now,
            )
        )  # fmt: skip
    return ids


async def rollups(db: Database) -> list[Any]:
    async with db.session() as s:
        out = []
        for action in (await s.scalars(select(Action).order_by(Action.id))).all():
            rollup = await action_rollup(s, action)
            out.append((rollup.rows, rollup.no_institution, rollup.unique))
        return out


async def found(db: Database, needles: list[str]) -> list[str]:
    """Every (table.column: needle) where a text or JSON column still holds a needle."""
    hits = []
    async with db.session() as s:
        for table in Base.metadata.sorted_tables:
            for column in table.columns:
                impl = getattr(column.type, "impl", column.type)
                if not isinstance(column.type, JSON) and not isinstance(impl, String | Text | JSON):
                    continue
                for needle in needles:
                    query = select(func.count()).where(
                        func.lower(cast(column, Text)).like(f"%{needle.lower()}%")
                    )
                    if await s.scalar(query.select_from(table)):
                        hits.append(f"{table.name}.{column.name}: {needle}")
    return hits


async def test_an_erased_person_is_nowhere_and_the_counts_stay(
    db: Database, rights_settings: Settings, clock: FakeClock
) -> None:
    ids = await everything(db, rights_settings, clock)
    needles = [*FORMS, NAME, str(TG), *WORDS]
    assert len(await found(db, needles)) > 10  # the search does find them before
    before = await rollups(db)
    assert before[0][0][0].yes == 1 and before[1][0][0].attended == 1
    clock.advance(minutes=5)
    async with db.session() as s:
        ann = await s.get_one(Person, ids["ann"])
        report = await erase(s, ann, secret=SECRET, region="GB", now=clock.now())
    assert report.cancelled >= 1  # the reminder, and the replies the worker had not sent
    assert await found(db, needles) == []
    assert await rollups(db) == before
    async with db.session() as s:
        ann = await s.get_one(Person, ids["ann"])
        assert ann.erased_at is not None and ann.phone is None and ann.name == ""
        assert ann.opted_out
        entry = await s.scalar(select(AuditEntry).where(AuditEntry.actor_person_id == ann.id))
        assert entry is not None and entry.actor_label == "erased person"
        assert await s.scalar(select(func.count()).select_from(Suppression)) == 1
        queued = select(func.count()).where(OutboxMessage.person_id == ann.id)
        assert await s.scalar(queued.where(OutboxMessage.status == "queued")) == 0
        assert await s.scalar(select(func.count()).select_from(TelegramUpdate)) == 0
        assert await s.scalar(select(func.count()).select_from(ConsoleSession)) == 0
        words = (await s.scalars(select(ConsentEvent.words))).all()
        assert set(words) <= {None}
        # Someone else's rows are untouched.
        assert await person_by_phone(s, f.phone(3)) is not None


async def test_erasing_needs_the_suppression_secret(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    async with db.session() as s:
        ann = await f.person(s, NAME, 1, clock.now())
        with pytest.raises(NoSuppressionSecret):
            await erase(s, ann, secret=Secret(""), region="GB", now=clock.now())
        assert ann.name == NAME


async def test_an_import_skips_an_erased_number_until_they_text_in_again(
    db: Database, rights_settings: Settings, clock: FakeClock
) -> None:
    async with db.session() as s:
        ann = await f.person(s, NAME, 1, clock.now())
        await erase(s, ann, secret=SECRET, region="GB", now=clock.now())
    sheet = f"name,phone\n{NAME},07700 900001\nCara Jones,07700 900003\n"
    parsed = read_people(io.StringIO(sheet), settings=rights_settings)
    report = await write_people(db, parsed, now=clock.now(), suppression_secret=SECRET)
    assert report.suppressed == 1 and report.people_created == 1
    assert any("erased at their request" in w and "line 2" in w for w in report.warnings)
    # She texts in herself: the suppression is lifted, and a later import may keep her.
    await text(InboundPipeline(db, rights_settings, clock), 1, "hello again")
    async with db.session() as s:
        assert await s.scalar(select(func.count()).select_from(Suppression)) == 0
    report = await write_people(db, parsed, now=clock.now(), suppression_secret=SECRET)
    assert report.suppressed == 0


async def test_the_cli_erases_with_yes_only_and_records_it(
    db: Database, rights_settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    async with db.session() as s:
        await f.person(s, NAME, 1, clock.now())
    runtime = Runtime(settings=rights_settings, clock=clock)

    async def turnout(*args: str) -> Result:
        # In a thread: each command runs its own event loop.
        return await asyncio.to_thread(CliRunner().invoke, cli, list(args), obj=runtime)

    refused = await turnout("people", "erase", "07700 900001")
    assert refused.exit_code != 0 and "--yes" in refused.output
    out = tmp_path / "ann.zip"
    exported = await turnout("people", "export", "07700900001", "--out", str(out))
    assert exported.exit_code == 0, exported.output
    assert out.exists()
    done = await turnout("people", "erase", "07700 900001", "--yes")
    assert done.exit_code == 0, done.output
    assert "erased" in done.output
    again = await turnout("people", "erase", "07700 900001", "--yes")
    assert again.exit_code != 0 and "nobody has that number" in again.output
    bad = await turnout("people", "export", "not a number")
    assert bad.exit_code != 0 and "Traceback" not in bad.output
    async with db.session() as s:
        logged = (await s.scalars(select(AuditEntry.action).order_by(AuditEntry.id))).all()
    assert list(logged) == ["person_exported", "person_erased"]


async def test_institutions_and_actions_are_not_touched(
    db: Database, rights_settings: Settings, clock: FakeClock
) -> None:
    ids = await everything(db, rights_settings, clock)
    async with db.session() as s:
        ann = await s.get_one(Person, ids["ann"])
        await erase(s, ann, secret=SECRET, region="GB", now=clock.now())
    async with db.session() as s:
        assert await s.scalar(select(Institution.name)) == "St Mary's Church"
        assert (await s.get_one(Action, ids["coming"])).title == "Accountability Assembly"
