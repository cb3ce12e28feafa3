"""``turnout listening export answers / themes``: CSV through the one writer (storage/export.py),
only the fields asked for."""

from __future__ import annotations

import sys
from datetime import datetime

import click
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli.common import run
from bot.cli.listening.group import campaign_named, listening, output_to, scope_named
from bot.cli.runtime import Runtime, pass_runtime
from config.settings import Settings
from storage.listening_reports.answers import EXPORT_FIELDS, check_fields, export_answers
from storage.listening_reports.themes import export_themes, theme_table


@listening.group("export")
def export() -> None:
    """CSV exports (only the fields you ask for)."""


@export.command("answers")
@click.argument("slug")
@click.option(
    "--fields",
    required=True,
    help="Comma-separated, from: " + ", ".join(EXPORT_FIELDS),
)
@click.option("--institution", "institutions", multiple=True, help="Only these institutions.")
@click.option("--out", help="File to write (default: standard output).")
@pass_runtime
@run
async def export_answers_(
    rt: Runtime, slug: str, fields: str, institutions: tuple[str, ...], out: str | None
) -> None:
    """The campaign's answers as CSV."""
    chosen = [f.strip() for f in fields.split(",") if f.strip()]
    try:
        check_fields(chosen)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--fields") from None

    async def body(session: AsyncSession, settings: Settings, now: datetime) -> int:
        campaign = await campaign_named(session, slug)
        stream = output_to(out)
        try:
            return await export_answers(
                session, campaign, chosen, stream, scope=await scope_named(session, institutions)
            )
        finally:
            if stream is not sys.stdout:
                stream.close()

    written = await rt.transaction(body)
    click.echo(f"{written} answers", err=True)


@export.command("themes")
@click.argument("slug")
@click.option("--institution", "institutions", multiple=True, help="Only these institutions.")
@click.option("--out", help="File to write (default: standard output).")
@pass_runtime
@run
async def export_themes_(
    rt: Runtime, slug: str, institutions: tuple[str, ...], out: str | None
) -> None:
    """Theme counts per institution as CSV."""

    async def body(session: AsyncSession, settings: Settings, now: datetime) -> int:
        campaign = await campaign_named(session, slug)
        result = await theme_table(
            session, campaign, scope=await scope_named(session, institutions), quotes=0
        )
        stream = output_to(out)
        try:
            return export_themes(result, stream)
        finally:
            if stream is not sys.stdout:
                stream.close()

    await rt.transaction(body)
