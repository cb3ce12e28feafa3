"""``turnout listening``: the command group, and the lookups its commands share (a campaign, an
institution, a person by ``#id`` or number, a date, where output goes)."""

from __future__ import annotations

import sys
from datetime import date, datetime, time, timedelta
from typing import TextIO
from zoneinfo import ZoneInfo

import click
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli.root import cli
from config.phones import BadPhone, normalise_phone
from config.settings import Settings
from storage.institutions import find_institution
from storage.listening import ListeningError, campaign_by_slug
from storage.models import Institution, ListeningCampaign, Person


@cli.group()
def listening() -> None:
    """Listening campaigns: questions, answers, themes, follow-ups."""


async def campaign_named(session: AsyncSession, slug: str) -> ListeningCampaign:
    campaign = await campaign_by_slug(session, slug)
    if campaign is None:
        raise ListeningError(f"no campaign called {slug!r} (see `turnout listening list`)")
    return campaign


async def institution_named(session: AsyncSession, name: str) -> Institution:
    match = await find_institution(session, name)
    if match.found is None:
        raise ListeningError(match.problem())
    return match.found


async def scope_named(session: AsyncSession, names: tuple[str, ...]) -> list[int] | None:
    if not names:
        return None
    return [(await institution_named(session, n)).id for n in names]


async def person_named(session: AsyncSession, ref: str, settings: Settings) -> Person:
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


def when_given(value: str | None, settings: Settings, *, end: bool = False) -> datetime | None:
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


def output_to(path: str | None) -> TextIO:
    if path is None or path == "-":
        return sys.stdout
    return open(path, "w", newline="", encoding="utf-8")
