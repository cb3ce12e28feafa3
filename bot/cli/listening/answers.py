"""``turnout listening answers / tag / log / attach``: what people said (names, never phone
numbers), tags, conversations logged by hand, texts attached to a campaign."""

from __future__ import annotations

from datetime import datetime

import click
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli.common import run, table
from bot.cli.listening.group import campaign_named, listening, person_named, scope_named
from bot.cli.listening.render import shorten
from bot.cli.runtime import Runtime, pass_runtime
from config.phones import normalise_phone
from config.settings import Settings
from storage.listening import ListeningError, attach_inbound, campaign_questions, log_conversation
from storage.listening_reports.answers import list_answers
from storage.listening_themes import set_manual_tags, theme_by_key
from storage.models import InboundMessage, ListeningAnswer
from storage.models.listening import CONVERSATION_KINDS
from storage.people import new_person


@listening.command("answers")
@click.argument("slug")
@click.option("--untagged", is_flag=True, help="Only answers no rule or person has tagged.")
@click.option("--theme", help="Only answers with this theme (its key).")
@click.option("--institution", "institutions", multiple=True, help="Only these institutions.")
@click.option("--limit", type=int, default=50, show_default=True)
@pass_runtime
@run
async def answers(
    rt: Runtime,
    slug: str,
    untagged: bool,
    theme: str | None,
    institutions: tuple[str, ...],
    limit: int,
) -> None:
    """Answers with their themes (names only, never phone numbers)."""

    async def body(session: AsyncSession, settings: Settings, now: datetime) -> str:
        campaign = await campaign_named(session, slug)
        views = await list_answers(
            session,
            campaign,
            scope=await scope_named(session, institutions),
            untagged=untagged,
            theme_key=theme,
            limit=limit,
        )
        return table(
            ["id", "person", "institution", "q", "themes", "text"],
            [
                [
                    v.id,
                    f"#{v.person_id} {v.name}",
                    v.institutions,
                    "-" if v.question is None else v.question,
                    (",".join(v.themes) or "-") + ("*" if v.tag_source == "manual" else ""),
                    shorten(v.body),
                ]
                for v in views
            ],
        )

    click.echo(await rt.transaction(body))
    click.echo("(* tagged by hand)")


@listening.command("tag")
@click.argument("answer_id", type=int)
@click.argument("themes", nargs=-1)
@click.option(
    "--none", "no_theme", is_flag=True, help="No theme applies (leaves the untagged list)."
)
@pass_runtime
@run
async def tag(rt: Runtime, answer_id: int, themes: tuple[str, ...], no_theme: bool) -> None:
    """Tag an answer by hand: these themes exactly. Manual tags win over the rules."""
    if not themes and not no_theme:
        raise click.UsageError("name one or more themes, or --none")

    async def body(session: AsyncSession, settings: Settings, now: datetime) -> str:
        answer = await session.get(ListeningAnswer, answer_id)
        if answer is None:
            raise ListeningError(f"no answer {answer_id}")
        ids = [(await theme_by_key(session, answer.campaign_id, key)).id for key in themes]
        await set_manual_tags(session, answer, ids)
        return f"Answer {answer_id}: {', '.join(themes) or 'no theme'} (by hand)"

    click.echo(await rt.transaction(body))


@listening.command("log")
@click.argument("slug")
@click.argument("person")
@click.option("--kind", type=click.Choice(CONVERSATION_KINDS), default="one_to_one")
@click.option("--notes", required=True, help="What the person said.")
@click.option("--name", default="", help="Their name, for a number we do not know yet.")
@click.option("--consent", type=click.Choice(["yes", "no"]), help="May we follow them up?")
@pass_runtime
@run
async def log(
    rt: Runtime, slug: str, person: str, kind: str, notes: str, name: str, consent: str | None
) -> None:
    """Log a face-to-face conversation (one-to-one, house meeting, doorstep) for PERSON (#id
    or phone; a new number becomes a person who has not agreed to texts)."""

    async def body(session: AsyncSession, settings: Settings, now: datetime) -> str:
        campaign = await campaign_named(session, slug)
        try:
            who = await person_named(session, person, settings)
        except ListeningError:
            if person.startswith("#"):
                raise
            who = new_person(
                phone=normalise_phone(person, settings.default_region),
                name=name,
                language=settings.default_language,
                timezone=settings.default_timezone,
                consent="unknown",
                consent_source="face_to_face",
                now=now,
            )
            session.add(who)
            await session.flush()
        answer = await log_conversation(
            session, campaign=campaign, person=who, notes=notes, kind=kind, now=now, consent=consent
        )
        return f"Logged answer {answer.id} for #{who.id} {who.name}"

    click.echo(await rt.transaction(body))


@listening.command("attach")
@click.argument("message_id", type=int)
@click.argument("slug")
@click.option("--question", type=int, help="Which question it answers (1, 2, ...).")
@pass_runtime
@run
async def attach(rt: Runtime, message_id: int, slug: str, question: int | None) -> None:
    """Attach an inbox message (its id in `turnout inbox`) to a campaign as an answer."""

    async def body(session: AsyncSession, settings: Settings, now: datetime) -> str:
        campaign = await campaign_named(session, slug)
        inbound = await session.get(InboundMessage, message_id)
        if inbound is None:
            raise ListeningError(f"no message {message_id}")
        question_id = None
        if question is not None:
            questions = await campaign_questions(session, campaign.id)
            if not 1 <= question <= len(questions):
                raise ListeningError(f"{slug} has questions 1 to {len(questions)}")
            question_id = questions[question - 1].id
        answer = await attach_inbound(
            session, campaign=campaign, inbound=inbound, question_id=question_id
        )
        return f"Message {message_id} is now answer {answer.id} of {slug}"

    click.echo(await rt.transaction(body))
