"""``turnout counters verify [--repair]``: compare the live counters (storage/counters.py) with
the raw rows (storage/rollup.py, the reference) and report, or repair, any drift."""

from __future__ import annotations

from datetime import datetime

import click
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli.common import run
from bot.cli.root import cli
from bot.cli.runtime import Runtime, pass_runtime
from config.settings import Settings
from storage import counters


@cli.group("counters")
def counters_group() -> None:
    """The live counters behind boards and rollups."""


@counters_group.command("verify")
@click.option("--action", "slug", help="Only this action (its short name).")
@click.option("--repair", is_flag=True, help="Rewrite the counters that differ from the rows.")
@pass_runtime
@run
async def verify(rt: Runtime, slug: str | None, repair: bool) -> None:
    """Recompute every action's counters from the raw rows and report any difference (exit
    status 1 when some differ and were not repaired)."""

    async def body(session: AsyncSession, _settings: Settings, now: datetime) -> bool:
        checked = await counters.verify_all(session, now, repair_them=repair, slug=slug)
        if slug is not None and not checked:
            raise click.ClickException(f"no action called {slug!r}")
        names = await counters.bucket_names(session)
        drifted = False
        for action, found in checked:
            if not found:
                click.echo(f"{action.slug}: all counters match")
                continue
            drifted = True
            done = ", repaired" if repair else ""
            click.echo(f"{action.slug}: {len(found)} counters differ{done}")
            for d in found:
                name = names.get(d.bucket, f"institution #{d.bucket}")
                click.echo(f"  {name} {d.field}: counted {d.counted}, should be {d.expected}")
        return drifted and not repair

    if await rt.transaction(body):
        raise SystemExit(1)
