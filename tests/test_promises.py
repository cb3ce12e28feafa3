"""Asks and promises: recorded, marked and exported (formula-safe) on both databases; those
falling due in the digest and on the console; the report-back sent once to everyone who came,
in their language, even when run twice; the console pages and the CLI."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from click.testing import CliRunner
from sqlalchemy import select

from bot.cli import cli
from bot.cli.runtime import Runtime
from config.clock import FakeClock
from config.settings import Settings
from scheduler import promises as use
from scheduler.actions import check_in
from scheduler.digest.build import build_digest
from scheduler.digest.render import render_sms, render_text
from storage.audit import Actor, entries
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Action, OutboxMessage, Person, Promise
from storage.promises import promises_for, write_csv
from tests import factories as f
from tests.conftest import T0
from tests.console import Browser, numbers

TODAY = date(2026, 3, 10)
OPERATOR = Actor.operator()


def ask(**extra: Any) -> use.AskInput:
    values: dict[str, Any] = {
        "holder_name": "Cllr Sarah Jones",
        "ask": "Will you adopt the Real Living Wage?",
        "holder_role": "Council leader",
        "holder_organisation": "Leicester City Council",
        "answer": "yes",
        "words": "We will be accredited by June",
        "due_on": TODAY + timedelta(days=3),
    }
    return use.AskInput(**{**values, **extra})


async def test_asks_are_recorded_checked_marked_and_audited(db: Database, clock: FakeClock) -> None:
    now = clock.now()
    async with db.session() as s:
        action = await f.action(s, now)
        first = await use.add(s, action, ask(), actor=OPERATOR, now=now)
        await use.add(
            s,
            action,
            ask(holder_name="  Chief  Constable  ", answer="will_respond", words="", due_on=None),
            actor=OPERATOR,
            now=now,
        )
        for bad, message in (
            (ask(holder_name=" "), "who was asked"),
            (ask(ask=""), "what they were asked"),
            (ask(answer="maybe"), "answer must be one of"),
            (ask(words="x" * 2001), "keep it to 2000"),
        ):
            with pytest.raises(use.PromiseError, match=message):
                await use.add(s, action, bad, actor=OPERATOR, now=now)
        with pytest.raises(use.PromiseError, match="not a date"):
            use.parse_due("next June")
        await use.mark(s, first, "kept", note="Accredited on 12 June", actor=OPERATOR, now=now)
        with pytest.raises(use.PromiseError, match="status must be"):
            await use.mark(s, first, "forgotten", actor=OPERATOR, now=now)
    async with db.session() as s:
        rows = await promises_for(s, action.id)
        assert [(p.holder_name, p.answer, p.status, p.note) for p in rows] == [
            ("Cllr Sarah Jones", "yes", "kept", "Accredited on 12 June"),
            ("Chief Constable", "will_respond", "open", ""),
        ]
        assert rows[0].due_on == TODAY + timedelta(days=3)
        done = sorted(e.action for e in await entries(s))
        assert done == ["promise_marked", "promise_recorded", "promise_recorded"]


async def test_the_export_is_formula_safe(db: Database, clock: FakeClock) -> None:
    now = clock.now()
    async with db.session() as s:
        action = await f.action(s, now)
        await use.add(
            s,
            action,
            ask(holder_name='=HYPERLINK("http://x")', words="+1 more bus", due_on=None),
            actor=OPERATOR,
            now=now,
        )
        out = io.StringIO(newline="")
        assert write_csv(out, action, await promises_for(s, action.id)) == 1
    header, row = list(csv.reader(io.StringIO(out.getvalue())))
    assert header[:3] == ["action", "power_holder", "role"]
    assert row[1] == '\'=HYPERLINK("http://x")' and row[6] == "'+1 more bus"
    assert row[5] == "Yes" and row[7] == "" and row[8] == "open"


async def test_promises_falling_due_are_in_the_organisers_digest(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    now = clock.now()
    async with db.session() as s:
        action = await f.action(s, now, starts_in=timedelta(days=-20))
        await use.add(s, action, ask(), actor=OPERATOR, now=now)
        await use.add(
            s,
            action,
            ask(holder_name="PCC Rupert", due_on=TODAY - timedelta(days=2)),
            actor=OPERATOR,
            now=now,
        )
        later = await use.add(
            s,
            action,
            ask(holder_name="MP Later", due_on=TODAY + timedelta(days=30)),
            actor=OPERATOR,
            now=now,
        )
        kept = await use.add(s, action, ask(holder_name="Kept Already"), actor=OPERATOR, now=now)
        await use.mark(s, kept, "kept", actor=OPERATOR, now=now)
        assert later.status == "open"
    async with db.session() as s:
        digest = await build_digest(s, settings, now)
        scoped = await build_digest(s, settings, now, institution_ids=frozenset({1}))
    assert digest.promises_due == [
        "PCC Rupert: We will be accredited by June (Accountability Assembly, 2 days overdue)",
        "Cllr Sarah Jones: We will be accredited by June (Accountability Assembly, due in 3 days)",
    ]
    assert scoped.promises_due == []
    text = render_text(digest)
    assert "Promises falling due\nPCC Rupert" in text
    assert "Promises due 2." in render_sms(digest)


async def attendees(db: Database, clock: FakeClock) -> tuple[Action, list[Person]]:
    """An assembly that started two hours ago: Ann (English) and Eluned (Welsh) checked in,
    Sam checked in and then said STOP, Tom was invited but did not come."""
    now = clock.now()
    async with db.session() as s:
        action = await f.action(s, now, starts_in=timedelta(hours=-2), hours=1.5)
        mary = await f.institution(s, "St Mary's Church", now)
        ann = await f.person(s, "Ann Patel", 1, now, institution=mary)
        eluned = await f.person(s, "Eluned Jones", 2, now, language="cy")
        sam = await f.person(s, "Sam Reed", 3, now, institution=mary)
        tom = await f.person(s, "Tom Hughes", 4, now)
        sam.consent = "opted_out"
        for p in (ann, eluned, sam):
            await check_in(s, action.id, p.id, source="checkin", now=now)
        await f.invite(s, action, tom, now)
    return action, [ann, eluned, sam, tom]


async def test_the_report_back_goes_once_to_everyone_who_came_in_their_language(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    action, (ann, eluned, _sam, _tom) = await attendees(db, clock)
    now = clock.now()
    async with db.session() as s:
        await use.add(s, action, ask(), actor=OPERATOR, now=now)
        await use.add(s, action, ask(holder_name="MP No", answer="no"), actor=OPERATOR, now=now)
        preview = await use.report_back(s, settings, action, actor=OPERATOR, now=now, preview=True)
    assert (preview.came, preview.attendees, preview.queued, preview.opted_out) == (3, 3, 2, 1)
    async with db.session() as s:
        assert await s.scalar(select(OutboxMessage.id)) is None  # a preview writes nothing
        first = await use.report_back(s, settings, action, actor=OPERATOR, now=now)
    clock.advance(hours=1)
    async with db.session() as s:
        second = await use.report_back(s, settings, action, actor=OPERATOR, now=clock.now())
    assert (first.queued, first.already) == (2, 0)
    assert (second.queued, second.already) == (0, 2)
    async with db.session() as s:
        rows = list(await s.scalars(select(OutboxMessage).order_by(OutboxMessage.person_id)))
    assert [(r.person_id, r.template) for r in rows] == [
        (ann.id, "report_back"),
        (eluned.id, "report_back"),
    ]
    assert rows[0].body == (
        "Thank you for coming to Accountability Assembly. 3 of us were there. What was "
        "promised: Cllr Sarah Jones (Leicester City Council): We will be accredited by June"
    )
    assert rows[1].body.startswith("Diolch am ddod i Accountability Assembly. Roedd 3 ohonom")
    assert "MP No" not in rows[0].body


async def test_no_report_back_before_the_action_and_none_without_promises(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    action, _people = await attendees(db, clock)
    async with db.session() as s:
        future = await f.action(s, clock.now(), slug="later")
        with pytest.raises(use.PromiseError, match="has not started"):
            await use.report_back(s, settings, future, actor=OPERATOR, now=clock.now())
        await use.report_back(s, settings, action, actor=OPERATOR, now=clock.now())
    async with db.session() as s:
        templates = set(await s.scalars(select(OutboxMessage.template)))
    assert templates == {"report_back_none"}


# -- the console ----------------------------------------------------------------------------


async def test_an_organiser_records_marks_exports_and_reports_back_on_the_console(
    web: TestClient[Any, Any], db: Database, console_settings: Settings, clock: FakeClock
) -> None:
    people = await numbers(db, clock.now())
    async with db.session() as s:
        action = await s.scalar(select(Action))
        assert action is not None
        await check_in(s, action.id, people.grace.id, source="checkin", now=clock.now())
    browser = Browser(web, console_settings)
    await browser.sign_in(db, "07700 900011")
    page = await browser.get("/promises")
    assert page.status == 200 and "Accountability Assembly" in page.text
    page = await browser.get("/actions/assembly/promises")
    assert "After the action starts" in page.text
    page = await browser.post("/actions/assembly/promises", {"holder_name": "", "ask": "x"})
    assert page.status == 400 and "Say who was asked" in page.text
    page = await browser.post(
        "/actions/assembly/promises",
        {"holder_name": "Cllr Jones", "ask": "Living Wage?", "answer": "yes", "due_on": "soon"},
    )
    assert page.status == 400 and "is not a date" in page.text and 'value="Cllr Jones"' in page.text
    page = await browser.post(
        "/actions/assembly/promises",
        {
            "holder_name": "Cllr Jones",
            "holder_organisation": "City Council",
            "ask": "Living Wage?",
            "answer": "yes",
            "words": "Accredited by June",
            "due_on": "2026-03-12",
        },
    )
    assert page.status == 200 and "Ask recorded" in page.text
    page = await browser.post(
        "/actions/assembly/promises",
        {"holder_name": "PCC Khan", "ask": "Safer streets?", "answer": "partly"},
    )
    assert "PCC Khan" in page.text and "Cllr Jones" in page.text
    async with db.session() as s:
        jones = await s.scalar(select(Promise).where(Promise.holder_name == "Cllr Jones"))
        assert jones is not None
    page = await browser.post(
        f"/actions/assembly/promises/{jones.id}", {"status": "kept", "note": "Done"}
    )
    assert page.status == 200 and "Promise updated" in page.text
    assert (
        await browser.post(f"/actions/assembly/promises/{jones.id}", {"status": "x"})
    ).status == 400
    async with web.get("/actions/assembly/promises.csv") as resp:
        assert resp.status == 200 and resp.content_type == "text/csv"
        body = await resp.text()
    assert "Cllr Jones" in body and "kept" in body
    # Falling due on /promises (PCC Khan has no date; Jones is kept): nothing due.
    assert "No open promise is due" in (await browser.get("/promises")).text
    # After the start: the report-back with its preview count, sent once.
    async with db.session() as s:  # (moving the clock a week on would end the sign-in)
        started = await s.get_one(Action, action.id)
        started.starts_at, started.ends_at = clock.now() - timedelta(hours=1), clock.now()
    page = await browser.get("/actions/assembly/promises")
    assert "1 person would get it now" in page.text
    page = await browser.post("/actions/assembly/report-back")
    assert "Report-back queued for 1 person." in page.text
    assert "had it already" in page.text
    async with db.session() as s:
        rows = list(
            await s.scalars(select(OutboxMessage).where(OutboxMessage.template.like("report%")))
        )
    assert [r.person_id for r in rows] == [people.grace.id]
    await browser.post("/sign-out")
    await browser.sign_in(db, "07700 900001")  # Ann, a leader
    # A leader reads what was promised, and changes nothing.
    page = await browser.get("/actions/assembly/promises")
    assert page.status == 200 and "Cllr Jones" in page.text
    assert "Record an ask" not in page.text and "Report back" not in page.text
    assert (await browser.get("/promises")).status == 200
    page = await browser.post(f"/actions/assembly/promises/{jones.id}", {"status": "broken"})
    assert page.status == 403
    assert (await browser.post("/actions/assembly/report-back")).status == 403


# -- the CLI ----------------------------------------------------------------------------------


def test_promises_from_the_command_line(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    env = {"TURNOUT_DATABASE_URL": url, "TURNOUT_ALLIANCE_NAME": "Leicester Citizens"}
    clock = FakeClock(T0)

    def turnout(*args: str, ok: bool = True) -> str:
        result = runner.invoke(cli, list(args), env=env, obj=Runtime(clock=clock))
        assert (result.exit_code == 0) == ok, result.output
        return result.output

    async def seed() -> None:
        db = Database.from_url(url)
        await upgrade(db.engine)
        async with db.session() as s:
            await f.action(s, T0, starts_in=timedelta(hours=-2))
        await db.dispose()

    asyncio.run(seed())
    out = turnout(
        "promises",
        "add",
        "assembly",
        "--holder",
        "Cllr Jones",
        "--ask",
        "Living Wage?",
        "--answer",
        "yes",
        "--words",
        "=by June",
        "--due",
        "2026-03-12",
    )
    assert "promise 1 recorded" in out
    assert "Cllr Jones" in turnout("promises", "list", "assembly")
    assert "due in 2 days" in turnout("promises", "due")
    assert "'=by June" in turnout("promises", "export", "assembly")
    assert "promise 1: kept" in turnout("promises", "mark", "1", "kept", "--note", "yes")
    assert "0 would be queued" in turnout("promises", "report-back", "assembly", "--preview")
    assert "no action called" in turnout("promises", "list", "nope", ok=False)
