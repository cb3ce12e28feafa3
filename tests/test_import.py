"""Importing people from a CSV: validate everything, then write all of it or nothing."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from config.clock import FakeClock
from config.settings import Settings
from storage.db import Database
from storage.importer import ImportRejected, import_people, read_people
from storage.models import Institution, Membership, Person
from tests import factories as f

DATA = Path(__file__).parent / "data"
GOOD = DATA / "people_good.csv"


async def counts(db: Database) -> tuple[int, int, int]:
    async with db.session() as s:
        return (
            await s.scalar(select(func.count()).select_from(Person)) or 0,
            await s.scalar(select(func.count()).select_from(Institution)) or 0,
            await s.scalar(select(func.count()).select_from(Membership)) or 0,
        )


async def people_by_phone(db: Database) -> dict[str, Person]:
    async with db.session() as s:
        return {str(p.phone): p for p in await s.scalars(select(Person))}


async def roles(db: Database) -> set[tuple[str, str, str]]:
    """(phone, institution, role) for every membership."""
    async with db.session() as s:
        rows = await s.execute(
            select(Person.phone, Institution.name, Membership.role)
            .join(Membership, Membership.person_id == Person.id)
            .join(Institution, Institution.id == Membership.institution_id)
        )
        return {(str(phone), name, role) for phone, name, role in rows}


async def snapshot(db: Database) -> tuple[object, ...]:
    async with db.session() as s:
        people = (await s.execute(select(Person.__table__).order_by(Person.id))).all()
        insts = (await s.execute(select(Institution.__table__).order_by(Institution.id))).all()
        members = (await s.execute(select(Membership.__table__).order_by(Membership.id))).all()
    return tuple(people), tuple(insts), tuple(members)


def rejected_lines(source: io.StringIO | Path) -> list[int]:
    with pytest.raises(ImportRejected) as caught:
        read_people(source, settings=Settings())
    return [e.line for e in caught.value.errors]


async def test_it_imports_a_good_file_with_mixed_phone_formats(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    report = await import_people(db, GOOD, settings=settings, now=clock.now())

    assert (report.rows_read, report.people_created, report.duplicates_merged) == (8, 7, 1)
    assert (report.institutions_created, report.memberships_added) == (4, 7)
    assert report.warnings == ["ignored columns: Email"]
    people = await people_by_phone(db)
    assert sorted(people) == [f.phone(n) for n in range(1, 8)]
    assert people[f.phone(1)].name == "Ann Patel"
    assert people[f.phone(6)].name == "O'Brien, Patrick"
    assert [people[f.phone(n)].language for n in (1, 3, 4, 7)] == ["en", "cy", "pl", "en"]
    assert people[f.phone(4)].timezone == "Europe/Warsaw"
    assert people[f.phone(1)].timezone == settings.default_timezone
    for p in people.values():
        assert (p.consent, p.consent_source, p.consent_at) == ("opted_in", "import", clock.now())
    assert await roles(db) == {
        (f.phone(1), "St Mary's Church", "leader"),
        (f.phone(1), "Al-Noor Mosque", "member"),
        (f.phone(2), "Al-Noor Mosque", "member"),
        (f.phone(3), "Judgemeadow Community College", "member"),
        (f.phone(4), "Unison Leicester", "leader"),
        (f.phone(5), "St Mary's Church", "member"),  # "St Mary’s" with a curly apostrophe
        (f.phone(6), "Judgemeadow Community College", "organiser"),
    }
    async with db.session() as s:
        rows = await s.execute(select(Institution.name, Institution.kind))
        kinds = {name: kind for name, kind in rows}
    assert kinds == {
        "St Mary's Church": "faith",
        "Al-Noor Mosque": "faith",
        "Judgemeadow Community College": "school",
        "Unison Leicester": "union",
    }


async def test_it_merges_with_people_and_institutions_already_on_record(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    earlier = clock.now() - timedelta(days=30)
    async with db.session() as s:
        mary = await f.institution(s, "ST MARY'S CHURCH", earlier)
        noor = await f.institution(s, "Al-Noor Mosque", earlier)
        await f.person(s, "", 1, earlier, institution=mary, role="member")
        await f.person(s, "Mo Khan", 2, earlier, institution=noor, role="leader")

    report = await import_people(db, GOOD, settings=settings, now=clock.now())

    assert (report.people_created, report.people_updated, report.people_unchanged) == (5, 1, 1)
    assert (report.institutions_created, report.memberships_added) == (2, 5)
    assert (report.roles_upgraded, report.roles_kept) == (1, 1)
    people = await people_by_phone(db)
    assert people[f.phone(1)].name == "Ann Patel"  # an empty name is filled
    assert people[f.phone(2)].name == "Mo Khan"  # a name on record is kept
    assert people[f.phone(1)].consent_at == earlier
    got = await roles(db)
    assert (f.phone(1), "ST MARY'S CHURCH", "leader") in got  # member -> leader applies
    assert (f.phone(1), "Al-Noor Mosque", "member") in got
    assert (f.phone(2), "Al-Noor Mosque", "leader") in got
    assert "already on record under another name, kept: line 3" in report.warnings


async def test_it_keeps_a_higher_role_and_says_so(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    async with db.session() as s:
        noor = await f.institution(s, "Al-Noor Mosque", clock.now())
        await f.person(s, "Mohammed Khan", 2, clock.now(), institution=noor, role="leader")

    report = await import_people(db, GOOD, settings=settings, now=clock.now())

    assert report.roles_kept == 1
    assert (f.phone(2), "Al-Noor Mosque", "leader") in await roles(db)
    assert "kept the higher role on record (the file says member): line 3" in report.warnings


async def test_an_opted_out_person_stays_opted_out(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    earlier = clock.now() - timedelta(days=3)
    async with db.session() as s:
        kasia = await f.person(s, "Kasia Nowak", 4, earlier)
        kasia.consent, kasia.consent_source = "opted_out", "sms_stop"

    await import_people(db, GOOD, settings=settings, now=clock.now())

    kasia = (await people_by_phone(db))[f.phone(4)]
    assert (kasia.consent, kasia.consent_source, kasia.consent_at) == (
        "opted_out",
        "sms_stop",
        earlier,
    )
    assert (f.phone(4), "Unison Leicester", "leader") in await roles(db)


async def test_importing_the_same_file_twice_changes_nothing(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    await import_people(db, GOOD, settings=settings, now=clock.now())
    before = await snapshot(db)
    clock.advance(days=1)

    again = await import_people(db, GOOD, settings=settings, now=clock.now())

    assert await snapshot(db) == before
    assert (again.people_created, again.people_updated, again.people_unchanged) == (0, 0, 7)
    assert (again.institutions_created, again.memberships_added, again.roles_upgraded) == (0, 0, 0)
    assert again.warnings == ["ignored columns: Email"]


async def test_a_file_with_three_bad_rows_names_them_all_and_writes_nothing(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    async with db.session() as s:
        mary = await f.institution(s, "St Mary's Church", clock.now())
        await f.person(s, "Ruth Green", 50, clock.now(), institution=mary)
    before = await counts(db)

    with pytest.raises(ImportRejected) as caught:
        await import_people(
            db, DATA / "people_three_bad_rows.csv", settings=settings, now=clock.now()
        )

    assert await counts(db) == before
    errors = caught.value.errors
    assert [e.line for e in errors] == [3, 4, 6]
    assert "not a phone number" in errors[0].message
    assert 'unknown role "boss" (use member, leader, organiser)' in errors[1].message
    assert "same phone as line 2 but a different name" in errors[2].message
    assert caught.value.lines()[:2] == [
        "3 problem(s) in the file; nothing was imported",
        f"line 3: {errors[0].message}",
    ]


async def test_a_quoted_value_over_several_lines_keeps_line_numbers_right(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    with pytest.raises(ImportRejected) as caught:
        await import_people(db, DATA / "people_multiline.csv", settings=settings, now=clock.now())
    assert [str(e) for e in caught.value.errors] == ["line 6: missing phone number"]
    assert await counts(db) == (0, 0, 0)


def test_line_numbers_count_windows_line_endings_inside_quotes() -> None:
    text = 'name,phone,notes\r\nAnn,07700 900001,"one\r\ntwo"\r\n\r\nBob,x,\r\n'
    assert rejected_lines(io.StringIO(text, newline="")) == [5]


async def test_a_missing_header_column_is_one_clear_error(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    source = io.StringIO("Name,Mobile No,Church\nAnn Patel,07700 900001,St Mary's Church\n")
    with pytest.raises(ImportRejected) as caught:
        await import_people(db, source, settings=settings, now=clock.now())
    assert [str(e) for e in caught.value.errors] == [
        'line 1: missing required column(s): phone (found "Name", "Mobile No", "Church")'
    ]


async def test_it_reads_a_bom_and_semicolons(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    report = await import_people(
        db, DATA / "people_bom_semicolon.csv", settings=settings, now=clock.now()
    )
    assert (report.people_created, report.institutions_created) == (2, 1)
    assert await roles(db) == {
        (f.phone(21), "Unison Leicester", "member"),
        (f.phone(22), "Unison Leicester", "leader"),
    }
    assert (await people_by_phone(db))[f.phone(22)].name == "Nowak; Kasia"


async def test_progress_adds_up_to_the_rows_read(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    steps: list[int] = []
    report = await import_people(
        db, GOOD, settings=settings, now=clock.now(), progress=steps.append
    )
    assert steps and sum(steps) == report.rows_read == 8


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("Ann,,,,,,", "missing phone number"),
        (",07700 900001,St Mary's Church,,,,", "missing name"),
        ("   ,07700 900001,,,,,", "missing name"),
        ("Ann,hello,,,,,", "not a phone number"),
        ("Ann,123,,,,,", "not a possible phone number"),
        ("Ann,07700 900001,St Mary's Church,boss,,,", 'unknown role "boss"'),
        ("Ann,07700 900001,,,french,,", 'unknown language "french" (use en, cy, pl)'),
        ("Ann,07700 900001,,,,London,", 'unknown time zone "London"'),
        ("Ann,07700 900001,X,,,,church", 'unknown institution type "church"'),
        ("Ann,07700 900001,,leader,,,", "role leader needs an institution"),
        ("Patel, Ann,07700 900001,,,,,", "1 more value(s) than the header has columns"),
        ('Ann,07700 900001,"St Mary\'s" Church,,,,', "badly quoted value"),
    ],
)
def test_it_says_why_a_row_is_bad(row: str, reason: str) -> None:
    header = "name,phone,institution,role,language,timezone,institution_type\n"
    with pytest.raises(ImportRejected) as caught:
        read_people(io.StringIO(header + row + "\n"), settings=Settings())
    [error] = caught.value.errors
    assert error.line == 2
    assert reason in error.message


def test_rows_for_one_phone_that_disagree_are_not_merged() -> None:
    text = (
        "name,phone,language,timezone,institution,institution_type\n"
        "Ann Patel,07700 900001,cy,,St Mary's Church,faith\n"
        "ann  patel,+447700900001,,Europe/London,Al-Noor Mosque,\n"  # merges
        "Ann Patel,07700900001,pl,,,\n"  # language differs
        "Ann Patel,07700 900001,,Europe/Warsaw,,\n"  # time zone differs
        "Bob Smith,07700 900002,,,st mary's church,school\n"  # institution type differs
    )
    with pytest.raises(ImportRejected) as caught:
        read_people(io.StringIO(text), settings=Settings())
    assert [(e.line, e.message.split(" (")[0]) for e in caught.value.errors] == [
        (4, "same phone as line 2 but a different language"),
        (5, "same phone as line 2 but a different time zone"),
        (6, '"St Mary\'s Church" is type faith on line 2 but school here'),
    ]


def test_it_accepts_case_variants_spaced_headers_and_excels_sep_line() -> None:
    text = "sep=;\n PHONE ;Full Name;ROLE;Institution;LANGUAGE\n07700 900001;Ann;Leader;X;WELSH\n"
    people = read_people(io.StringIO(text), settings=Settings())
    [ann] = people.people
    assert (ann.name, ann.phone, ann.language, ann.roles) == (
        "Ann",
        f.phone(1),
        "cy",
        {"x": ("leader", 3)},
    )


def test_a_file_that_is_not_utf8_is_rejected_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("name,phone\nAnn,07700 900001\nSi\u00e2n,07700 900002\n".encode("latin-1"))
    with pytest.raises(ImportRejected) as caught:
        read_people(path, settings=Settings())
    assert [e.line for e in caught.value.errors] == [3]
    assert "not UTF-8" in caught.value.errors[0].message


def test_a_number_too_short_for_a_mobile_is_accepted_with_a_warning() -> None:
    text = "name,phone\nAnn,07700 900001\nFreephone,0800 123 456\n"
    people = read_people(io.StringIO(text), settings=Settings())
    assert [p.phone for p in people.people] == [f.phone(1), "+44800123456"]
    assert people.warnings == ["not the length of a mobile number, texts may not arrive: line 3"]
