"""``turnout listening pipeline / follow-up``: from listened to, to consented, to followed up,
to came; and recording a follow-up."""

from __future__ import annotations

from datetime import datetime

import click
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli.common import run, table
from bot.cli.listening.group import campaign_named, listening, person_named, scope_named
from bot.cli.listening.render import PIPELINE_HEADERS, pipeline_cells, render_pipeline
from bot.cli.runtime import Runtime, pass_runtime
from config.settings import Settings
from storage.listening import record_follow_up
from storage.listening_reports.follow_ups import waiting_for_follow_up
from storage.listening_reports.pipeline import pipeline, pipeline_by_campaign
from storage.models import ListeningContact


@listening.command("pipeline")
@click.argument("slug", required=False)
@click.option("--institution", "institutions", multiple=True, help="Only these institutions.")
@pass_runtime
@run
async def pipeline_(rt: Runtime, slug: str | None, institutions: tuple[str, ...]) -> None:
    """listened -> consented -> followed up -> came to an action, and who waits for a
    follow-up. Without a campaign name: one row per campaign."""

    async def body(session: AsyncSession, settings: Settings, now: datetime) -> str:
        scope = await scope_named(session, institutions)
        if slug is None:
            rows = await pipeline_by_campaign(session, now, scope=scope)
            return table(PIPELINE_HEADERS, [pipeline_cells(r) for _, r in rows])
        campaign = await campaign_named(session, slug)
        result = await pipeline(session, now, campaign=campaign, scope=scope)
        waiting = await waiting_for_follow_up(session, now, campaign=campaign, scope=scope)
        lines = [render_pipeline(result), "", f"Waiting for a follow-up: {len(waiting)}"]
        if waiting:
            lines.append(
                table(
                    ["person", "institution", "waiting (days)"],
                    [[f"#{w.person_id} {w.name}", w.institutions, w.waited.days] for w in waiting],
                )
            )
        return "\n".join(lines)

    click.echo(await rt.transaction(body))


@listening.command("follow-up")
@click.argument("slug")
@click.argument("person")
@click.option("--by", "by_name", default="", help="Who followed them up.")
@click.option("--note", default="")
@pass_runtime
@run
async def follow_up(rt: Runtime, slug: str, person: str, by_name: str, note: str) -> None:
    """Record that a listened-to PERSON (#id or phone) was followed up."""

    async def body(session: AsyncSession, settings: Settings, now: datetime) -> str:
        campaign = await campaign_named(session, slug)
        who = await person_named(session, person, settings)
        contact = await session.scalar(
            select(ListeningContact)
            .where(ListeningContact.campaign_id == campaign.id)
            .where(ListeningContact.person_id == who.id)
        )
        await record_follow_up(
            session, campaign=campaign, person=who, now=now, by_name=by_name, note=note
        )
        warning = (
            ""
            if contact is not None and contact.consent == "yes"
            else " (note: they did not say yes to a follow-up)"
        )
        return f"Follow-up recorded for #{who.id} {who.name}{warning}"

    click.echo(await rt.transaction(body))
