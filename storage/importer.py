"""Importing people from a spreadsheet (CSV), all or nothing.

Usage (what ``turnout people import FILE`` does)::

    try:
        report = await import_people(db, Path("people.csv"), settings=settings, now=clock.now())
    except ImportRejected as rejected:
        print("\\n".join(rejected.lines()))      # every bad row, by line number; nothing written
    else:
        print("\\n".join(report.lines()))

A CLI that wants a progress bar with a known length calls the two halves itself:
``people = await asyncio.to_thread(read_people, path, settings=settings)`` (validation, raises
:class:`ImportRejected`), then ``await write_people(db, people, now=now, progress=bar.update)``
with ``bar`` sized ``people.rows_read``: ``progress(n)`` is called with the number of rows just
written (increments that add up to ``rows_read``).

The file: a header row names the columns, in any order, any case, spaces/underscores/hyphens
alike ("Institution Type" = ``institution_type``). ``name`` and ``phone`` must be present, and
filled in on every row (a row without a name is a bad row); ``institution``, ``role``,
``language``, ``timezone``, ``institution_type`` are optional; other columns are ignored (one
warning). UTF-8 with or without a BOM, comma or semicolon (sniffed from the header, or Excel's
``sep=;`` first line), Excel quoting. A value that cannot be used is an error, never silently
dropped. Line numbers are physical lines (header = line 1).

Rules: one phone number (E.164) is one person. Rows with the same number are merged
(memberships unioned, the higher role wins) unless they disagree on name, language or time
zone, which is an error. People already on record keep their name (an empty one is filled),
language, time zone and consent: an import never opts anyone in again.
New people are opted in with source "import". Institutions match existing ones by name as the
one institution matcher compares names (storage.institutions.institution_key: case, spacing,
punctuation, apostrophes, "St"/"Saint" and "&"/"and" aside). A membership's role only goes up
(member -> leader -> organiser); a lower role in the file is noted, not applied.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import zoneinfo
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TextIO

import phonenumbers
from sqlalchemy import func, insert, inspect, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from config.phones import BadPhone, normalise_phone
from config.settings import LANGUAGES, Secret, Settings
from storage import consent, counters
from storage.db import Database
from storage.institutions import institution_key
from storage.models import INSTITUTION_KINDS, ROLES, Institution, Membership, Person
from storage.people import new_person
from storage.suppression import suppressed

REQUIRED = ("name", "phone")
COLUMNS = (*REQUIRED, "institution", "role", "language", "timezone", "institution_type")
ALIASES = {
    "mobile": "phone",
    "mobile_number": "phone",
    "phone_number": "phone",
    "full_name": "name",
    "time_zone": "timezone",
}
LANGUAGE_NAMES = {
    "english": "en",
    "welsh": "cy",
    "cymraeg": "cy",
    "polish": "pl",
    "polski": "pl",
    **{code: code for code in LANGUAGES},
}
ROLE_NAMES = {**{r: r for r in ROLES}, "organizer": "organiser"}
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}  # member < leader < organiser
MAX_NAME = 200  # Person.name and Institution.name are String(200)
CHUNK = 1000  # people per round trip (IN lists, bulk inserts)


@dataclass(frozen=True)
class RowError:
    """A problem with the file: ``line`` is the physical line where the row starts."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class ImportRejected(Exception):
    """The file has problems; nothing was written. ``errors`` lists every bad row."""

    def __init__(self, errors: list[RowError], warnings: Sequence[str] = ()) -> None:
        self.errors = errors
        self.warnings = list(warnings)
        super().__init__(f"{len(errors)} problem(s) in the file; nothing was imported")

    def lines(self, limit: int = 50) -> list[str]:
        shown = [str(e) for e in self.errors[:limit]]
        if len(self.errors) > limit:
            shown.append(f"... and {len(self.errors) - limit} more")
        return [str(self), *shown, *(f"warning: {w}" for w in self.warnings)]


@dataclass
class ImportReport:
    rows_read: int = 0
    people_created: int = 0
    people_updated: int = 0  # existing people given a name, a membership or a higher role
    people_unchanged: int = 0  # existing people the file had nothing new about
    duplicates_merged: int = 0  # rows merged into an earlier row with the same number
    institutions_created: int = 0
    memberships_added: int = 0
    roles_upgraded: int = 0
    roles_kept: int = 0  # the file gave a lower role than the one on record: not applied
    suppressed: int = 0  # numbers of people who were erased: skipped (storage/suppression.py)
    warnings: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        counts = [
            ("rows read", self.rows_read),
            ("people created", self.people_created),
            ("people updated", self.people_updated),
            ("people already up to date", self.people_unchanged),
            ("duplicate rows merged", self.duplicates_merged),
            ("institutions created", self.institutions_created),
            ("memberships added", self.memberships_added),
            ("roles upgraded", self.roles_upgraded),
            ("higher roles kept", self.roles_kept),
            ("erased people skipped", self.suppressed),
        ]
        return [f"{label}: {n:,}" for label, n in counts] + [f"warning: {w}" for w in self.warnings]


@dataclass
class FilePerson:
    """Everything the file says about one phone number (several rows merged)."""

    phone: str
    line: int
    rows: int = 1
    name: str = ""
    language: str | None = None  # None: not given (a new person gets the default)
    timezone: str | None = None
    roles: dict[str, tuple[str, int]] = field(default_factory=dict)  # inst key -> role, line


@dataclass
class FileInstitution:
    name: str
    kind: str | None  # None: not given
    line: int


@dataclass
class PeopleFile:
    """A validated file, ready to write."""

    people: list[FilePerson]
    institutions: dict[str, FileInstitution]  # by institution_key
    rows_read: int
    duplicates_merged: int
    default_language: str
    default_timezone: str
    warnings: list[str]


async def import_people(
    db: Database,
    source: TextIO | Path,
    *,
    settings: Settings,
    now: datetime,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Validate the whole file, then write it in one transaction. Raises ImportRejected."""
    people = await asyncio.to_thread(read_people, source, settings=settings)
    return await write_people(
        db, people, now=now, progress=progress, suppression_secret=settings.suppression_secret
    )


class _Notes:
    """Warnings that may concern many rows, gathered into one line each."""

    def __init__(self) -> None:
        self._lines: dict[str, list[int]] = {}

    def add(self, message: str, line: int) -> None:
        self._lines.setdefault(message, []).append(line)

    def render(self) -> list[str]:
        out = []
        for message, lines in self._lines.items():
            shown = ", ".join(str(n) for n in sorted(lines)[:10])
            more = f" ... ({len(lines)} rows)" if len(lines) > 10 else ""
            out.append(f"{message}: line{'s' if len(lines) > 1 else ''} {shown}{more}")
        return out


# --- reading and validating -------------------------------------------------------------------


def read_people(source: TextIO | Path, *, settings: Settings) -> PeopleFile:
    """Parse and validate every row; raise ImportRejected listing all bad rows."""
    return _Reader(settings).read(_text_of(source))


def _text_of(source: TextIO | Path) -> str:
    if isinstance(source, Path):
        return decode(source.read_bytes())
    return source.read().removeprefix("\ufeff")


def decode(data: bytes) -> str:
    """A file's bytes as text (UTF-8, with or without a BOM); raises ImportRejected naming the
    line of the first byte that is not UTF-8 (an upload in the console, a file on disk)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ImportRejected(
            [RowError(line, "the file is not UTF-8 text (in Excel: Save As 'CSV UTF-8')")]
        ) from None


async def known_phones(session: AsyncSession, people: PeopleFile) -> int:
    """How many of the file's people are already on record (by phone number): a preview's
    "new" and "already here" before anything is written."""
    phones = [p.phone for p in people.people]
    known = 0
    for start in range(0, len(phones), CHUNK):
        chunk = phones[start : start + CHUNK]
        known += int(
            await session.scalar(
                select(func.count()).select_from(Person).where(Person.phone.in_(chunk))
            )
            or 0
        )
    return known


def _column(header: str) -> str:
    name = re.sub(r"[\s_\-]+", "_", header.strip().lower()).strip("_")
    return ALIASES.get(name, name)


def _sniff(first_line: str) -> tuple[str, bool]:
    """The delimiter, and whether the first line is Excel's ``sep=;`` hint (not the header).

    Without a hint: comma or semicolon, whichever splits the header into more known columns.
    """
    match = re.fullmatch(r"sep=([,;])", first_line.strip(), re.IGNORECASE)
    if match:
        return match.group(1), True

    def score(delimiter: str) -> tuple[int, int]:
        cells = next(csv.reader([first_line], delimiter=delimiter), [])
        return sum(_column(c) in COLUMNS for c in cells), len(cells)

    return (";" if score(";") > score(",") else ","), False


def _lost_plus(raw: str, region: str) -> str | None:
    """447700900123: a spreadsheet stored the number as a number and dropped its "+"."""
    digits = re.sub(r"[\s().-]", "", raw)
    code = str(phonenumbers.country_code_for_region(region))
    if not digits.isdigit() or not digits.startswith(code):
        return None
    try:
        return normalise_phone("+" + digits, region)
    except BadPhone:
        return None


_MOBILE_LENGTHS: dict[tuple[str, int], bool] = {}


def _mobile_length(phone: str) -> bool:
    """Whether a mobile number can be this long in its country (E.164 in).

    That depends only on the country code (prefix-free, so fixed by the first 3 digits) and the
    length, so it is cached by those: parsing every number a second time doubles the cost.
    """
    key = (phone[:4], len(phone))
    if key not in _MOBILE_LENGTHS:
        number = phonenumbers.parse(phone)
        mobile = phonenumbers.PhoneNumberType.MOBILE
        _MOBILE_LENGTHS[key] = phonenumbers.is_possible_number_for_type(number, mobile)
    return _MOBILE_LENGTHS[key]


@lru_cache(maxsize=1)
def _time_zones() -> dict[str, str]:
    """IANA names by lower case, so ``europe/london`` is accepted as Europe/London."""
    return {name.lower(): name for name in zoneinfo.available_timezones()}


_CHOICES: dict[str, tuple[str, Callable[[], dict[str, str]], str]] = {
    # column: (what it is called in messages, accepted spellings -> value, hint)
    "role": ("role", lambda: ROLE_NAMES, ", ".join(ROLES)),
    "language": ("language", lambda: LANGUAGE_NAMES, ", ".join(LANGUAGES)),
    "timezone": ("time zone", _time_zones, "an IANA name such as Europe/London"),
    "institution_type": (
        "institution type",
        lambda: {k: k for k in INSTITUTION_KINDS},
        ", ".join(INSTITUTION_KINDS),
    ),
}


class _Reader:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.errors: list[RowError] = []
        self.warnings: list[str] = []
        self.notes = _Notes()
        self.people: dict[str, FilePerson] = {}
        self.institutions: dict[str, FileInstitution] = {}
        self.rows_read = 0
        self.merged = 0

    def read(self, text: str) -> PeopleFile:
        delimiter, hint_line = _sniff(text.split("\n", 1)[0])
        records = self._records(text, delimiter)
        if hint_line:
            next(records, None)
        first = next(records, None)
        if first is None:
            raise ImportRejected([RowError(1 + hint_line, "the file is empty")])
        header_line, header = first
        columns = self._header(header_line, header)
        ignored_values = False
        for line, cells in records:
            if not any(c.strip() for c in cells):
                continue  # blank lines, and Excel's rows of empty cells
            self.rows_read += 1
            values = {name: cells[i].strip() for i, name in columns.items() if i < len(cells)}
            ignored_values = ignored_values or any(
                c.strip() for i, c in enumerate(cells[: len(header)]) if not header[i].strip()
            )
            self._row(line, values, len(cells) - len(header), cells[len(header) :])
        if self.errors:
            raise ImportRejected(self.errors, self.warnings)
        if ignored_values:
            self.warnings.append("values in columns without a header were ignored")
        if not self.rows_read:
            self.warnings.append("the file has a header but no rows")
        self.warnings += self.notes.render()
        return PeopleFile(
            people=list(self.people.values()),
            institutions=self.institutions,
            rows_read=self.rows_read,
            duplicates_merged=self.merged,
            default_language=self.settings.default_language,
            default_timezone=self.settings.default_timezone,
            warnings=self.warnings,
        )

    def _records(self, text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
        """(physical line where the record starts, cells); a quoting error ends the file.

        ``line_num`` counts physical lines read so far, so a quoted value spanning lines keeps
        the following rows' numbers right.
        """
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
        done = 0
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                problem = "a quote is never closed" if "end of data" in str(exc) else str(exc)
                self.errors.append(RowError(done + 1, f"badly quoted value: {problem}"))
                raise ImportRejected(self.errors, self.warnings) from None
            yield done + 1, cells
            done = reader.line_num

    def _header(self, line: int, cells: list[str]) -> dict[int, str]:
        """Column index -> field, for the known columns."""
        columns: dict[int, str] = {}
        unknown: list[str] = []
        for i, cell in enumerate(cells):
            name = _column(cell)
            if name in COLUMNS:
                if name in columns.values():
                    self.errors.append(RowError(line, f'column "{name}" appears twice'))
                columns[i] = name
            elif name:
                unknown.append(cell.strip())
        missing = [c for c in REQUIRED if c not in columns.values()]
        if missing:
            found = ", ".join(f'"{c.strip()}"' for c in cells if c.strip()) or "nothing"
            self.errors.append(
                RowError(line, f"missing required column(s): {', '.join(missing)} (found {found})")
            )
        if self.errors:
            raise ImportRejected(self.errors)
        if unknown:
            self.warnings.append(f"ignored columns: {', '.join(unknown)}")
        return columns

    def _row(self, line: int, values: dict[str, str], surplus: int, extra: list[str]) -> None:
        problems: list[str] = []
        name = " ".join(values.get("name", "").split())
        institution = " ".join(values.get("institution", "").split())
        if not name:
            problems.append("missing name")
        for what, text in (("name", name), ("institution", institution)):
            if len(text) > MAX_NAME:
                problems.append(f"{what} is longer than {MAX_NAME} characters")
        phone = self._phone(line, values.get("phone", ""), problems)
        role = self._choice(values, "role", problems) or "member"
        language = self._choice(values, "language", problems)
        timezone = self._choice(values, "timezone", problems)
        kind = self._choice(values, "institution_type", problems)
        if not institution and role != "member":
            problems.append(f"role {role} needs an institution")
        if not institution and kind:
            problems.append("institution type given without an institution")
        if surplus > 0 and (problems or any(c.strip() for c in extra)):
            problems.append(
                f"{surplus} more value(s) than the header has columns "
                "(a value containing the separator needs quotes)"
            )
        if phone is None or problems:
            self.errors.append(RowError(line, "; ".join(problems)))
            return
        got = FilePerson(phone, line, name=name, language=language, timezone=timezone)
        problems = self._conflicts(got, institution, kind)
        if problems:
            self.errors.append(RowError(line, "; ".join(problems)))
            return
        self._merge(got, institution, kind, role)

    def _phone(self, line: int, raw: str, problems: list[str]) -> str | None:
        if not raw:
            problems.append("missing phone number")
            return None
        region = self.settings.default_region
        try:
            phone = normalise_phone(raw, region)
        except BadPhone as exc:
            lost_plus = _lost_plus(raw, region)
            if lost_plus is None:
                problems.append(str(exc))
                return None
            phone = lost_plus
        # "Possible" includes numbers too short or long for a mobile (0800 123 456, a local-only
        # 0770): accepted, but worth a look. (Landlines of mobile length show up on delivery.)
        if not _mobile_length(phone):
            self.notes.add("not the length of a mobile number, texts may not arrive", line)
        return phone

    @staticmethod
    def _choice(values: dict[str, str], column: str, problems: list[str]) -> str | None:
        raw = values.get(column, "")
        if not raw:
            return None
        label, names, hint = _CHOICES[column]
        value = names().get(raw.lower())
        if value is None:
            problems.append(f'unknown {label} "{raw}" (use {hint})')
        return value

    def _conflicts(self, got: FilePerson, institution: str, kind: str | None) -> list[str]:
        """What cannot be merged with the earlier rows."""
        problems: list[str] = []
        earlier = self.people.get(got.phone)
        if earlier is not None:
            for what, mine, theirs in (
                ("name", got.name, earlier.name),
                ("language", got.language, earlier.language),
                ("time zone", got.timezone, earlier.timezone),
            ):
                if mine and theirs and mine.casefold() != theirs.casefold():
                    problems.append(
                        f"same phone as line {earlier.line} but a different {what} "
                        f'("{mine}" here, "{theirs}" there): one number is one person'
                    )
        known = self.institutions.get(institution_key(institution)) if institution else None
        if known is not None and kind and known.kind and kind != known.kind:
            problems.append(
                f'"{known.name}" is type {known.kind} on line {known.line} but {kind} here'
            )
        return problems

    def _merge(self, got: FilePerson, institution: str, kind: str | None, role: str) -> None:
        person = self.people.get(got.phone)
        if person is None:
            person = self.people[got.phone] = got
        else:  # _conflicts found nothing that disagrees: fill the gaps
            person.rows += 1
            self.merged += 1
            person.name = person.name or got.name
            person.language = person.language or got.language
            person.timezone = person.timezone or got.timezone
        if institution:
            key = institution_key(institution)
            known = self.institutions.setdefault(key, FileInstitution(institution, kind, got.line))
            known.kind = known.kind or kind
            before = person.roles.get(key)
            if before is None or ROLE_RANK[role] > ROLE_RANK[before[0]]:
                person.roles[key] = (role, got.line)


# --- writing ------------------------------------------------------------------------------------


async def write_people(
    db: Database,
    people: PeopleFile,
    *,
    now: datetime,
    progress: Callable[[int], None] | None = None,
    suppression_secret: Secret | None = None,
) -> ImportReport:
    """Write a validated file in one transaction (all or nothing). The numbers of people who
    were erased are skipped and reported (with ``suppression_secret``, the one they were
    suppressed with)."""
    report = ImportReport(
        rows_read=people.rows_read,
        duplicates_merged=people.duplicates_merged,
        warnings=list(people.warnings),
    )
    notes = _Notes()
    async with db.session() as session:
        ids = await _institutions(session, people.institutions, now, report, notes)
        for start in range(0, len(people.people), CHUNK):
            chunk = people.people[start : start + CHUNK]
            rows = sum(p.rows for p in chunk)
            if suppression_secret:
                gone = await suppressed(session, [p.phone for p in chunk], suppression_secret)
                for p in chunk:
                    if p.phone in gone:
                        report.suppressed += 1
                        notes.add("erased at their request: not imported", p.line)
                chunk = [p for p in chunk if p.phone not in gone]
            await _write_chunk(session, people, chunk, ids, now, report, notes)
            if progress is not None:
                progress(rows)
    report.warnings += notes.render()
    return report


async def _institutions(
    session: AsyncSession,
    wanted: dict[str, FileInstitution],
    now: datetime,
    report: ImportReport,
    notes: _Notes,
) -> dict[str, int]:
    """Id of every institution the file names, creating the missing ones."""
    ids: dict[str, int] = {}
    kinds: dict[str, str] = {}
    rows = await session.execute(
        select(Institution.id, Institution.name, Institution.kind).order_by(Institution.id)
    )
    for inst_id, name, kind in rows:
        key = institution_key(name)
        if key in wanted and key not in ids:
            ids[key], kinds[key] = inst_id, kind
    created = []
    for key, inst in wanted.items():
        if key not in ids:
            created.append(
                Institution(
                    name=inst.name, kind=inst.kind or "other", status="member", created_at=now
                )
            )
        elif inst.kind and inst.kind != kinds[key]:
            notes.add(
                f'"{inst.name}" is already recorded as {kinds[key]}; type left as is', inst.line
            )
    session.add_all(created)
    await session.flush()
    ids.update({institution_key(inst.name): inst.id for inst in created})
    report.institutions_created = len(created)
    return ids


async def _write_chunk(
    session: AsyncSession,
    people: PeopleFile,
    chunk: list[FilePerson],
    institution_ids: dict[str, int],
    now: datetime,
    report: ImportReport,
    notes: _Notes,
) -> None:
    """Create or update one chunk of people, then their memberships."""
    ids, on_record = await _people(session, people, chunk, now, report, notes)
    changed = {
        ids[p.phone] for p in chunk if p.phone in on_record and p.name and not on_record[p.phone]
    }
    held: dict[tuple[int, int], tuple[int, str]] = {}
    if on_record:
        rows = await session.execute(
            select(
                Membership.id, Membership.person_id, Membership.institution_id, Membership.role
            ).where(Membership.person_id.in_([ids[phone] for phone in on_record]))
        )
        held = {(pid, inst): (mid, role) for mid, pid, inst, role in rows}
    added, upgrades = [], []
    joined: set[int] = set()  # people with a new membership
    for p in chunk:
        pid = ids[p.phone]
        for key, (role, line) in p.roles.items():
            inst = institution_ids[key]
            current = held.get((pid, inst))
            if current is None:
                added.append(
                    {"person_id": pid, "institution_id": inst, "role": role, "created_at": now}
                )
                joined.add(pid)
            elif ROLE_RANK[role] > ROLE_RANK.get(current[1], 0):
                upgrades.append({"id": current[0], "role": role})
            else:
                if ROLE_RANK[role] < ROLE_RANK.get(current[1], 0):
                    report.roles_kept += 1
                    notes.add(f"kept the higher role on record (the file says {role})", line)
                continue
            if p.phone in on_record:
                changed.add(pid)
    if added:
        # The people's numbers move to their new institutions' counters (storage/counters.py).
        async with counters.recounting(session, joined, now):
            await session.execute(insert(Membership), added)
    if upgrades:
        await session.execute(update(Membership), upgrades)
    report.memberships_added += len(added)
    report.roles_upgraded += len(upgrades)
    report.people_updated += len(changed)
    report.people_unchanged += len(on_record) - len(changed)


async def _people(
    session: AsyncSession,
    people: PeopleFile,
    chunk: list[FilePerson],
    now: datetime,
    report: ImportReport,
    notes: _Notes,
) -> tuple[dict[str, int], dict[str, str]]:
    """Person id by phone for the chunk, creating new people and filling empty names.

    Also returns the names on record (before this import) of the people who already existed.
    """
    rows = await session.execute(
        select(Person.id, Person.phone, Person.name, Person.language, Person.timezone).where(
            Person.phone.in_([p.phone for p in chunk])
        )
    )
    ids: dict[str, int] = {}
    on_record: dict[str, str] = {}
    names = []
    by_phone = {p.phone: p for p in chunk}
    for pid, phone, name, language, timezone in rows:
        p = by_phone[str(phone)]
        ids[p.phone], on_record[p.phone] = pid, name.strip()
        if p.name and not name.strip():
            names.append({"id": pid, "name": p.name})
        elif p.name and p.name.casefold() != " ".join(name.split()).casefold():
            notes.add("already on record under another name, kept", p.line)
        if (p.language and p.language != language) or (p.timezone and p.timezone != timezone):
            notes.add("already on record with another language or time zone, kept", p.line)
    if names:
        await session.execute(update(Person), names)

    created = [
        _columns(
            new_person(
                phone=p.phone,
                name=p.name,
                language=p.language or people.default_language,
                timezone=p.timezone or people.default_timezone,
                consent="opted_in",
                consent_source="import",
                now=now,
            )
        )
        for p in chunk
        if p.phone not in ids
    ]
    if created:
        # A bulk INSERT ... RETURNING: several times faster than flushing ORM objects.
        result = await session.execute(insert(Person).returning(Person.id, Person.phone), created)
        new_ids = {str(phone): pid for pid, phone in result}
        ids.update(new_ids)
        await consent.imported(session, list(new_ids.values()), "opted_in", at=now)
    report.people_created += len(created)
    return ids, on_record


def _columns(person: Person) -> dict[str, object]:
    """The column values set on a new, unsaved row (for a bulk insert; defaults fill the rest)."""
    given = inspect(person).dict
    return {c.key: given[c.key] for c in Person.__table__.columns if c.key in given}
