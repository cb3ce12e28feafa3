"""``turnout board link ACTION [--steward] [--label TEXT]`` makes a board (or steward) link and
prints it once (only its hash is kept); ``turnout board links ACTION`` lists them;
``turnout board revoke LINK_ID`` stops one working at once."""

from __future__ import annotations

from datetime import datetime

import click
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli.common import run, table
from bot.cli.root import cli
from bot.cli.runtime import Runtime, pass_runtime
from config.settings import Settings
from scheduler.actions import get_action
from storage import audit, links

KINDS = ("board", "steward")


@cli.group("board")
def board_group() -> None:
    """Assembly-day links: the roll-call board and the stewards' pages."""


@board_group.command("link")
@click.argument("action")
@click.option("--steward", is_flag=True, help="A steward link (roll call and door check-in).")
@click.option("--label", default="", help='What it is for, e.g. "Projector" or "North door".')
@pass_runtime
@run
async def make(rt: Runtime, action: str, steward: bool, label: str) -> None:
    """Make a link for ACTION (its short name) and print it: it is shown only this once."""

    async def body(session: AsyncSession, settings: Settings, now: datetime) -> str:
        found = await get_action(session, action)
        kind = "steward" if steward else "board"
        link, token = await links.create_link(
            session, kind=kind, action_id=found.id, now=now, label=label
        )
        await audit.record(
            session,
            audit.Actor.operator(),
            "board_link_created",
            "capability_link",
            link.id,
            at=now,
            details={"kind": kind, "action": found.slug},
        )
        path = "steward" if steward else "board"
        return f"link {link.id} ({kind}): {settings.public_url.rstrip('/')}/{path}/{token}"

    click.echo(await rt.transaction(body))
    click.echo("Keep it safe: anyone with it can open the page. Only now is it shown.")


@board_group.command("links")
@click.argument("action")
@pass_runtime
@run
async def list_links(rt: Runtime, action: str) -> None:
    """The board and steward links of ACTION (never their tokens)."""

    async def body(session: AsyncSession, _settings: Settings, now: datetime) -> str:
        found = await get_action(session, action)
        rows = [
            [
                link.id,
                link.kind,
                link.label or "-",
                "working" if links.is_live(link, now) else "revoked",
            ]
            for link in await links.links_for(session, found.id, KINDS)
        ]
        return table(["id", "kind", "label", "state"], rows) if rows else "no links"

    click.echo(await rt.transaction(body))


@board_group.command("revoke")
@click.argument("link_id", type=click.IntRange(min=1))
@pass_runtime
@run
async def revoke(rt: Runtime, link_id: int) -> None:
    """Stop link LINK_ID working (boards open on it say so)."""

    async def body(session: AsyncSession, _settings: Settings, now: datetime) -> str:
        link = await links.revoke_link(session, link_id, now)
        if link is None or link.kind not in KINDS:
            raise click.ClickException(f"no board or steward link {link_id}")
        await audit.record(
            session,
            audit.Actor.operator(),
            "board_link_revoked",
            "capability_link",
            link.id,
            at=now,
            details={"kind": link.kind},
        )
        return f"link {link.id} revoked"

    click.echo(await rt.transaction(body))
