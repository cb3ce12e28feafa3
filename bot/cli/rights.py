"""People's data rights on the command line (README, "Data protection"):

* ``turnout people export PHONE [--out FILE]``: everything held about one person, one zip.
* ``turnout people erase PHONE --yes``: erase them (storage/erase.py).

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
from storage import audit
from storage.erase import erase
from storage.models import Person
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
