"""``turnout promises``: the asks put to power-holders at an action, their promises, and the
report-back to everyone who came (the console has the same on ``/actions/SLUG/promises``).

    turnout promises add assembly --holder "Cllr Sarah Jones" --role "Council leader" \\
        --organisation "Leicester City Council" --ask "Adopt the Living Wage" \\
        --answer yes --words "We will be accredited by June" --due 2026-06-30
    turnout promises list assembly
    turnout promises mark 1 kept --note "Accredited on 12 June"
    turnout promises due                          # open promises due within a week, or late
    turnout promises export assembly promises.csv
    turnout promises report-back assembly --preview
    turnout promises report-back assembly         # once per person, however often it is run

Every change is in the audit log as the operator's.
"""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli.common import run, table
from bot.cli.root import cli
from bot.cli.runtime import Runtime, pass_runtime
from config.settings import Settings
from scheduler import promises as use
from scheduler.actions import get_action
from storage.audit import Actor
from storage.models import ANSWERS, PROMISE_STATUSES
from storage.promises import ANSWER_LABELS, due, due_line, promises_for, write_csv


@cli.group()
def promises() -> None:
    """Asks and promises made at an action, and the report-back to those who came."""


@promises.command("add")
@click.argument("action")
@click.option("--holder", required=True, help="The power-holder's name.")
@click.option("--role", default="", help="Their role (Council leader, MP...).")
@click.option("--organisation", default="", help="Their organisation.")
@click.option("--ask", "ask", required=True, help="What they were asked.")
@click.option("--answer", type=click.Choice(ANSWERS), default="will_respond", show_default=True)
@click.option("--words", default="", help="The promise, in their words.")
@click.option("--due", default="", help="The date to keep it by (2026-06-30).")
@pass_runtime
@run
async def add(
    rt: Runtime,
    action: str,
    holder: str,
    role: str,
    organisation: str,
    ask: str,
    answer: str,
    words: str,
    due: str,
) -> None:
    """Record an ask put to a power-holder at ACTION, and their answer."""

    async def body(session: AsyncSession, _settings: Settings, now: datetime) -> None:
        given = use.AskInput(holder, ask, role, organisation, answer, words, use.parse_due(due))
        promise = await use.add(
            session, await get_action(session, action), given, actor=Actor.operator(), now=now
        )
        click.echo(f"promise {promise.id} recorded: {promise.holder_name}, {answer}")

    await rt.transaction(body)


@promises.command("list")
@click.argument("action")
@pass_runtime
@run
async def list_promises(rt: Runtime, action: str) -> None:
    """The asks and promises of ACTION."""

    async def body(session: AsyncSession, _settings: Settings, _now: datetime) -> None:
        found = await get_action(session, action)
        rows = [
            [
                p.id,
                p.holder_name,
                p.holder_organisation,
                ANSWER_LABELS[p.answer],
                p.words or p.ask,
                p.due_on.isoformat() if p.due_on else "-",
                p.status,
            ]
            for p in await promises_for(session, found.id)
        ]
        headers = ["id", "power-holder", "organisation", "answer", "promise", "due", "status"]
        click.echo(table(headers, rows) if rows else "no asks recorded yet")

    await rt.transaction(body)


@promises.command("mark")
@click.argument("promise_id", type=int)
@click.argument("status", type=click.Choice(PROMISE_STATUSES))
@click.option("--note", default=None, help="What happened (kept as written).")
@pass_runtime
@run
async def mark(rt: Runtime, promise_id: int, status: str, note: str | None) -> None:
    """Mark promise PROMISE_ID kept, broken or open."""

    async def body(session: AsyncSession, _settings: Settings, now: datetime) -> None:
        promise = await use.get(session, promise_id)
        await use.mark(session, promise, status, note=note, actor=Actor.operator(), now=now)
        click.echo(f"promise {promise_id}: {status}")

    await rt.transaction(body)


@promises.command("due")
@pass_runtime
@run
async def due_promises(rt: Runtime) -> None:
    """Open promises due within a week, or overdue (as in the digest)."""

    async def body(session: AsyncSession, settings: Settings, now: datetime) -> None:
        today = now.astimezone(ZoneInfo(settings.default_timezone)).date()
        lines = [f"{p.id}: {due_line(p, a, today)}" for p, a in await due(session, today)]
        click.echo("\n".join(lines) if lines else "no promises falling due")

    await rt.transaction(body)


@promises.command("export")
@click.argument("action")
@click.argument("out", type=click.Path(dir_okay=False, writable=True), required=False)
@pass_runtime
@run
async def export(rt: Runtime, action: str, out: str | None) -> None:
    """The promises of ACTION as CSV (to the file OUT, else the terminal), safe to open in a
    spreadsheet (storage/export.py)."""
    buffer = io.StringIO(newline="")

    async def body(session: AsyncSession, _settings: Settings, _now: datetime) -> int:
        found = await get_action(session, action)
        return write_csv(buffer, found, await promises_for(session, found.id))

    rows = await rt.transaction(body)
    if out is None:
        click.echo(buffer.getvalue(), nl=False)
        return
    Path(out).write_text(buffer.getvalue(), encoding="utf-8", newline="")  # noqa: ASYNC240
    click.echo(f"{rows} promises written to {out}", err=True)


@promises.command("report-back")
@click.argument("action")
@click.option("--preview", is_flag=True, help="Only count who would get it.")
@pass_runtime
@run
async def report_back(rt: Runtime, action: str, preview: bool) -> None:
    """Text everyone who came to ACTION how many came and what was promised (once each)."""

    async def body(session: AsyncSession, settings: Settings, now: datetime) -> None:
        report = await use.report_back(
            session,
            settings,
            await get_action(session, action),
            actor=Actor.operator(),
            now=now,
            preview=preview,
        )
        verb = "would be queued" if preview else "queued"
        click.echo(
            f"{report.came} came; {report.attendees} checked in: {report.queued} {verb}, "
            f"{report.already} had it already, {report.opted_out} opted out, "
            f"{report.unreachable} unreachable"
        )

    await rt.transaction(body)
