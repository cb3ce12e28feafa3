"""Export a person (storage/subject.py): every table that can hold a person is covered, and
the zip holds exactly what the database holds about them, formula-safe."""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import replace

from sqlalchemy import ForeignKey, func, select

from config.clock import FakeClock
from config.settings import Settings
from storage.db import Database
from storage.models import Base, Person
from storage.subject import HOLDINGS, NO_PERSONAL_DATA, gather, read_csv, subject_of, write_zip
from tests import factories as f
from tests.test_rights_erase import SECRET, everything

# A column that can hold a person: a reference to people, or a name saying so.
PERSONAL = re.compile(r"person|phone|address|chat|sender|recipient|user_id")


def _points_at_people(fks: set[ForeignKey]) -> bool:
    return any(fk.column.table.name == "people" for fk in fks)


def test_every_table_is_placed_and_every_table_holding_a_person_is_exported() -> None:
    held = {table for table, _how, _find in HOLDINGS}
    tables = set(Base.metadata.tables)
    assert not held & set(NO_PERSONAL_DATA), "a table is both held and declared empty"
    unplaced = tables - held - set(NO_PERSONAL_DATA)
    assert not unplaced, f"place these in storage/subject.py: {sorted(unplaced)}"
    assert held <= tables and set(NO_PERSONAL_DATA) <= tables
    personal = {
        table.name
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if PERSONAL.search(column.name) or _points_at_people(column.foreign_keys)
    }
    missing = personal - held
    assert not missing, f"these hold a person but are not exported: {sorted(missing)}"


async def test_the_export_holds_what_the_database_holds(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    ids = await everything(db, replace(settings, suppression_secret=SECRET), clock)
    async with db.session() as s:
        ann = await s.get_one(Person, ids["ann"])
        ann.under_16 = True
        subject = subject_of(ann)
        data = await gather(s, subject)
        for table, _how, finder in HOLDINGS:
            t = Base.metadata.tables[table]
            count = await s.scalar(select(func.count()).select_from(t).where(finder(subject)))
            assert len(data.get(table, [])) == count, table
    for table in (
        "people", "consent_events", "memberships", "invitations", "rsvp_events", "attendance",
        "inbound_messages", "outbox", "listening_answers", "listening_follow_ups",
        "telegram_updates", "telegram_link_codes", "console_sessions", "audit_log",
    ):  # fmt: skip
        assert data.get(table), f"nothing from {table}"
    buffer = io.BytesIO()
    write_zip(data, buffer, at=clock.now())
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
        names = set(archive.namelist())
        assert names == {"person.json"} | {f"{t}.csv" for t in data}
        document = json.loads(archive.read("person.json"))
        assert document["marks"]["young"] is True
        assert document["tables"]["people"][0]["name"] == ann.name
        for table, rows in data.items():
            assert len(read_csv(archive, table)) == len(rows) + 1  # and the header


async def test_cells_that_would_run_as_formulas_are_made_safe(
    db: Database, clock: FakeClock
) -> None:
    async with db.session() as s:
        person = await f.person(s, '=HYPERLINK("http://x.example","click")', 1, clock.now())
        data = await gather(s, subject_of(person))
    buffer = io.BytesIO()
    write_zip(data, buffer, at=clock.now())
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
        header, row = read_csv(archive, "people")
        assert row[header.index("name")].startswith("'=HYPERLINK")
        assert row[header.index("phone")] == "'+447700900001"
