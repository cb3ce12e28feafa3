"""``turnout organisers``: who may open the organiser console, from the terminal.

    turnout organisers add "Ruth Adeyemi" 07700900011   # an organiser for the whole alliance
    turnout organisers list
    turnout organisers link 07700900011                 # a one-time sign-in link, printed
    turnout organisers remove 07700900011

Leaders (``memberships.role``) sign in too, with a code to their own phone or Telegram; a link
can be made for them as well. Every change here is recorded in the audit log as the operator's.
"""

from __future__ import annotations

import click
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli.common import run, table
from bot.cli.root import cli
from bot.cli.runtime import Runtime, pass_runtime
from bot.web import auth
from config.phones import BadPhone, mask_phone, normalise_phone
from config.settings import LANGUAGES, Settings
from storage.console import live_sessions
from storage.db import Database
from storage.models import Institution, Membership, Person
from storage.people import person_by_phone
from storage.roles import ORGANISER
from storage.roles import organisers as all_organisers


@cli.group()
def organisers() -> None:
    """Organisers, and sign-in links to the organiser console."""


def _phone(raw: str, settings: Settings) -> str:
    try:
        return normalise_phone(raw, settings.default_region)
    except BadPhone as exc:
        raise click.ClickException(f"{raw}: {exc}") from None


async def _person(session: AsyncSession, phone: str) -> Person:
    person = await person_by_phone(session, phone)
    if person is None:
        raise click.ClickException(f"nobody has the number {mask_phone(phone)}")
    return person


@organisers.command("add")
@click.argument("name")
@click.argument("phone")
@click.option("--language", type=click.Choice(LANGUAGES), help="Default: TURNOUT_DEFAULT_LANGUAGE.")
@pass_runtime
@run
async def add(rt: Runtime, name: str, phone: str, language: str | None) -> None:
    """Make NAME (PHONE) an organiser for the whole alliance; they need not belong to an
    institution. Someone already on record keeps their record (and their name)."""
    settings = rt.settings
    e164 = _phone(phone, settings)
    if not name.strip():
        raise click.UsageError("NAME must not be empty")

    async def body(db: Database) -> None:
        async with db.session() as session:
            person, changed = await auth.add_organiser(
                session,
                settings,
                name=name.strip(),
                phone=e164,
                language=language or settings.default_language,
                now=rt.clock.now(),
            )
        who = f"{person.name} ({mask_phone(person.phone)})"
        click.echo(f"{who} is now an organiser" if changed else f"{who} is already an organiser")
        click.echo(f"sign-in link: turnout organisers link {phone}")

    await rt.with_db(body)


@organisers.command("list")
@pass_runtime
@run
async def list_(rt: Runtime) -> None:
    """Everyone who is an organiser (for the alliance, or of an institution)."""

    async def body(db: Database) -> None:
        now = rt.clock.now()
        rows = []
        async with db.session() as session:
            for person in await all_organisers(session):
                institutions = list(
                    await session.scalars(
                        select(Institution.name)
                        .join(Membership, Membership.institution_id == Institution.id)
                        .where(Membership.person_id == person.id)
                        .where(Membership.role == ORGANISER)
                        .order_by(Institution.name)
                    )
                )
                scope = ["whole alliance"] if person.alliance_role == ORGANISER else []
                rows.append(
                    [
                        person.id,
                        person.name,
                        mask_phone(person.phone),
                        ", ".join(scope + institutions),
                        "telegram" if person.telegram_user_id else "sms",
                        len(await live_sessions(session, person.id, now)),
                    ]
                )
        click.echo(table(["id", "name", "phone", "organiser of", "codes by", "sessions"], rows))

    await rt.with_db(body)


@organisers.command("link")
@click.argument("phone")
@pass_runtime
@run
async def link(rt: Runtime, phone: str) -> None:
    """Print a one-time sign-in link to the console for the organiser or leader with PHONE
    (single use; expires after TURNOUT_CONSOLE_LINK_MINUTES)."""
    settings = rt.settings
    e164 = _phone(phone, settings)

    async def body(db: Database) -> None:
        try:
            async with db.session() as session:
                person = await _person(session, e164)
                url = await auth.sign_in_link(session, settings, person, rt.clock.now())
        except auth.NotAllowed as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(
            f"Sign-in link for {person.name} (one use, {settings.console_link_minutes} min):"
        )
        click.echo(url)

    await rt.with_db(body)


@organisers.command("remove")
@click.argument("phone")
@pass_runtime
@run
async def remove(rt: Runtime, phone: str) -> None:
    """Take away PHONE's organiser role for the alliance; if they lead no institution either,
    their console sessions end."""
    settings = rt.settings
    e164 = _phone(phone, settings)

    async def body(db: Database) -> None:
        async with db.session() as session:
            person = await _person(session, e164)
            if person.alliance_role != ORGANISER:
                raise click.ClickException(
                    f"{person.name} is not an organiser for the alliance (an institution's "
                    "organiser is set by its membership: `turnout people import`)"
                )
            ended = await auth.remove_organiser(session, person, rt.clock.now())
        click.echo(f"{person.name} is no longer an organiser; {ended} console sessions ended")

    await rt.with_db(body)
