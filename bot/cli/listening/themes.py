"""``turnout listening themes / rules / add-theme / add-rule / remove-rule``: the mandate per
theme and institution, and the rules that tag answers (data, per language)."""

from __future__ import annotations

from datetime import datetime

import click
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli.common import run
from bot.cli.listening.group import campaign_named, listening, scope_named
from bot.cli.listening.render import render_theme_table
from bot.cli.runtime import Runtime, pass_runtime
from config.settings import LANGUAGES, Settings
from storage.listening import ListeningError
from storage.listening_reports.themes import QUOTES_PER_THEME, theme_table
from storage.listening_themes import (
    add_rule,
    add_theme,
    campaign_themes,
    remove_rule,
    retag_campaign,
    theme_by_key,
    theme_rules,
)


@listening.command("themes")
@click.argument("slug")
@click.option("--institution", "institutions", multiple=True, help="Only these institutions.")
@click.option("--by-institution/--totals", default=True, show_default=True)
@click.option("--quotes/--no-quotes", default=False, help="Quotes from people who consented.")
@pass_runtime
@run
async def themes(
    rt: Runtime, slug: str, institutions: tuple[str, ...], by_institution: bool, quotes: bool
) -> None:
    """The theme table: people (the mandate) and answers per theme and institution."""

    async def body(session: AsyncSession, settings: Settings, now: datetime) -> str:
        campaign = await campaign_named(session, slug)
        result = await theme_table(
            session,
            campaign,
            scope=await scope_named(session, institutions),
            quotes=QUOTES_PER_THEME if quotes else 0,
        )
        return render_theme_table(result, by_institution=by_institution, quotes=quotes)

    click.echo(await rt.transaction(body))


@listening.command("rules")
@click.argument("slug")
@click.argument("theme", required=False)
@pass_runtime
@run
async def rules(rt: Runtime, slug: str, theme: str | None) -> None:
    """The keyword and phrase rules of a campaign's themes."""

    async def body(session: AsyncSession, settings: Settings, now: datetime) -> str:
        campaign = await campaign_named(session, slug)
        chosen = (
            [await theme_by_key(session, campaign.id, theme)]
            if theme
            else await campaign_themes(session, campaign.id)
        )
        lines = []
        for t in chosen:
            lines.append(f"{t.key} ({t.labels.get('en', t.key)})")
            for language, phrases in (await theme_rules(session, t.id)).items():
                lines.append(f"  {language}: {', '.join(phrases)}")
        return "\n".join(lines)

    click.echo(await rt.transaction(body))


@listening.command("add-theme")
@click.argument("slug")
@click.argument("key")
@click.option("--label", required=True, help="English label.")
@click.option("--label-cy")
@click.option("--label-pl")
@pass_runtime
@run
async def add_theme_(
    rt: Runtime, slug: str, key: str, label: str, label_cy: str | None, label_pl: str | None
) -> None:
    """Add a theme to a campaign (then give it rules with add-rule)."""
    labels = (
        {"en": label}
        | ({"cy": label_cy} if label_cy else {})
        | ({"pl": label_pl} if label_pl else {})
    )

    async def body(session: AsyncSession, settings: Settings, now: datetime) -> str:
        campaign = await campaign_named(session, slug)
        await add_theme(session, campaign.id, key, labels)
        return f"Added theme {key} to {slug}"

    click.echo(await rt.transaction(body))


@listening.command("add-rule")
@click.argument("slug")
@click.argument("theme")
@click.argument("language", type=click.Choice(LANGUAGES))
@click.argument("phrase")
@pass_runtime
@run
async def add_rule_(rt: Runtime, slug: str, theme: str, language: str, phrase: str) -> None:
    """Add a word, phrase or prefix* to a theme, and re-tag the campaign's answers."""

    async def body(session: AsyncSession, settings: Settings, now: datetime) -> str:
        campaign = await campaign_named(session, slug)
        await add_rule(session, await theme_by_key(session, campaign.id, theme), language, phrase)
        changed = await retag_campaign(session, campaign.id)
        return f"Added {phrase!r} ({language}) to {theme}; answers whose themes changed: {changed}"

    click.echo(await rt.transaction(body))


@listening.command("remove-rule")
@click.argument("slug")
@click.argument("theme")
@click.argument("language", type=click.Choice(LANGUAGES))
@click.argument("phrase")
@pass_runtime
@run
async def remove_rule_(rt: Runtime, slug: str, theme: str, language: str, phrase: str) -> None:
    """Remove a rule from a theme, and re-tag the campaign's answers."""

    async def body(session: AsyncSession, settings: Settings, now: datetime) -> str:
        campaign = await campaign_named(session, slug)
        found = await remove_rule(
            session, await theme_by_key(session, campaign.id, theme), language, phrase
        )
        if not found:
            raise ListeningError(f"{theme} has no {language} rule {phrase!r}")
        changed = await retag_campaign(session, campaign.id)
        return (
            f"Removed {phrase!r} ({language}) from {theme}; answers whose themes changed: {changed}"
        )

    click.echo(await rt.transaction(body))
