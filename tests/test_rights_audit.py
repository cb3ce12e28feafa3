"""The audit log everywhere: every CLI command is placed (audited, recording its own entries,
or neither changing anything nor showing anyone), changes through the CLI and through a
conversation are recorded, and organisers can list and export the log."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy import select

from bot.cli import cli
from bot.cli.audit_log import AUDITED, NOT_AUDITED, RECORDED_INSIDE, commands
from bot.cli.runtime import Runtime
from bot.inbound import InboundPipeline, IncomingText
from config.clock import FakeClock
from config.settings import Settings
from storage.audit_export import audit_rows
from storage.db import Database
from storage.models import AuditEntry
from storage.telegram import create_link_code
from tests import factories as f
from tests.fakes.telegram_updates import group, harness, private, user


def test_every_command_is_placed() -> None:
    paths = {path for path, _command in commands()}
    placed = [*AUDITED, *RECORDED_INSIDE, *NOT_AUDITED]
    assert len(placed) == len(set(placed)), "a command is in two lists"
    assert paths - set(placed) == set(), "place these in bot/cli/audit_log.py"
    assert set(placed) - paths == set(), "these commands no longer exist"


def runner(settings: Settings, clock: FakeClock):  # type: ignore[no-untyped-def]
    runtime = Runtime(settings=settings, clock=clock)

    async def turnout(*args: str) -> Result:
        result = await asyncio.to_thread(CliRunner().invoke, cli, list(args), obj=runtime)
        return result

    return turnout


async def test_cli_changes_are_recorded_listed_and_exported(
    db: Database, settings: Settings, clock: FakeClock, tmp_path: Path
) -> None:
    turnout = runner(settings, clock)
    created = await turnout(
        "actions", "create", "assembly", "--title", "Assembly", "--start", "2026-03-20 18:30",
        "--place", "De Montfort Hall",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    failed = await turnout("actions", "cancel", "no-such-action")
    assert failed.exit_code != 0  # nothing changed: nothing recorded
    listed = await turnout("audit", "list")
    assert "action_created" in listed.output and "operator (command line)" in listed.output
    out = tmp_path / "audit.csv"
    exported = await turnout("audit", "export", "--out", str(out))
    assert exported.exit_code == 0, exported.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["action"] for r in rows] == ["action_created"]
    assert '"slug": "assembly"' in rows[0]["details"]
    async with db.session() as s:
        actions = (await s.scalars(select(AuditEntry.action).order_by(AuditEntry.id))).all()
    assert list(actions) == ["action_created", "audit_exported"]


async def test_a_leaders_commit_by_text_is_recorded_with_its_outcome(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    now = clock.now()
    async with db.session() as s:
        mary = await f.institution(s, "St Mary's Church", now)
        await f.action(s, now)
        lee = await f.person(s, "Lee Leader", 1, now, institution=mary, role="leader")
        await f.person(s, "Cara Jones", 2, now, institution=mary)
    pipeline = InboundPipeline(db, settings, clock)
    for n, body in ((1, "COMMIT 40"), (2, "COMMIT 40"), (1, "yes")):
        await pipeline.receive(IncomingText("sms", "sandbox", f"SM{n}{body}", f.phone(n), body))
    async with db.session() as s:
        rows = await audit_rows(s)
        assert [(r["action"], r["who"], r["via"]) for r in rows] == [
            ("sms_commit", "Cara Jones", "sms"),
            ("sms_commit", "Lee Leader", "sms"),
        ]
        assert "commit_not_leader" in rows[0]["details"]
        assert "commit_set" in rows[1]["details"]
        mine = await audit_rows(s, person_id=lee.id)
        assert len(mine) == 1


async def test_telegram_links_and_leaders_commands_are_recorded(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    ann_user, group_chat = user(5001, "Ann", "Patel"), group(-4001, "St Mary's")
    async with db.session() as s:
        mary = await f.institution(s, "St Mary's Church", clock.now())
        await f.action(s, clock.now())
        ann = await f.person(s, "Ann Patel", 1, clock.now(), institution=mary, role="leader")
        person_code, _ = await create_link_code(s, kind="person", person_id=ann.id, now=clock.now())
        group_code, _ = await create_link_code(
            s, kind="group", institution_id=mary.id, now=clock.now()
        )
    async with harness(db, settings, clock) as tg:
        await tg.send(tg.updates.text(ann_user, private(ann_user), f"/start {person_code}"))
        await tg.send(tg.updates.text(ann_user, group_chat, f"/link {group_code}"))
        await tg.send(tg.updates.text(ann_user, group_chat, "/commit 30"))
    async with db.session() as s:
        rows = list(reversed(await audit_rows(s)))
    assert [(r["action"], r["who"], r["via"], r["subject"]) for r in rows] == [
        ("telegram_account_linked", "Ann Patel", "telegram", f"person #{ann.id}"),
        ("telegram_group_linked", "Ann Patel", "telegram", f"institution #{mary.id}"),
        ("telegram_commit", "Ann Patel", "telegram", f"institution #{mary.id}"),
    ]
