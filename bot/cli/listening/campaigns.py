"""``turnout listening create / list / close / send / report-back / invite``: campaigns, asking
them, telling people what was heard, inviting them to the action about it."""

from __future__ import annotations

import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli.common import run, table
from bot.cli.listening.group import campaign_named, institution_named, listening, when_given
from bot.cli.listening.render import people_phrase
from bot.cli.runtime import Runtime, pass_runtime
from config.messages import render
from config.segments import count_segments
from config.settings import LANGUAGES, Settings
from scheduler.listening import invite_theme, report_back, send_campaign
from storage.db import Database
from storage.listening import (
    ListeningError,
    Segment,
    campaign_questions,
    close_campaign,
    create_campaign,
    segment_people,
)
from storage.listening_reports.pipeline import pipeline_by_campaign
from storage.listening_themes import DEFAULT_THEMES_FILE, ThemeConfigError, load_theme_specs
from storage.models import Action, ListeningCampaign


def _questions_from(
    english: tuple[str, ...], welsh: tuple[str, ...], polish: tuple[str, ...]
) -> list[dict[str, str]]:
    for lang, texts in (("cy", welsh), ("pl", polish)):
        if texts and len(texts) != len(english):
            raise click.UsageError(
                f"give one --question-{lang} per --question ({len(english)}), in the same order"
            )
    out = []
    for i, text in enumerate(english):
        entry = {"en": text}
        if welsh:
            entry["cy"] = welsh[i]
        if polish:
            entry["pl"] = polish[i]
        out.append(entry)
    return out


def _read_campaign_file(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise click.BadParameter(f"{path}: {exc}") from None
    questions = data.get("questions")
    if not isinstance(questions, list) or not all(isinstance(q, dict) for q in questions):
        raise click.BadParameter(f"{path}: expected [[questions]] tables with en = '...'")
    return data


@listening.command("create")
@click.argument("slug")
@click.option("--title", help="What people and tables call it.")
@click.option("-q", "--question", "questions", multiple=True, help="A question in English.")
@click.option("--question-cy", multiple=True, help="Its Welsh text (one per --question).")
@click.option("--question-pl", multiple=True, help="Its Polish text (one per --question).")
@click.option(
    "--file",
    "file_",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A TOML file: title, target, and [[questions]] with en/cy/pl texts.",
)
@click.option(
    "--themes",
    "themes_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=DEFAULT_THEMES_FILE,
    show_default="config/themes.toml",
    help="Themes and rules to start from.",
)
@click.option("--starts", help="YYYY-MM-DD (default: now).")
@click.option("--ends", help="YYYY-MM-DD, the last day (optional).")
@click.option("--target", type=int, help="How many people to listen to.")
@click.option("--nudge-hours", type=click.IntRange(0, 24 * 60), help="0 = never nudge.")
@pass_runtime
@run
async def create(
    rt: Runtime,
    slug: str,
    title: str | None,
    questions: tuple[str, ...],
    question_cy: tuple[str, ...],
    question_pl: tuple[str, ...],
    file_: Path | None,
    themes_file: Path,
    starts: str | None,
    ends: str | None,
    target: int | None,
    nudge_hours: int | None,
) -> None:
    """Create a campaign with its questions (translated per language) and its themes."""
    data: dict[str, Any] = _read_campaign_file(file_) if file_ else {}
    texts = data.get("questions") or _questions_from(questions, question_cy, question_pl)
    title = title or data.get("title")
    if not title:
        raise click.UsageError("give --title (or title = '...' in --file)")
    target = target if target is not None else data.get("target")
    try:
        specs = load_theme_specs(themes_file)
    except ThemeConfigError as exc:
        raise click.ClickException(str(exc)) from None

    async def body(session: AsyncSession, settings: Settings, now: datetime) -> ListeningCampaign:
        return await create_campaign(
            session,
            slug=slug,
            title=str(title),
            questions=texts,
            now=now,
            themes=specs,
            starts_at=when_given(starts, settings),
            ends_at=when_given(ends, settings, end=True),
            target=target,
            nudge_after_hours=(
                nudge_hours if nudge_hours is not None else settings.listening_nudge_hours
            ),
            join_seconds=settings.listening_join_seconds,
        )

    campaign = await rt.transaction(body)
    click.echo(f"Created {campaign.slug}: {campaign.title}, {len(texts)} questions + consent")
    _warn_long_questions(rt.settings, texts)


def _warn_long_questions(settings: Settings, questions: list[dict[str, str]]) -> None:
    """A question that makes the SMS longer than one segment costs double, for everyone."""
    for n, texts in enumerate(questions, start=1):
        for lang in LANGUAGES:
            text = texts.get(lang) or texts.get("en", "")
            body = render(
                "listening_question", lang, alliance=settings.alliance_name, question=text
            )
            parts = count_segments(body)
            if parts > 1:
                click.echo(
                    f"note: question {n} in {lang} makes a {parts}-part SMS ({len(body)} chars)",
                    err=True,
                )


@listening.command("list")
@pass_runtime
@run
async def list_campaigns(rt: Runtime) -> None:
    """Campaigns, newest first, with how many were listened to."""
    now = rt.clock.now()

    async def body(db: Database) -> None:
        async with db.session() as session:
            rows = await pipeline_by_campaign(session, now)
            counts = {}
            for campaign, _ in rows:
                counts[campaign.id] = len(await campaign_questions(session, campaign.id))
        click.echo(
            table(
                ["name", "title", "status", "questions", "listened", "target", "consented"],
                [
                    [
                        c.slug,
                        c.title,
                        c.status,
                        counts[c.id],
                        row.listened,
                        "-" if c.target is None else c.target,
                        row.consented,
                    ]
                    for c, row in rows
                ],
            )
        )

    await rt.with_db(body)


@listening.command("close")
@click.argument("slug")
@pass_runtime
@run
async def close(rt: Runtime, slug: str) -> None:
    """Close a campaign: no more questions or nudges; later replies are told it closed."""

    async def body(session: AsyncSession, settings: Settings, now: datetime) -> int:
        return await close_campaign(session, await campaign_named(session, slug), now)

    cancelled = await rt.transaction(body)
    click.echo(f"Closed {slug}; {cancelled} unsent questions cancelled")


@listening.command("send")
@click.argument("slug")
@click.option("--everyone", is_flag=True, help="Everyone we may text.")
@click.option("--institution", "institutions", multiple=True, help="Members of an institution.")
@click.option("--texted-in", is_flag=True, help="People who have texted us.")
@click.option("--not-asked", is_flag=True, help="Only people never asked in any campaign.")
@click.option("--dry-run", is_flag=True, help="Count, send nothing.")
@pass_runtime
@run
async def send(
    rt: Runtime,
    slug: str,
    everyone: bool,
    institutions: tuple[str, ...],
    texted_in: bool,
    not_asked: bool,
    dry_run: bool,
) -> None:
    """Ask the first question to a segment (quiet hours respected; nobody asked twice)."""

    async def body(session: AsyncSession, settings: Settings, now: datetime) -> str:
        campaign = await campaign_named(session, slug)
        ids = tuple([(await institution_named(session, n)).id for n in institutions])
        segment = Segment(everyone, ids, texted_in, not_asked)
        if dry_run:
            people = await segment_people(session, campaign, segment)
            return f"Would ask {people_phrase(len(people))} (dry run: nothing sent)"
        result = await send_campaign(session, campaign, segment, now=now, settings=settings)
        return f"Asked {people_phrase(result.people)} the first question" + (
            f"; {result.unreachable} have no working number or Telegram"
            if result.unreachable
            else ""
        )

    click.echo(await rt.transaction(body))


@listening.command("report-back")
@click.argument("slug")
@click.option("--top", type=click.IntRange(1, 5), default=3, show_default=True)
@click.option(
    "--round", "round_", type=int, default=1, show_default=True, help="Send again: 2, 3..."
)
@click.option("--dry-run", is_flag=True, help="Show what would be sent, send nothing.")
@pass_runtime
@run
async def report_back_(rt: Runtime, slug: str, top: int, round_: int, dry_run: bool) -> None:
    """Send "here is what we heard" (people listened to, top themes) to everyone who answered."""

    async def body(session: AsyncSession, settings: Settings, now: datetime) -> str:
        campaign = await campaign_named(session, slug)
        result = await report_back(
            session, campaign, now=now, settings=settings, top=top, round_=round_, dry_run=dry_run
        )
        if not result.themes:
            return "No themes yet: nothing to report back"
        example = render(
            "listening_report",
            "en",
            alliance=settings.alliance_name,
            people=result.people,
            themes=", ".join(result.themes),
        )
        verb = "Would send" if dry_run else "Queued"
        return f"{verb} to {people_phrase(result.recipients)}:\n  {example}"

    click.echo(await rt.transaction(body))


@listening.command("invite")
@click.argument("slug")
@click.argument("theme")
@click.argument("action")
@click.option("--dry-run", is_flag=True)
@pass_runtime
@run
async def invite(rt: Runtime, slug: str, theme: str, action: str, dry_run: bool) -> None:
    """Invite everyone who raised THEME to ACTION (its name in `turnout actions list`)."""

    async def body(session: AsyncSession, settings: Settings, now: datetime) -> str:
        campaign = await campaign_named(session, slug)
        found = await session.scalar(select(Action).where(Action.slug == action))
        if found is None:
            raise ListeningError(f"no action called {action!r}")
        result = await invite_theme(
            session, campaign, theme, found, now=now, settings=settings, dry_run=dry_run
        )
        new = result.people - result.already_invited
        verb = "Would invite" if dry_run else "Invited"
        return f"{verb} {people_phrase(new)} ({result.already_invited} already invited)"

    click.echo(await rt.transaction(body))
