"""``turnout demo``: a small alliance to try turnout with, then the server (sandbox)."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import click
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli.common import run
from bot.cli.root import cli
from bot.cli.runtime import Runtime, pass_runtime
from bot.cli.server import serve_until_stopped
from bot.web.auth import sign_in_link
from config.logs import setup_logging
from config.settings import Settings
from scheduler import actions as store
from storage.db import Database
from storage.models import Action, Institution, Membership, Person
from storage.people import new_person

DEMO_ACTION = "assembly"
DEMO_ORGANISER = "+447700900011"  # Ruth Adeyemi: `turnout demo` prints a console link for her
# (name, kind, commitment)
INSTITUTIONS = [
    ("St Mary's Church", "faith", 40),
    ("Al-Noor Mosque", "faith", 25),
    ("Judgemeadow Community College", "school", 30),
    ("Unison Leicester", "union", None),
]
# (phone in Ofcom's drama range, name, institution index or None, role, language)
PEOPLE = [
    ("07700900001", "Ann Patel", 0, "leader", "en"),
    ("07700900002", "Mohammed Khan", 1, "member", "en"),
    ("07700900003", "Sian Evans", 2, "member", "cy"),
    ("07700900004", "Kasia Nowak", 3, "leader", "pl"),
    ("07700900005", "Grace Okafor", 0, "member", "en"),
    ("07700900006", "Patrick O'Brien", 2, "leader", "en"),
    ("07700900007", "Fatima Hussain", 1, "leader", "en"),
    ("07700900008", "Tom Hughes", None, "member", "en"),
    ("07700900009", "Priya Shah", 0, "member", "en"),
    ("07700900010", "Daniel Price", 3, "member", "en"),
    ("07700900011", "Ruth Adeyemi", 0, "organiser", "en"),
]


async def seed(session: AsyncSession, settings: Settings, now: datetime) -> bool:
    """Create the demo alliance and invite everyone, once. False if it was there already."""
    if await session.scalar(select(Action.id).where(Action.slug == DEMO_ACTION)) is not None:
        return False
    institutions = []
    for name, kind, _ in INSTITUTIONS:
        institution = Institution(name=name, kind=kind, status="member", created_at=now)
        session.add(institution)
        institutions.append(institution)
    await session.flush()
    for phone, name, index, role, language in PEOPLE:
        person = new_person(
            phone="+44" + phone[1:],
            name=name,
            language=language,
            timezone=settings.default_timezone,
            consent="opted_in",
            consent_source="import",
            now=now,
        )
        session.add(person)
        await session.flush()
        if index is not None:
            session.add(
                Membership(
                    person_id=person.id,
                    institution_id=institutions[index].id,
                    role=role,
                    created_at=now,
                )
            )
    zone = ZoneInfo(settings.default_timezone)
    day = now.astimezone(zone).date() + timedelta(days=10)
    starts = datetime.combine(day, time(18, 30), tzinfo=zone)
    action = await store.create_action(
        session,
        slug=DEMO_ACTION,
        title="Accountability Assembly",
        kind="assembly",
        starts_at=starts,
        ends_at=starts + timedelta(hours=2),
        place="De Montfort Hall",
        bring="a friend",
        target=120,
        now=now,
    )
    leader = await session.scalar(select(Person).where(Person.name == "Ann Patel"))
    for institution, (_, _, committed) in zip(institutions, INSTITUTIONS, strict=True):
        if committed is not None:
            await store.commit(
                session,
                action_id=action.id,
                institution_id=institution.id,
                number=committed,
                set_by_id=leader.id if leader else None,
                channel="sms",
                now=now,
            )
    await store.invite(session, action, settings=settings, now=now)
    return True


@cli.command()
@click.option("--no-serve", is_flag=True, help="Only create the demo data.")
@pass_runtime
@run
async def demo(rt: Runtime, no_serve: bool) -> None:
    """Create a demo alliance (4 institutions, 11 people, an assembly in 10 days, everyone
    invited), print a sign-in link to the organiser console for its organiser, then serve.
    Safe to run again: the data is created once (a new link is printed each time)."""
    settings = rt.settings
    setup_logging(settings)
    db: Database = await rt.open_db()
    async with db.session() as session:
        created = await seed(session, settings, rt.clock.now())
    click.echo(
        "demo alliance created: 4 institutions, 11 people, action 'assembly' (all invited)"
        if created
        else "demo alliance already there"
    )
    click.echo(
        "try: .venv/bin/turnout outbox | turnout text 07700900001 YES 2 | turnout rollup assembly"
    )
    async with db.session() as session:
        ruth = await session.scalar(select(Person).where(Person.phone == DEMO_ORGANISER))
        link = None if ruth is None else await sign_in_link(session, settings, ruth, rt.clock.now())
    if link is not None:
        click.echo(
            f"organiser console: open this link to sign in as Ruth Adeyemi (works once, for "
            f"{settings.console_link_minutes} minutes; later: turnout organisers link 07700900011)"
        )
        click.echo(link)
    if no_serve:
        await db.dispose()
        return
    await serve_until_stopped(rt, db)
