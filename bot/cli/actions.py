"""Actions from the terminal: list them and print an action's rollup."""

from __future__ import annotations

import click
from sqlalchemy import select

from bot.cli import cli
from bot.cli.common import load_settings, run, table, with_db
from bot.clock import SystemClock
from config.messages import format_when
from storage.db import Database
from storage.models import Action
from storage.rollup import Rollup, RollupRow, action_rollup


async def find_action(db: Database, slug: str) -> Action:
    async with db.session() as session:
        action = await session.scalar(select(Action).where(Action.slug == slug))
    if action is None:
        raise click.ClickException(f"no action called {slug!r} (see `turnout actions list`)")
    return action


def rollup_table(rollup: Rollup) -> str:
    def cells(row: RollupRow) -> list[object]:
        return [
            row.institution,
            "-" if row.committed is None else row.committed,
            row.yes,
            row.guests,
            row.confirmed,
            row.maybe,
            row.no,
            row.not_replied,
            row.attended,
            "-" if row.gap is None else row.gap,
        ]

    rows = [cells(r) for r in rollup.rows]
    rows.append(cells(rollup.no_institution))
    rows.append(cells(rollup.totals))
    headers = [
        "institution",
        "committed",
        "yes",
        "+guests",
        "confirmed",
        "maybe",
        "no",
        "not replied",
        "attended",
        "gap",
    ]
    unique = (
        f"unique people: {rollup.unique_yes} said yes (+{rollup.unique_guests} guests), "
        f"{rollup.unique_attended} attended"
    )
    return table(headers, rows) + "\n" + unique


@cli.command()
@click.argument("slug")
@run
async def rollup(slug: str) -> None:
    """Print an action's turnout per institution: committed, confirmed, attended."""
    settings = load_settings()

    async def body(db: Database) -> None:
        action = await find_action(db, slug)
        async with db.session() as session:
            result = await action_rollup(session, action)
        when = format_when(action.starts_at, "en", settings.default_timezone)
        click.echo(f"{action.title} ({action.slug}), {when}, {action.place}")
        click.echo(rollup_table(result))

    await with_db(settings, body)


@cli.group()
def actions() -> None:
    """Create and list actions (assemblies, actions, house meetings, trainings)."""


@actions.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include past and cancelled actions.")
@run
async def list_actions(show_all: bool) -> None:
    """Upcoming actions, soonest first."""
    settings = load_settings()
    now = SystemClock().now()

    async def body(db: Database) -> None:
        query = select(Action).order_by(Action.starts_at)
        if not show_all:
            query = query.where(Action.ends_at > now).where(Action.status == "scheduled")
        async with db.session() as session:
            rows = list(await session.scalars(query))
        click.echo(
            table(
                ["name", "title", "kind", "when", "place", "target", "status"],
                [
                    [
                        a.slug,
                        a.title,
                        a.kind,
                        format_when(a.starts_at, "en", settings.default_timezone),
                        a.place,
                        "-" if a.target is None else a.target,
                        a.status,
                    ]
                    for a in rows
                ],
            )
        )

    await with_db(settings, body)
