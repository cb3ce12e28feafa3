"""Actions from the terminal: create, list, invite, reschedule, cancel, the rollup, the digest,
and planning "as if" at a given time (to see the reminder ladder in the sandbox)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

import click
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli.common import run, table
from bot.cli.root import cli
from bot.cli.runtime import Runtime, pass_runtime
from config.messages import format_when
from config.settings import Settings
from scheduler import actions as store
from scheduler.digest.build import build_digest
from scheduler.digest.plan import plan_digests
from scheduler.digest.render import render_text
from scheduler.invitations import preview as preview_invite
from scheduler.invitations import queue
from scheduler.planner import plan
from storage.db import Database
from storage.institutions import find_institution
from storage.models import ACTION_KINDS, Action
from storage.rollup import TOTALS_NOTE, Rollup, RollupRow, action_rollup
from storage.segments import SEGMENT_KINDS, Segment, SegmentError, check_exists, theme_by_key

T = TypeVar("T")


def local_time(value: str, settings: Settings) -> datetime:
    """``2026-03-14 18:30`` in TURNOUT_DEFAULT_TIMEZONE (or with an explicit offset)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: expected a date and time like 2026-03-14 18:30"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(settings.default_timezone))
    return parsed


async def in_session(db: Database, body: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """One transaction; an ActionError becomes a clean CLI error (and nothing is written)."""
    try:
        async with db.session() as session:
            return await body(session)
    except store.ActionError as exc:
        raise click.ClickException(str(exc)) from None


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
            "-" if row.headcount is None else row.headcount,
            "-" if row.gap is None else row.gap,
        ]

    rows = [cells(r) for r in rollup.rows]
    rows.append(cells(rollup.no_institution))
    rows.append(cells(rollup.totals))
    rows.append(cells(rollup.unique))
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
        "counted",
        "gap",
    ]
    return table(headers, rows) + "\n" + TOTALS_NOTE


@cli.command()
@click.argument("slug")
@pass_runtime
@run
async def rollup(rt: Runtime, slug: str) -> None:
    """Print an action's turnout per institution: committed, confirmed, attended."""
    settings = rt.settings

    async def body(session: AsyncSession) -> tuple[Action, Rollup]:
        action = await store.get_action(session, slug)
        return action, await action_rollup(session, action)

    async def main(db: Database) -> None:
        action, result = await in_session(db, body)
        when = format_when(action.starts_at, "en", settings.default_timezone)
        click.echo(f"{action.title} ({action.slug}), {when}, {action.place} [{action.status}]")
        click.echo(rollup_table(result))

    await rt.with_db(main)


@cli.group()
def actions() -> None:
    """Create, list, reschedule and cancel actions (assemblies, house meetings, trainings)."""


@actions.command("create")
@click.argument("slug")
@click.option("--title", required=True, help="What people are invited to.")
@click.option("--start", required=True, help="Local start, e.g. '2026-03-14 18:30'.")
@click.option("--hours", default=2.0, show_default=True, help="How long it lasts.")
@click.option("--place", required=True, help="Where people should go.")
@click.option("--kind", type=click.Choice(ACTION_KINDS), default="assembly", show_default=True)
@click.option("--bring", default="", help="What to bring (goes in the on-the-day reminder).")
@click.option("--target", type=int, help="The organiser's overall turnout target.")
@pass_runtime
@run
async def create(
    rt: Runtime,
    slug: str,
    title: str,
    start: str,
    hours: float,
    place: str,
    kind: str,
    bring: str,
    target: int | None,
) -> None:
    """Create an action called SLUG (a short name people and commands use)."""
    settings = rt.settings
    starts_at = local_time(start, settings)

    async def body(session: AsyncSession) -> Action:
        return await store.create_action(
            session,
            slug=slug,
            title=title,
            kind=kind,
            starts_at=starts_at,
            ends_at=starts_at + timedelta(hours=hours),
            place=place,
            bring=bring,
            target=target,
            now=rt.clock.now(),
        )

    async def main(db: Database) -> None:
        action = await in_session(db, body)
        when = format_when(action.starts_at, "en", settings.default_timezone)
        click.echo(f"created {action.slug}: {action.title}, {when}, {action.place}")

    await rt.with_db(main)


@actions.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include past and cancelled actions.")
@pass_runtime
@run
async def list_(rt: Runtime, show_all: bool) -> None:
    """Upcoming actions, soonest first."""
    settings = rt.settings

    async def body(session: AsyncSession) -> list[Action]:
        return await store.list_actions(session, now=rt.clock.now(), include_past=show_all)

    async def main(db: Database) -> None:
        rows = await in_session(db, body)
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

    await rt.with_db(main)


@actions.command("reschedule")
@click.argument("slug")
@click.option("--start", help="New local start, e.g. '2026-03-21 18:30'.")
@click.option("--hours", type=float, help="New length in hours (default: keep it).")
@click.option("--place", help="New place.")
@pass_runtime
@run
async def reschedule(
    rt: Runtime, slug: str, start: str | None, hours: float | None, place: str | None
) -> None:
    """Move an action; everyone who said yes or maybe is told once."""
    settings = rt.settings
    if start is None and hours is None and place is None:
        raise click.UsageError("give --start, --hours or --place")

    async def body(session: AsyncSession) -> store.ChangeReport:
        action = await store.get_action(session, slug)
        starts_at = local_time(start, settings) if start else action.starts_at
        length = timedelta(hours=hours) if hours else action.ends_at - action.starts_at
        return await store.reschedule(
            session,
            action,
            starts_at=starts_at,
            ends_at=starts_at + length,
            place=place,
            now=rt.clock.now(),
            settings=settings,
        )

    async def main(db: Database) -> None:
        report = await in_session(db, body)
        click.echo(
            f"{slug}: revision {report.revision}; {report.notified} told of the change, "
            f"{report.superseded} queued messages replaced, {report.reinvited} re-invited"
        )

    await rt.with_db(main)


@actions.command("cancel")
@click.argument("slug")
@click.confirmation_option(prompt="Cancel the action and text everyone who said yes or maybe?")
@pass_runtime
@run
async def cancel(rt: Runtime, slug: str) -> None:
    """Cancel an action; everyone who said yes or maybe is told once."""
    settings = rt.settings

    async def body(session: AsyncSession) -> store.ChangeReport:
        action = await store.get_action(session, slug)
        return await store.cancel(session, action, now=rt.clock.now(), settings=settings)

    async def main(db: Database) -> None:
        report = await in_session(db, body)
        click.echo(f"{slug}: cancelled; {report.notified} told, {report.superseded} unsent dropped")

    await rt.with_db(main)


@cli.command()
@click.argument("slug")
@click.option("--institution", help="Only this institution's members (default: everyone).")
@click.option(
    "--segment",
    type=click.Choice(SEGMENT_KINDS),
    help="Who: everyone, institutions (--institution), replied (--replied), theme (--theme), "
    "not_asked (not yet invited to this action).",
)
@click.option("--replied", help="With --segment replied: ACTION:REPLY, e.g. march:yes.")
@click.option("--theme", help="With --segment theme: CAMPAIGN:THEME, e.g. south-listens:housing.")
@click.option("--preview", is_flag=True, help="Say what would be queued; queue nothing.")
@pass_runtime
@run
async def invite(
    rt: Runtime,
    slug: str,
    institution: str | None,
    segment: str | None,
    replied: str | None,
    theme: str | None,
    preview: bool,
) -> None:
    """Invite people to an action by SMS (in each person's waking hours)."""
    settings = rt.settings
    now = rt.clock.now()

    async def pick(session: AsyncSession, action: Action) -> Segment:
        kind = segment or ("institutions" if institution else "everyone")
        institution_ids: tuple[int, ...] = ()
        if institution:
            match = await find_institution(session, institution)
            if match.found is None:
                raise store.ActionError(match.problem())
            institution_ids = (match.found.id,)
        other, reply, theme_id = None, None, None
        if kind == "replied":
            other_slug, _, reply = (replied or "").partition(":")
            other = (await store.get_action(session, other_slug)).id
        if kind == "theme":
            campaign, _, key = (theme or "").partition(":")
            theme_id = await theme_by_key(session, campaign, key)
            if theme_id is None:
                raise store.ActionError(f"no listening theme {theme!r} (CAMPAIGN:THEME)")
        chosen = Segment(kind, institution_ids, other, reply, theme_id)
        try:
            await check_exists(session, chosen)
        except SegmentError as exc:
            raise store.ActionError(str(exc)) from None
        return chosen

    async def body(session: AsyncSession) -> store.InviteReport:
        action = await store.get_action(session, slug)
        if segment is None:  # as before: everyone, or one institution
            institution_id = (await pick(session, action)).institution_ids or (None,)
            return await store.invite(
                session, action, institution_id=institution_id[0], settings=settings, now=now
            )
        return await queue(
            session, action, await pick(session, action), scope=None, settings=settings, now=now
        )

    async def main(db: Database) -> None:
        if preview:

            async def rehearsed(session: AsyncSession) -> tuple[int, Segment]:
                action = await store.get_action(session, slug)
                return action.id, await pick(session, action)

            action_id, chosen = await in_session(db, rehearsed)
            try:
                p = await preview_invite(
                    db, action_id, chosen, scope=None, settings=settings, now=now
                )
            except store.ActionError as exc:
                raise click.ClickException(str(exc)) from None
            channels = ", ".join(f"{c} {n}" for c, n in sorted(p.by_channel.items())) or "none"
            click.echo(
                f"preview, nothing queued: {p.people} in the segment; {p.invitations} "
                f"invitations ({channels}); {p.sms_segments} SMS segments "
                f"({p.ucs2_messages} UCS-2), about {p.cost:.2f} at {settings.sms_price} a "
                f"segment; {p.go_now} now, {p.held} held by quiet hours; skipped: "
                f"{p.report.already_invited} already invited, {p.report.skipped_opted_out} "
                f"opted out, {p.report.skipped_unreachable} unreachable, {p.report.dropped} "
                "too late"
            )
            return
        r = await in_session(db, body)
        click.echo(
            f"invited {r.invited} (already invited {r.already_invited}); {r.queued} invitations "
            f"queued, {r.dropped} dropped (too late for quiet hours); skipped: "
            f"{r.skipped_opted_out} opted out, {r.skipped_unreachable} unreachable"
        )

    await rt.with_db(main)


@cli.command()
@click.option("--at", "at", help="Build it as if it were this local time (default: now).")
@pass_runtime
@run
async def digest(rt: Runtime, at: str | None) -> None:
    """Print the organisers' turnout digest for every upcoming action."""
    settings = rt.settings
    now = local_time(at, settings) if at else rt.clock.now()

    async def main(db: Database) -> None:
        async with db.session() as session:
            result = await build_digest(session, settings, now)
        click.echo(render_text(result))

    await rt.with_db(main)


@cli.command("plan")
@click.option("--at", "at", help="Plan as if it were this local time, e.g. '2026-03-12 18:30'.")
@pass_runtime
@run
async def plan_(rt: Runtime, at: str | None) -> None:
    """Plan the reminders and digests due now (or "as if" at --at), then show what is queued.

    Planning twice queues nothing twice. `turnout outbox` then shows what was queued, each
    row due at its own time (the worker sends it then, in the person's waking hours).
    """
    settings = rt.settings
    now = local_time(at, settings) if at else rt.clock.now()

    async def main(db: Database) -> None:
        report = await plan(db, settings, now)
        digests = await plan_digests(db, settings, now)
        click.echo(report.summary())
        click.echo(
            f"digests {digests.digests} (charts {digests.charts}), leader nudges {digests.nudges}"
        )

    await rt.with_db(main)
