"""Every CSV export is safe to open in a spreadsheet: a cell that would start a formula (``=``,
``+``, ``-``, ``@``, tab, CR) gets an apostrophe in front, in every column, the header too."""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.cli import listening as _listening  # noqa: F401  (registers the group)
from bot.cli.runtime import Runtime
from config.clock import FakeClock
from storage.db import Database
from storage.export import FORMULA_START, CsvExport, safe_cell
from storage.listening import create_campaign, record_answer
from storage.listening_reports.answers import EXPORT_FIELDS, export_answers
from storage.listening_reports.themes import export_themes, theme_table
from storage.listening_themes import add_rule, add_theme, load_theme_specs
from storage.models import ListeningCampaign
from tests import factories as f

# (what someone typed, what the spreadsheet must receive)
HOSTILE = [
    ('=HYPERLINK("http://evil.example","click")', '\'=HYPERLINK("http://evil.example","click")'),
    ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
    ("-2+3+cmd|' /C calc'!A0", "'-2+3+cmd|' /C calc'!A0"),
    ("@SUM(1+1)*cmd|' /C calc'!A0", "'@SUM(1+1)*cmd|' /C calc'!A0"),
    ("\t=1+1", "'\t=1+1"),
    ("\r=1+1", "'\r=1+1"),
    ("+447700900123", "'+447700900123"),
    ("Damp in the flat = mould", "Damp in the flat = mould"),
    ("St Mary's Church", "St Mary's Church"),
    ("", ""),
]


def _cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def _no_formula(rows: list[list[str]]) -> None:
    assert [c for row in rows for c in row if c.startswith(FORMULA_START)] == []


@pytest.mark.parametrize(("typed", "written"), HOSTILE)
def test_a_cell_that_would_start_a_formula_is_written_as_text(typed: str, written: str) -> None:
    assert safe_cell(typed) == written
    out = io.StringIO(newline="")
    export = CsvExport(out, [typed])
    export.row([typed, 42, -5, None])
    assert _cells(out.getvalue()) == [[written], [written, "42", "-5", ""]]
    assert export.rows == 1


async def _hostile_campaign(db: Database, clock: FakeClock) -> ListeningCampaign:
    """Everything an organiser or a resident can type, hostile: institution names, a person's
    name, answers, a theme's label."""
    now = clock.now()
    async with db.session() as s:
        campaign = await create_campaign(
            s,
            slug="city-listens",
            title="City Listens",
            questions=[{"en": "What is the biggest issue facing you?"}],
            now=now,
            themes=load_theme_specs(),
        )
        theme = await add_theme(
            s, campaign.id, "formula", {"en": '=HYPERLINK("http://evil.example")'}
        )
        await add_rule(s, theme, "en", "rent")
        for n, (typed, _) in enumerate(HOSTILE, start=1):
            inst = await f.institution(s, typed or "Plain Church", now)
            person = await f.person(s, typed, n, now, institution=inst)
            await record_answer(
                s,
                campaign_id=campaign.id,
                person=person,
                body=f"{typed} the rent is too high",
                source="sms",
                now=now,
            )
        return campaign


async def test_every_column_of_the_answers_export_is_safe(db: Database, clock: FakeClock) -> None:
    campaign = await _hostile_campaign(db, clock)
    out = io.StringIO(newline="")
    async with db.session() as s:
        written = await export_answers(s, campaign, list(EXPORT_FIELDS), out)
    rows = _cells(out.getvalue())
    assert written == len(HOSTILE) == len(rows) - 1
    _no_formula(rows)
    header, *body = rows
    by_name = {row[header.index("name")]: row for row in body}
    for typed, written_as in HOSTILE:
        row = by_name[written_as]
        assert row[header.index("institution")] == (written_as or "Plain Church")
        # Answers are kept stripped: "\t=1+1 ..." is stored as "=1+1 ...", and still made safe.
        assert row[header.index("text")] == safe_cell(f"{typed} the rent is too high".strip())
        assert row[header.index("phone")].startswith("'+44")


async def test_theme_labels_and_institution_names_in_the_themes_export_are_safe(
    db: Database, clock: FakeClock
) -> None:
    campaign = await _hostile_campaign(db, clock)
    out = io.StringIO(newline="")
    async with db.session() as s:
        table = await theme_table(s, campaign)
    rows_written = export_themes(table, out)
    rows = _cells(out.getvalue())
    assert rows_written == len(rows) - 1
    _no_formula(rows)
    formula_rows = [row for row in rows if row[0] == "formula"]
    assert {row[1] for row in formula_rows} == {'\'=HYPERLINK("http://evil.example")'}
    institutions = {row[2] for row in formula_rows}
    assert {written or "Plain Church" for _, written in HOSTILE} <= institutions


def test_the_terminals_exports_write_through_the_same_writer(
    db: Database, db_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    async def seed() -> None:
        own = Database.from_url(db_url)  # the fixture's engine belongs to another event loop
        await _hostile_campaign(own, clock)
        await own.dispose()

    asyncio.run(seed())
    env = {"TURNOUT_DATABASE_URL": db_url}
    runner = CliRunner()
    for kind, extra in (("answers", ["--fields", ",".join(EXPORT_FIELDS)]), ("themes", [])):
        path = tmp_path / f"{kind}.csv"
        result = runner.invoke(
            cli,
            ["listening", "export", kind, "city-listens", *extra, "--out", str(path)],
            env=env,
            catch_exceptions=False,
            obj=Runtime(clock=clock),
        )
        assert result.exit_code == 0, result.output
        with path.open(encoding="utf-8", newline="") as fh:
            rows = list(csv.reader(fh))
        assert len(rows) > len(HOSTILE)
        _no_formula(rows)
