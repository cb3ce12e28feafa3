"""Retention (old free text redacted, themes, counts and dates kept; dormant people listed,
nothing deleted) and the CSV exports of the tables organisers use."""

from __future__ import annotations

import asyncio
import csv
import io
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy import func, select

from bot.cli import cli
from bot.cli.runtime import Runtime
from config.clock import FakeClock
from config.settings import Settings
from scheduler import actions as use_cases
from scheduler.retention import apply_retention
from storage import listening
from storage.db import Database
from storage.models import (
    AuditEntry,
    InboundMessage,
    ListeningAnswer,
    ListeningAnswerTheme,
    ListeningFollowUp,
    ListeningTheme,
    Person,
)
from storage.retention import dormant
from tests import factories as f


async def test_old_text_is_redacted_and_its_themes_counts_and_dates_stay(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    old = clock.now()
    async with db.session() as s:
        ann = await f.person(s, "Ann Patel", 1, old)
        campaign = await listening.create_campaign(
            s, slug="city-listens", title="City", questions=[{"en": "What matters?"}],
            now=old, themes=[],
        )  # fmt: skip
        theme = ListeningTheme(campaign_id=campaign.id, key="buses", labels={"en": "Buses"})
        s.add(theme)
        answer = await listening.log_conversation(
            s, campaign=campaign, person=ann, notes="the buses are too dear", kind="doorstep",
            now=old,
        )  # fmt: skip
        await s.flush()
        s.add(ListeningAnswerTheme(answer_id=answer.id, theme_id=theme.id, source="manual"))
        await listening.record_follow_up(s, campaign=campaign, person=ann, now=old, note="rang")
        s.add(
            InboundMessage(
                channel="sms", provider="sandbox", provider_id="SM1", sender=ann.phone or "",
                body="old words", person_id=ann.id, received_at=old,
            )
        )  # fmt: skip
    clock.advance(days=31)
    async with db.session() as s:
        s.add(
            InboundMessage(
                channel="sms", provider="sandbox", provider_id="SM2", sender=f.phone(1),
                body="new words", person_id=ann.id, received_at=clock.now(),
            )
        )  # fmt: skip
    assert await apply_retention(db, replace(settings, retain_text_days=0), clock.now()) == {}
    changed = await apply_retention(db, replace(settings, retain_text_days=30), clock.now())
    assert changed["inbound_messages"] == 1 and changed["listening_answers"] == 1
    async with db.session() as s:
        bodies = (await s.scalars(select(InboundMessage.body).order_by(InboundMessage.id))).all()
        assert list(bodies) == ["", "new words"]
        kept = await s.get_one(ListeningAnswer, answer.id)
        assert kept.body == "" and kept.received_at == old
        assert await s.scalar(select(func.count()).select_from(ListeningAnswerTheme)) == 1
        assert await s.scalar(select(ListeningFollowUp.note)) == ""


async def test_dormant_people_are_listed_and_kept(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    start = clock.now()
    async with db.session() as s:
        await f.person(s, "Quiet Quinn", 1, start)
        busy = await f.person(s, "Busy Bea", 2, start)
    clock.advance(days=400)
    async with db.session() as s:
        s.add(
            InboundMessage(
                channel="sms", provider="sandbox", provider_id="SM3", sender=f.phone(2),
                body="hi", person_id=busy.id, received_at=clock.now(),
            )
        )  # fmt: skip
    async with db.session() as s:
        rows = await dormant(s, since=clock.now() - timedelta(days=365))
        assert [r.name for r in rows] == ["Quiet Quinn"]
    result = await asyncio.to_thread(
        CliRunner().invoke, cli, ["people", "dormant", "--months", "12"],
        obj=Runtime(settings=settings, clock=clock),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Quiet Quinn" in result.output and "Busy Bea" not in result.output
    assert "+447700900001" not in result.output
    async with db.session() as s:
        assert await s.scalar(select(func.count()).select_from(Person)) == 2


async def test_table_exports_are_formula_safe_and_audited(
    db: Database, settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    now = clock.now()
    async with db.session() as s:
        mary = await f.institution(s, "=cmd|' /C calc'!A0", now)
        action = await f.action(s, now, starts_in=timedelta(minutes=-10))
        ann = await f.person(s, "@Ann", 1, now, institution=mary)
        await f.invite(s, action, ann, now)
        await use_cases.check_in(s, action.id, ann.id, now=now, source="checkin")
        await use_cases.commit(
            s, action_id=action.id, institution_id=mary.id, number=40, set_by_id=ann.id,
            channel="sms", now=now,
        )  # fmt: skip
    runtime = Runtime(settings=settings, clock=clock)

    async def turnout(*args: str) -> Result:
        return await asyncio.to_thread(CliRunner().invoke, cli, list(args), obj=runtime)

    for what in ("people", "rollup", "attendance", "commitments"):
        out = tmp_path / f"{what}.csv"
        args = ["export", what] + ([] if what == "people" else ["assembly"])
        result = await turnout(*args, "--out", str(out))
        assert result.exit_code == 0, result.output
        text = out.read_text()
        assert "\n=" not in text and ",=" not in text and ",@" not in text, what
        assert list(csv.reader(io.StringIO(text)))[1], what
    bad = await turnout("export", "rollup", "nope")
    assert bad.exit_code != 0 and "no action called" in bad.output
    async with db.session() as s:
        logged = (await s.scalars(select(AuditEntry.action).order_by(AuditEntry.id))).all()
    assert list(logged) == [
        "people_exported", "rollup_exported", "attendance_exported", "commitments_exported",
    ]  # fmt: skip
