"""``turnout listening``: listening campaigns from the terminal (an organiser's view).

    turnout listening create city-listens --title "City Listens" --target 705 \\
        -q "What is the biggest issue facing you and your family?" \\
        --question-pl "Jaki jest najwiekszy problem Twojej rodziny?"
    turnout listening send city-listens --institution "St Mary's" --texted-in --dry-run
    turnout listening themes city-listens
    turnout listening answers city-listens --untagged
    turnout listening tag 42 housing health
    turnout listening pipeline city-listens
    turnout listening export answers city-listens --fields answer_id,themes,institution

Free-text answers are personal data: exports hold only the fields asked for, and a table of
answers shows names, never phone numbers.
"""

from __future__ import annotations

import asyncio
import sys
import tomllib
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, TextIO, TypeVar
from zoneinfo import ZoneInfo

import click
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli import cli
from bot.cli.common import run, table
from bot.cli.runtime import Runtime, pass_runtime
from config.messages import render
from config.phones import BadPhone, normalise_phone
from config.segments import count_segments
from config.settings import LANGUAGES, Settings
from scheduler.listening import invite_theme, report_back, send_campaign
from storage.db import Database
from storage.institutions import find_institution
from storage.listening import (
    ListeningError,
    Segment,
    attach_inbound,
    campaign_by_slug,
    campaign_questions,
    close_campaign,
    create_campaign,
    log_conversation,
    record_follow_up,
    segment_people,
)
from storage.listening_reports import (
    EXPORT_FIELDS,
    QUOTES_PER_THEME,
    Pipeline,
    PipelineRow,
    ThemeTable,
    check_fields,
    export_answers,
    export_themes,
    list_answers,
    pipeline,
    pipeline_by_campaign,
    theme_table,
    waiting_for_follow_up,
)
from storage.listening_themes import (
    DEFAULT_THEMES_FILE,
    ThemeConfigError,
    add_rule,
    add_theme,
    campaign_themes,
    load_theme_specs,
    remove_rule,
    retag_campaign,
    set_manual_tags,
    theme_by_key,
    theme_rules,
)
from storage.models import (
    Action,
    InboundMessage,
    Institution,
    ListeningAnswer,
    ListeningCampaign,
    ListeningContact,
    Person,
)
from storage.models.listening import CONVERSATION_KINDS
from storage.people import new_person
from storage.rollup import NO_INSTITUTION

T = TypeVar("T")


@cli.group()
def listening() -> None:
    """Listening campaigns: questions, answers, themes, follow-ups."""


# -- shared ----------------------------------------------------------------------------------


async def _session_do(db: Database, body: Callable[[AsyncSession], Awaitable[T]]) -> T:
    try:
        async with db.session() as session:
            return await body(session)
    except (ListeningError, ThemeConfigError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


def _do(rt: Runtime, body: Callable[[AsyncSession, Settings, datetime], Awaitable[T]]) -> T:
    """Run ``body(session, settings, now)`` in one transaction; domain errors become a clean
    message (and nothing is written)."""
    settings = rt.settings
    now = rt.clock.now()

    async def go(db: Database) -> T:
        return await _session_do(db, lambda s: body(s, settings, now))

    return asyncio.run(rt.with_db(go))


async def _campaign(session: AsyncSession, slug: str) -> ListeningCampaign:
    campaign = await campaign_by_slug(session, slug)
    if campaign is None:
        raise ListeningError(f"no campaign called {slug!r} (see `turnout listening list`)")
    return campaign


async def _institution(session: AsyncSession, name: str) -> Institution:
    match = await find_institution(session, name)
    if match.found is None:
        raise ListeningError(match.problem())
    return match.found


async def _scope(session: AsyncSession, names: tuple[str, ...]) -> list[int] | None:
    if not names:
        return None
    return [(await _institution(session, n)).id for n in names]


async def _person(session: AsyncSession, ref: str, settings: Settings) -> Person:
    """``#12`` (a person id, as lists print it) or a phone number."""
    if ref.startswith("#") and ref[1:].isdigit():
        person = await session.get(Person, int(ref[1:]))
    else:
        try:
            phone = normalise_phone(ref, settings.default_region)
        except BadPhone as exc:
            raise ListeningError(f"{ref!r}: {exc}") from None
        person = await session.scalar(select(Person).where(Person.phone == phone))
    if person is None:
        raise ListeningError(f"no person {ref!r}")
    return person


def _when(value: str | None, settings: Settings, *, end: bool = False) -> datetime | None:
    """A date (the day's start, or the next day's start for an end) or a date and time, in
    the alliance's time zone."""
    if value is None:
        return None
    zone = ZoneInfo(settings.default_timezone)
    try:
        if len(value) == 10:
            day = date.fromisoformat(value) + timedelta(days=1 if end else 0)
            return datetime.combine(day, time(0, 0), tzinfo=zone)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"expected YYYY-MM-DD or YYYY-MM-DD HH:MM, got {value!r}"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


def _people(n: int) -> str:
    return f"{n} person" if n == 1 else f"{n} people"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{round(value * 100)}%"


def _open_out(path: str | None) -> TextIO:
    if path is None or path == "-":
        return sys.stdout
    return open(path, "w", newline="", encoding="utf-8")


# -- campaigns -------------------------------------------------------------------------------


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
def create(
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
            starts_at=_when(starts, settings),
            ends_at=_when(ends, settings, end=True),
            target=target,
            nudge_after_hours=(
                nudge_hours if nudge_hours is not None else settings.listening_nudge_hours
            ),
            join_seconds=settings.listening_join_seconds,
        )

    campaign = _do(rt, body)
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
def close(rt: Runtime, slug: str) -> None:
    """Close a campaign: no more questions or nudges; later replies are told it closed."""

    async def body(session: AsyncSession, settings: Settings, now: datetime) -> int:
        return await close_campaign(session, await _campaign(session, slug), now)

    cancelled = _do(rt, body)
    click.echo(f"Closed {slug}; {cancelled} unsent questions cancelled")


@listening.command("send")
@click.argument("slug")
@click.option("--everyone", is_flag=True, help="Everyone we may text.")
@click.option("--institution", "institutions", multiple=True, help="Members of an institution.")
@click.option("--texted-in", is_flag=True, help="People who have texted us.")
@click.option("--not-asked", is_flag=True, help="Only people never asked in any campaign.")
@click.option("--dry-run", is_flag=True, help="Count, send nothing.")
@pass_runtime
def send(
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
        campaign = await _campaign(session, slug)
        ids = tuple([(await _institution(session, n)).id for n in institutions])
        segment = Segment(everyone, ids, texted_in, not_asked)
        if dry_run:
            people = await segment_people(session, campaign, segment)
            return f"Would ask {_people(len(people))} (dry run: nothing sent)"
        result = await send_campaign(session, campaign, segment, now=now, settings=settings)
        return f"Asked {_people(result.people)} the first question" + (
            f"; {result.unreachable} have no working number or Telegram"
            if result.unreachable
            else ""
        )

    click.echo(_do(rt, body))


# -- answers and tags --------------------------------------------------------------------------


@listening.command("answers")
@click.argument("slug")
@click.option("--untagged", is_flag=True, help="Only answers no rule or person has tagged.")
@click.option("--theme", help="Only answers with this theme (its key).")
@click.option("--institution", "institutions", multiple=True, help="Only these institutions.")
@click.option("--limit", type=int, default=50, show_default=True)
@pass_runtime
def answers(
    rt: Runtime,
    slug: str,
    untagged: bool,
    theme: str | None,
    institutions: tuple[str, ...],
    limit: int,
) -> None:
    """Answers with their themes (names only, never phone numbers)."""

    async def body(session: AsyncSession, settings: Settings, now: datetime) -> str:
        campaign = await _campaign(session, slug)
        views = await list_answers(
            session,
            campaign,
            scope=await _scope(session, institutions),
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
                    _short(v.body),
                ]
                for v in views
            ],
        )

    click.echo(_do(rt, body))
    click.echo("(* tagged by hand)")


def _short(text: str, width: int = 70) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


@listening.command("tag")
@click.argument("answer_id", type=int)
@click.argument("themes", nargs=-1)
@click.option(
    "--none", "no_theme", is_flag=True, help="No theme applies (leaves the untagged list)."
)
@pass_runtime
def tag(rt: Runtime, answer_id: int, themes: tuple[str, ...], no_theme: bool) -> None:
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

    click.echo(_do(rt, body))


# -- themes and rules --------------------------------------------------------------------------


def render_theme_table(result: ThemeTable, *, by_institution: bool, quotes: bool) -> str:
    columns: list[tuple[int | None, str]] = list(result.institutions) if by_institution else []
    if by_institution and result.show_no_institution:
        columns.append((None, NO_INSTITUTION))
    headers = ["theme", "people", "answers"] + [name for _, name in columns]
    rows: list[list[object]] = []
    for row in result.rows:
        counts = row.by_institution
        rows.append(
            [row.label, row.people, row.answers]
            + [counts[i].people if i in counts else 0 for i, _ in columns]
        )
    out = [
        f"{result.campaign.title}: {result.people} people, {result.answers} answers, "
        f"{result.untagged} untagged",
        table(headers, rows),
    ]
    if by_institution:
        out.append("(per institution: distinct people; a person in two institutions is in both)")
    if quotes:
        for row in result.rows:
            if row.quotes:
                out.append(f"\n{row.label}:")
                out.extend(f'  "{quote}"' for quote in row.quotes)
    return "\n".join(out)


@listening.command("themes")
@click.argument("slug")
@click.option("--institution", "institutions", multiple=True, help="Only these institutions.")
@click.option("--by-institution/--totals", default=True, show_default=True)
@click.option("--quotes/--no-quotes", default=False, help="Quotes from people who consented.")
@pass_runtime
def themes(
    rt: Runtime, slug: str, institutions: tuple[str, ...], by_institution: bool, quotes: bool
) -> None:
    """The theme table: people (the mandate) and answers per theme and institution."""

    async def body(session: AsyncSession, settings: Settings, now: datetime) -> str:
        campaign = await _campaign(session, slug)
        result = await theme_table(
            session,
            campaign,
            scope=await _scope(session, institutions),
            quotes=QUOTES_PER_THEME if quotes else 0,
        )
        return render_theme_table(result, by_institution=by_institution, quotes=quotes)

    click.echo(_do(rt, body))


@listening.command("rules")
@click.argument("slug")
@click.argument("theme", required=False)
@pass_runtime
def rules(rt: Runtime, slug: str, theme: str | None) -> None:
    """The keyword and phrase rules of a campaign's themes."""

    async def body(session: AsyncSession, settings: Settings, now: datetime) -> str:
        campaign = await _campaign(session, slug)
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

    click.echo(_do(rt, body))


@listening.command("add-theme")
@click.argument("slug")
@click.argument("key")
@click.option("--label", required=True, help="English label.")
@click.option("--label-cy")
@click.option("--label-pl")
@pass_runtime
def add_theme_(
    rt: Runtime, slug: str, key: str, label: str, label_cy: str | None, label_pl: str | None
) -> None:
    """Add a theme to a campaign (then give it rules with add-rule)."""
    labels = (
        {"en": label}
        | ({"cy": label_cy} if label_cy else {})
        | ({"pl": label_pl} if label_pl else {})
    )

    async def body(session: AsyncSession, settings: Settings, now: datetime) -> str:
        campaign = await _campaign(session, slug)
        await add_theme(session, campaign.id, key, labels)
        return f"Added theme {key} to {slug}"

    click.echo(_do(rt, body))


@listening.command("add-rule")
@click.argument("slug")
@click.argument("theme")
@click.argument("language", type=click.Choice(LANGUAGES))
@click.argument("phrase")
@pass_runtime
def add_rule_(rt: Runtime, slug: str, theme: str, language: str, phrase: str) -> None:
    """Add a word, phrase or prefix* to a theme, and re-tag the campaign's answers."""

    async def body(session: AsyncSession, settings: Settings, now: datetime) -> str:
        campaign = await _campaign(session, slug)
        await add_rule(session, await theme_by_key(session, campaign.id, theme), language, phrase)
        changed = await retag_campaign(session, campaign.id)
        return f"Added {phrase!r} ({language}) to {theme}; answers whose themes changed: {changed}"

    click.echo(_do(rt, body))


@listening.command("remove-rule")
@click.argument("slug")
@click.argument("theme")
@click.argument("language", type=click.Choice(LANGUAGES))
@click.argument("phrase")
@pass_runtime
def remove_rule_(rt: Runtime, slug: str, theme: str, language: str, phrase: str) -> None:
    """Remove a rule from a theme, and re-tag the campaign's answers."""

    async def body(session: AsyncSession, settings: Settings, now: datetime) -> str:
        campaign = await _campaign(session, slug)
        found = await remove_rule(
            session, await theme_by_key(session, campaign.id, theme), language, phrase
        )
        if not found:
            raise ListeningError(f"{theme} has no {language} rule {phrase!r}")
        changed = await retag_campaign(session, campaign.id)
        return (
            f"Removed {phrase!r} ({language}) from {theme}; answers whose themes changed: {changed}"
        )

    click.echo(_do(rt, body))


# -- pipeline and follow-ups -------------------------------------------------------------------


def _pipeline_cells(row: PipelineRow) -> list[object]:
    return [
        row.label,
        row.listened,
        row.consented,
        _percent(row.consent_rate),
        row.followed_up,
        _percent(row.follow_up_rate),
        row.came,
        _percent(row.came_rate),
        row.coming,
    ]


PIPELINE_HEADERS = [
    "",
    "listened",
    "consented",
    "%",
    "followed up",
    "%",
    "came to an action",
    "%",
    "coming",
]


def render_pipeline(result: Pipeline) -> str:
    rows = [_pipeline_cells(r) for r in result.rows]
    if result.no_institution is not None:
        rows.append(_pipeline_cells(result.no_institution))
    rows.append(_pipeline_cells(result.total))
    out = table(PIPELINE_HEADERS, rows)
    if result.target:
        out += f"\nTarget: {result.target} people ({result.total.listened} listened to)"
    return out


@listening.command("pipeline")
@click.argument("slug", required=False)
@click.option("--institution", "institutions", multiple=True, help="Only these institutions.")
@pass_runtime
def pipeline_(rt: Runtime, slug: str | None, institutions: tuple[str, ...]) -> None:
    """listened -> consented -> followed up -> came to an action, and who waits for a
    follow-up. Without a campaign name: one row per campaign."""

    async def body(session: AsyncSession, settings: Settings, now: datetime) -> str:
        scope = await _scope(session, institutions)
        if slug is None:
            rows = await pipeline_by_campaign(session, now, scope=scope)
            return table(PIPELINE_HEADERS, [_pipeline_cells(r) for _, r in rows])
        campaign = await _campaign(session, slug)
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

    click.echo(_do(rt, body))


@listening.command("follow-up")
@click.argument("slug")
@click.argument("person")
@click.option("--by", "by_name", default="", help="Who followed them up.")
@click.option("--note", default="")
@pass_runtime
def follow_up(rt: Runtime, slug: str, person: str, by_name: str, note: str) -> None:
    """Record that a listened-to PERSON (#id or phone) was followed up."""

    async def body(session: AsyncSession, settings: Settings, now: datetime) -> str:
        campaign = await _campaign(session, slug)
        who = await _person(session, person, settings)
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

    click.echo(_do(rt, body))


@listening.command("log")
@click.argument("slug")
@click.argument("person")
@click.option("--kind", type=click.Choice(CONVERSATION_KINDS), default="one_to_one")
@click.option("--notes", required=True, help="What the person said.")
@click.option("--name", default="", help="Their name, for a number we do not know yet.")
@click.option("--consent", type=click.Choice(["yes", "no"]), help="May we follow them up?")
@pass_runtime
def log(
    rt: Runtime, slug: str, person: str, kind: str, notes: str, name: str, consent: str | None
) -> None:
    """Log a face-to-face conversation (one-to-one, house meeting, doorstep) for PERSON (#id
    or phone; a new number becomes a person who has not agreed to texts)."""

    async def body(session: AsyncSession, settings: Settings, now: datetime) -> str:
        campaign = await _campaign(session, slug)
        try:
            who = await _person(session, person, settings)
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

    click.echo(_do(rt, body))


@listening.command("attach")
@click.argument("message_id", type=int)
@click.argument("slug")
@click.option("--question", type=int, help="Which question it answers (1, 2, ...).")
@pass_runtime
def attach(rt: Runtime, message_id: int, slug: str, question: int | None) -> None:
    """Attach an inbox message (its id in `turnout inbox`) to a campaign as an answer."""

    async def body(session: AsyncSession, settings: Settings, now: datetime) -> str:
        campaign = await _campaign(session, slug)
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

    click.echo(_do(rt, body))


# -- exports and report-back --------------------------------------------------------------------


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
def export_answers_(
    rt: Runtime, slug: str, fields: str, institutions: tuple[str, ...], out: str | None
) -> None:
    """The campaign's answers as CSV."""
    chosen = [f.strip() for f in fields.split(",") if f.strip()]
    try:
        check_fields(chosen)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--fields") from None

    async def body(session: AsyncSession, settings: Settings, now: datetime) -> int:
        campaign = await _campaign(session, slug)
        stream = _open_out(out)
        try:
            return await export_answers(
                session, campaign, chosen, stream, scope=await _scope(session, institutions)
            )
        finally:
            if stream is not sys.stdout:
                stream.close()

    written = _do(rt, body)
    click.echo(f"{written} answers", err=True)


@export.command("themes")
@click.argument("slug")
@click.option("--institution", "institutions", multiple=True, help="Only these institutions.")
@click.option("--out", help="File to write (default: standard output).")
@pass_runtime
def export_themes_(rt: Runtime, slug: str, institutions: tuple[str, ...], out: str | None) -> None:
    """Theme counts per institution as CSV."""

    async def body(session: AsyncSession, settings: Settings, now: datetime) -> int:
        campaign = await _campaign(session, slug)
        result = await theme_table(
            session, campaign, scope=await _scope(session, institutions), quotes=0
        )
        stream = _open_out(out)
        try:
            return export_themes(result, stream)
        finally:
            if stream is not sys.stdout:
                stream.close()

    _do(rt, body)


@listening.command("report-back")
@click.argument("slug")
@click.option("--top", type=click.IntRange(1, 5), default=3, show_default=True)
@click.option(
    "--round", "round_", type=int, default=1, show_default=True, help="Send again: 2, 3..."
)
@click.option("--dry-run", is_flag=True, help="Show what would be sent, send nothing.")
@pass_runtime
def report_back_(rt: Runtime, slug: str, top: int, round_: int, dry_run: bool) -> None:
    """Send "here is what we heard" (people listened to, top themes) to everyone who answered."""

    async def body(session: AsyncSession, settings: Settings, now: datetime) -> str:
        campaign = await _campaign(session, slug)
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
        return f"{verb} to {_people(result.recipients)}:\n  {example}"

    click.echo(_do(rt, body))


@listening.command("invite")
@click.argument("slug")
@click.argument("theme")
@click.argument("action")
@click.option("--dry-run", is_flag=True)
@pass_runtime
def invite(rt: Runtime, slug: str, theme: str, action: str, dry_run: bool) -> None:
    """Invite everyone who raised THEME to ACTION (its name in `turnout actions list`)."""

    async def body(session: AsyncSession, settings: Settings, now: datetime) -> str:
        campaign = await _campaign(session, slug)
        found = await session.scalar(select(Action).where(Action.slug == action))
        if found is None:
            raise ListeningError(f"no action called {action!r}")
        result = await invite_theme(
            session, campaign, theme, found, now=now, settings=settings, dry_run=dry_run
        )
        new = result.people - result.already_invited
        verb = "Would invite" if dry_run else "Invited"
        return f"{verb} {_people(new)} ({result.already_invited} already invited)"

    click.echo(_do(rt, body))
