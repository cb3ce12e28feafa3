"""``turnout leaders``: leader links from the terminal (the console has the same on
``/actions/SLUG/leaders``).

    turnout leaders link assembly 07700900001            # prints the URL (shown once)
    turnout leaders link assembly 07700900001 --institution "St Mary's"
    turnout leaders links assembly                       # every link of the action
    turnout leaders revoke 3                             # link 3 stops working

Each change is in the audit log as the operator's.
"""

from __future__ import annotations

from datetime import datetime

import click
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli.common import run, table
from bot.cli.root import cli
from bot.cli.runtime import Runtime, pass_runtime
from config.phones import BadPhone, mask_phone, normalise_phone
from config.settings import Settings
from scheduler import leader_links as use
from scheduler.actions import get_action
from storage.audit import Actor
from storage.leader_links import links_for
from storage.links import is_live
from storage.people import person_by_phone


@cli.group()
def leaders() -> None:
    """Leader links: a leader's own page for an action (their people, nudges, headcount)."""


@leaders.command("link")
@click.argument("action")
@click.argument("phone")
@click.option("--institution", default="", help="Which one, when the leader leads several.")
@pass_runtime
@run
async def link(rt: Runtime, action: str, phone: str, institution: str) -> None:
    """Make a link for the leader with PHONE on ACTION and print it (shown once)."""
    try:
        e164 = normalise_phone(phone, rt.settings.default_region)
    except BadPhone as exc:
        raise click.ClickException(f"{phone}: {exc}") from None

    async def body(session: AsyncSession, settings: Settings, now: datetime) -> None:
        leader = await person_by_phone(session, e164)
        if leader is None:
            raise click.ClickException(f"nobody has the number {mask_phone(e164)}")
        made = await use.make_link(
            session,
            settings,
            action=await get_action(session, action),
            leader=leader,
            institution=institution,
            actor=Actor.operator(),
            now=now,
        )
        expires = made.link.expires_at
        until = f"{expires:%Y-%m-%d %H:%M} UTC" if expires else "it is turned off"
        click.echo(f"link {made.link.id} for {leader.name} ({made.institution}), until {until}:")
        click.echo(made.url)

    await rt.transaction(body)


@leaders.command("links")
@click.argument("action")
@pass_runtime
@run
async def list_links(rt: Runtime, action: str) -> None:
    """Every leader link of ACTION (never the token: it is not kept)."""

    async def body(session: AsyncSession, _settings: Settings, now: datetime) -> None:
        found = await get_action(session, action)
        rows = []
        for row, leader, inst in await links_for(session, found.id):
            state = "revoked" if row.revoked_at else "works" if is_live(row, now) else "expired"
            until = f"{row.expires_at:%Y-%m-%d %H:%M}" if row.expires_at else "never"
            rows.append([row.id, leader, inst, state, until])
        click.echo(table(["id", "leader", "institution", "state", "until (UTC)"], rows))

    await rt.transaction(body)


@leaders.command("revoke")
@click.argument("link_id", type=int)
@pass_runtime
@run
async def revoke(rt: Runtime, link_id: int) -> None:
    """Stop the link LINK_ID working (see `turnout leaders links`)."""

    async def body(session: AsyncSession, _settings: Settings, now: datetime) -> None:
        if not await use.revoke_link(session, link_id, actor=Actor.operator(), now=now):
            raise click.ClickException(f"no link {link_id}")
        click.echo(f"link {link_id} no longer works")

    await rt.transaction(body)
