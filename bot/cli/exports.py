"""``turnout export people | rollup SLUG | attendance SLUG | commitments SLUG`` (CSV through
the one formula-safe writer, storage/export.py; each recorded in the audit log by
bot/cli/audit_log.py), and ``turnout people dormant --months N`` (for review: nothing is
deleted)."""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO

import click
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli.common import run, table
from bot.cli.people import people
from bot.cli.root import cli
from bot.cli.runtime import Runtime, pass_runtime
from config.phones import mask_phone
from config.settings import Settings
from scheduler.actions import get_action
from storage.models import Action
from storage.retention import dormant
from storage.table_exports import (
    export_attendance,
    export_commitments,
    export_people,
    export_rollup,
)


@cli.group("export")
def export() -> None:
    """CSV exports, safe to open in a spreadsheet (each one is recorded in the audit log)."""


async def _write(
    rt: Runtime, out: str | None, body: Callable[[AsyncSession, datetime, TextIO], Awaitable[int]]
) -> None:
    buffer = io.StringIO(newline="")

    async def go(session: AsyncSession, _settings: Settings, now: datetime) -> int:
        return await body(session, now, buffer)

    written = await rt.transaction(go)
    if out is None:
        sys.stdout.write(buffer.getvalue())
    else:
        await asyncio.to_thread(Path(out).write_text, buffer.getvalue(), "utf-8", None, "")
    click.echo(f"{written} rows", err=True)


OUT = click.option("--out", help="File to write (default: standard output).")


@export.command("people")
@OUT
@pass_runtime
@run
async def people_(rt: Runtime, out: str | None) -> None:
    """Everyone (not erased): name, number, language, consent, the young-person mark,
    institutions."""
    await _write(rt, out, lambda s, now, f: export_people(s, f, now=now))


def _action_export(
    name: str, doc: str, writer: Callable[[AsyncSession, Action, TextIO], Awaitable[int]]
) -> None:
    @export.command(name, help=doc)
    @click.argument("slug")
    @OUT
    @pass_runtime
    @run
    async def command(rt: Runtime, slug: str, out: str | None) -> None:
        async def body(session: AsyncSession, _now: datetime, handle: TextIO) -> int:
            return await writer(session, await get_action(session, slug), handle)

        await _write(rt, out, body)


_action_export("rollup", "An action's rollup per institution (storage/rollup.py).", export_rollup)
_action_export("attendance", "Who was at an action.", export_attendance)
_action_export("commitments", "An action's pledges and their history.", export_commitments)


@people.command("dormant")
@click.option("--months", type=click.IntRange(1, 240), default=18, show_default=True)
@click.option("--show-phones", is_flag=True, help="Show whole phone numbers.")
@pass_runtime
@run
async def dormant_(rt: Runtime, months: int, show_phones: bool) -> None:
    """People with no activity (no text, RSVP or attendance) for MONTHS, for an organiser to
    review: nothing is deleted (erase someone with `turnout people erase`)."""

    async def body(session: AsyncSession, _settings: Settings, now: datetime) -> str:
        rows = await dormant(session, since=now - timedelta(days=round(months * 30.44)))
        if not rows:
            return f"nobody has been inactive for {months} months"
        return table(
            ["id", "name", "phone", "last activity"],
            [
                [
                    r.person_id,
                    r.name,
                    (r.phone or "-") if show_phones else mask_phone(r.phone),
                    f"{r.last_activity:%Y-%m-%d}",
                ]
                for r in rows
            ],
        )

    click.echo(await rt.transaction(body))
