"""``turnout people``: import from a spreadsheet, list."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
from sqlalchemy import func, select

from bot.cli.common import run, table
from bot.cli.root import cli
from bot.cli.runtime import Runtime, pass_runtime
from config.phones import mask_phone
from storage.db import Database
from storage.importer import ImportRejected, read_people, write_people
from storage.institutions import find_institution
from storage.models import Institution, Membership, Person


@cli.group()
def people() -> None:
    """People and their institutions."""


@people.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_runtime
@run
async def import_(rt: Runtime, csv_file: Path) -> None:
    """Import people from a CSV with a header row.

    Columns: name, phone (required); institution, role (member/leader/organiser), language
    (en/cy/pl), timezone, institution_type (optional). Every bad row is reported by line
    number and then nothing is imported; the same phone twice is one person.
    """
    settings = rt.settings
    try:
        parsed = await asyncio.to_thread(read_people, csv_file, settings=settings)
    except ImportRejected as rejected:
        for line in rejected.lines():
            click.echo(line, err=True)
        raise click.ClickException("nothing was imported") from None

    async def body(db: Database) -> None:
        with click.progressbar(length=parsed.rows_read, label="importing", file=None) as bar:
            report = await write_people(
                db,
                parsed,
                now=rt.clock.now(),
                progress=bar.update,
                suppression_secret=settings.suppression_secret,
            )
        for line in report.lines():
            click.echo(line)

    await rt.with_db(body)


@people.command("list")
@click.option("--institution", help="Only this institution's people.")
@click.option("--show-phones", is_flag=True, help="Show whole phone numbers (organisers only).")
@pass_runtime
@run
async def list_people(rt: Runtime, institution: str | None, show_phones: bool) -> None:
    """People with their institutions, roles, language and consent."""

    async def body(db: Database) -> None:
        aggregate = func.group_concat if db.is_sqlite else func.string_agg
        names = aggregate(Institution.name + ":" + Membership.role, ", ")
        query = (
            select(Person, names)
            .outerjoin(Membership, Membership.person_id == Person.id)
            .outerjoin(Institution, Institution.id == Membership.institution_id)
            .group_by(Person.id)
            .order_by(Person.name)
        )
        async with db.session() as session:
            if institution:
                match = await find_institution(session, institution)
                if match.found is None:
                    raise click.ClickException(match.problem())
                query = query.where(
                    Person.id.in_(
                        select(Membership.person_id).where(
                            Membership.institution_id == match.found.id
                        )
                    )
                )
            rows = (await session.execute(query)).all()
        click.echo(
            table(
                ["id", "name", "phone", "language", "consent", "institutions"],
                [
                    [
                        p.id,
                        p.name,
                        p.phone if show_phones else mask_phone(p.phone),
                        p.language,
                        p.consent,
                        groups or "-",
                    ]
                    for p, groups in rows
                ],
            )
        )

    await rt.with_db(body)
