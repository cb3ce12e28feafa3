"""People's data rights on the command line (README, "Data protection"):

* ``turnout people export PHONE [--out FILE]``: everything held about one person, one zip.
* ``turnout people erase PHONE --yes``: erase them (storage/erase.py).
* ``turnout people young PHONE --born YYYY-MM-DD`` / ``--adult NAME --relation parent``: a
  young person, and the adult who consented (storage/young.py).

Every one is recorded in the audit log as the operator's.
"""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import click
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli.common import run
from bot.cli.people import people
from bot.cli.runtime import Runtime, pass_runtime
from config.phones import BadPhone, normalise_phone
from config.settings import Settings
from storage import audit, young
from storage.erase import erase
from storage.models import ADULT_RELATIONS, Person
from storage.people import person_by_phone
from storage.subject import gather, subject_of, write_zip
from storage.suppression import NoSuppressionSecret


async def find(session: AsyncSession, settings: Settings, raw: str) -> Person:
    """The person with this number (typed any usual way), or a clean error."""
    try:
        phone = normalise_phone(raw, settings.default_region)
    except BadPhone as exc:
        raise click.ClickException(f"{raw!r}: {exc}") from None
    person = await person_by_phone(session, phone)
    if person is None:
        raise click.ClickException("nobody has that number")
    return person


@people.command("export")
@click.argument("phone")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the zip (default: person-ID.zip here).",
)
@pass_runtime
@run
async def export_person(rt: Runtime, phone: str, out: Path | None) -> None:
    """Everything held about one person: a JSON document and a CSV per table, zipped."""

    async def body(session: AsyncSession, settings: Settings, now: datetime) -> tuple[int, bytes]:
        person = await find(session, settings, phone)
        data = await gather(session, subject_of(person))
        buffer = io.BytesIO()
        write_zip(data, buffer, at=now)
        await audit.record(
            session,
            audit.Actor.operator(),
            "person_exported",
            "person",
            person.id,
            at=now,
            details={"tables": len(data)},
        )
        return person.id, buffer.getvalue()

    person_id, data = await rt.transaction(body)
    path = out or Path(f"person-{person_id}.zip")
    path.write_bytes(data)
    click.echo(f"wrote {path} (person #{person_id})")


@people.command("erase")
@click.argument("phone")
@click.option("--yes", "confirmed", is_flag=True, help="Yes: erase them, for good.")
@pass_runtime
@run
async def erase_person(rt: Runtime, phone: str, confirmed: bool) -> None:
    """Erase one person: every personal field, in every table, for good. Their counts stay
    (as one anonymous person); an import will not bring their number back."""
    if not confirmed:
        raise click.ClickException("erasing cannot be undone: add --yes to go ahead")

    async def body(session: AsyncSession, settings: Settings, now: datetime) -> list[str]:
        person = await find(session, settings, phone)
        try:
            report = await erase(
                session,
                person,
                secret=settings.suppression_secret,
                region=settings.default_region,
                now=now,
            )
        except NoSuppressionSecret as exc:
            raise click.ClickException(str(exc)) from None
        await audit.record(
            session,
            audit.Actor.operator(),
            "person_erased",
            "person",
            person.id,
            at=now,
            details={"cancelled": report.cancelled},
        )
        return report.lines()

    for line in await rt.transaction(body):
        click.echo(line)


@people.command("young")
@click.argument("phone")
@click.option("--born", type=click.DateTime(["%Y-%m-%d"]), help="Date of birth, YYYY-MM-DD.")
@click.option("--under-16", "under_16", is_flag=True, help="Mark as under 16 (no date known).")
@click.option("--adult", help="The adult who consented to direct messages (their name).")
@click.option(
    "--relation", type=click.Choice(ADULT_RELATIONS), help="The adult is their parent, carer..."
)
@click.option("--withdraw", is_flag=True, help="The adult's consent is withdrawn.")
@click.option("--clear", is_flag=True, help="Not a young person after all: remove the mark.")
@pass_runtime
@run
async def young_person(
    rt: Runtime,
    phone: str,
    born: datetime | None,
    under_16: bool,
    adult: str | None,
    relation: str | None,
    withdraw: bool,
    clear: bool,
) -> None:
    """Mark a young person (under 16, or a date of birth) and record the adult who consented.

    Until a named parent, carer or teacher has consented, nothing is sent to them directly.
    """
    if (adult is None) != (relation is None):
        raise click.ClickException("give the adult's name with --adult and --relation together")

    async def body(session: AsyncSession, settings: Settings, now: datetime) -> str:
        person = await find(session, settings, phone)
        if clear:
            young.mark(person, today=now.date(), under_16=False)
            young.withdraw_adult_consent(person)
        elif born is not None or under_16:
            young.mark(person, today=now.date(), born=born.date() if born else None)
        if adult is not None and relation is not None:
            if not young.is_young(person, now):
                raise click.ClickException("mark them young first (--born or --under-16)")
            young.adult_consent(person, name=adult, relation=relation, at=now)
        if withdraw:
            young.withdraw_adult_consent(person)
        await audit.record(
            session,
            audit.Actor.operator(),
            "person_young_updated",
            "person",
            person.id,
            at=now,
            details={"young": young.is_young(person, now), "adult": adult is not None},
        )
        return young.describe(person, now) or "not marked as a young person"

    click.echo(await rt.transaction(body))
