"""Everything held about one person (subject access): which tables hold them, and how each
finds them. The export (``turnout people export``, the console's ``/people/{id}/export``) and
the erasure (storage/erase.py) both start here.

    data = await gather(session, await subject_of(session, person))
    write_zip(data, out)   # person.json + one formula-safe CSV per table

``HOLDINGS`` is the list of (table, how the person is found). ``NO_PERSONAL_DATA`` names every
other table and says why it holds nobody. ``tests/test_rights_export.py`` walks the models and
fails when a table is in neither, or when a table with a person, phone, address or chat column
is not in ``HOLDINGS``: a new table must be placed before it ships.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, BinaryIO

from sqlalchemy import ColumnElement, Table, Text, cast, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.export import CsvExport
from storage.models import Base, Person


@dataclass(frozen=True)
class Subject:
    """Who we are looking for: the person's row, and the addresses other rows know them by."""

    person_id: int
    phone: str | None
    telegram_user_id: int | None

    @property
    def telegram_text(self) -> str | None:
        return None if self.telegram_user_id is None else str(self.telegram_user_id)


def subject_of(person: Person) -> Subject:
    return Subject(person.id, person.phone, person.telegram_user_id)


def _t(name: str) -> Table:
    return Base.metadata.tables[name]


Finder = Callable[[Subject], ColumnElement[bool]]


def _person(table: str, *columns: str) -> Finder:
    def find(s: Subject) -> ColumnElement[bool]:
        t = _t(table)
        return or_(*(t.c[c] == s.person_id for c in columns))

    return find


def _addressed(table: str, person_column: str, address_column: str) -> Finder:
    """Rows about the person, or addressed from / to their number or Telegram id."""

    def find(s: Subject) -> ColumnElement[bool]:
        t = _t(table)
        addresses = [a for a in (s.phone, s.telegram_text) if a]
        clauses = [t.c[person_column] == s.person_id]
        if addresses:
            clauses.append(t.c[address_column].in_(addresses))
        return or_(*clauses)

    return find


def _via(table: str, column: str, parent: str, parent_finder: Finder) -> Finder:
    """Rows hanging off the person's rows in ``parent`` (RSVP history, delivery attempts)."""

    def find(s: Subject) -> ColumnElement[bool]:
        p = _t(parent)
        return _t(table).c[column].in_(select(p.c.id).where(parent_finder(s)))

    return find


def _telegram(table: str, *columns: str, person_columns: tuple[str, ...] = ()) -> Finder:
    def find(s: Subject) -> ColumnElement[bool]:
        t = _t(table)
        clauses = [t.c[c] == s.person_id for c in person_columns]
        if s.telegram_user_id is not None:
            clauses += [t.c[c] == s.telegram_user_id for c in columns]
        return or_(false(), *clauses)

    return find


def _telegram_updates(s: Subject) -> ColumnElement[bool]:
    """Updates whose JSON mentions their Telegram id or number (then checked exactly:
    :func:`mentions`)."""
    raw = cast(_t("telegram_updates").c.raw, Text)
    needles = [n for n in (s.telegram_text, s.phone and s.phone.lstrip("+")) if n]
    return or_(false(), *(raw.like(f"%{n}%") for n in needles))


def _uploads(s: Subject) -> ColumnElement[bool]:
    """Spreadsheets waiting for an organiser's confirmation (an hour at most) that carry their
    number as written in E.164 or as a national number without spaces."""
    content = _t("console_uploads").c.content
    if not s.phone:
        return false()
    forms = {s.phone, s.phone.lstrip("+")}
    if s.phone.startswith("+44"):
        forms.add("0" + s.phone[3:])
    return or_(*(content.contains(f, autoescape=True) for f in sorted(forms)))


def _audit(s: Subject) -> ColumnElement[bool]:
    t = _t("audit_log")
    return or_(
        t.c.actor_person_id == s.person_id,
        (t.c.subject_type == "person") & (t.c.subject_id == s.person_id),
    )


_INVITATIONS = _person("invitations", "person_id")
_OUTBOX = _addressed("outbox", "person_id", "to_address")
_ANSWERS = _person("listening_answers", "person_id")

# (table, how the person is found, the finder). Order: the person first, then what hangs off.
HOLDINGS: tuple[tuple[str, str, Finder], ...] = (
    ("people", "the person's own row", _person("people", "id")),
    ("consent_events", "person_id", _person("consent_events", "person_id")),
    ("memberships", "person_id", _person("memberships", "person_id")),
    ("invitations", "person_id", _INVITATIONS),
    (
        "rsvp_events",
        "invitation_id: their invitations",
        _via("rsvp_events", "invitation_id", "invitations", _INVITATIONS),
    ),
    ("attendance", "person_id", _person("attendance", "person_id")),
    ("commitments", "set_by_id", _person("commitments", "set_by_id")),
    ("commitment_events", "set_by_id", _person("commitment_events", "set_by_id")),
    ("headcounts", "recorded_by_id", _person("headcounts", "recorded_by_id")),
    (
        "inbound_messages",
        "person_id, or sent from their number / Telegram id",
        _addressed("inbound_messages", "person_id", "sender"),
    ),
    ("outbox", "person_id, or sent to their number / Telegram id", _OUTBOX),
    (
        "delivery_events",
        "outbox_id: messages to them",
        _via("delivery_events", "outbox_id", "outbox", _OUTBOX),
    ),
    ("listening_contacts", "person_id", _person("listening_contacts", "person_id")),
    (
        "listening_answers",
        "person_id, recorded_by_id",
        _person("listening_answers", "person_id", "recorded_by_id"),
    ),
    (
        "listening_answer_themes",
        "answer_id: their answers",
        _via("listening_answer_themes", "answer_id", "listening_answers", _ANSWERS),
    ),
    (
        "listening_follow_ups",
        "person_id, by_id",
        _person("listening_follow_ups", "person_id", "by_id"),
    ),
    ("telegram_updates", "their Telegram id or number in the update", _telegram_updates),
    ("telegram_groups", "linked_by_user_id", _telegram("telegram_groups", "linked_by_user_id")),
    (
        "telegram_link_codes",
        "person_id, created_by_id, used_by_user_id",
        _telegram(
            "telegram_link_codes", "used_by_user_id", person_columns=("person_id", "created_by_id")
        ),
    ),
    ("telegram_rsvp_cards", "posted_by_id", _person("telegram_rsvp_cards", "posted_by_id")),
    ("console_sessions", "person_id", _person("console_sessions", "person_id")),
    ("sign_in_codes", "person_id", _person("sign_in_codes", "person_id")),
    ("sign_in_attempts", "person_id", _person("sign_in_attempts", "person_id")),
    ("audit_log", "actor_person_id, or a person subject", _audit),
    (
        "capability_links",
        "person_id, created_by_id",
        _person("capability_links", "person_id", "created_by_id"),
    ),
    (
        "inbox_assignments",
        "assigned_to_id, assigned_by_id",
        _person("inbox_assignments", "assigned_to_id", "assigned_by_id"),
    ),
    ("console_uploads", "a waiting spreadsheet carrying their number", _uploads),
    ("pending_questions", "person_id", _person("pending_questions", "person_id")),
)

NO_PERSONAL_DATA: dict[str, str] = {
    "institutions": "the alliance's member institutions",
    "actions": "the actions people are invited to",
    "action_reminders": "an action's reminder ladder",
    "rollup_snapshots": "per-institution counts, no one named",
    "outbox_attachments": "the digest's chart images (counts per institution)",
    "listening_campaigns": "a campaign's title and settings",
    "listening_questions": "the questions asked",
    "listening_themes": "theme labels",
    "listening_theme_rules": "theme phrases",
    "telegram_code_attempts": "link-code attempt times per key (erased with the person)",
    "send_rate_buckets": "send-rate timers per channel or chat (erased with the person)",
    "worker_heartbeats": "worker processes",
    "promises": "asks put to power-holders in public, and their answers",
    "action_counters": "counts per action and institution, no one named",
    "board_states": "which institution a roll call has reached",
    "suppressions": "keyed hashes of erased numbers: nobody can be read back from them",
}


def mentions(value: Any, s: Subject) -> bool:
    """``value`` (a Telegram update's JSON) carries their Telegram id or number exactly."""
    if isinstance(value, dict):
        return any(mentions(v, s) for v in value.values())
    if isinstance(value, list):
        return any(mentions(v, s) for v in value)
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return s.telegram_user_id is not None and value == s.telegram_user_id
    if isinstance(value, str) and s.phone:
        return value.lstrip("+") == s.phone.lstrip("+")
    return False


async def rows_of(
    session: AsyncSession, table: str, finder: Finder, subject: Subject
) -> list[dict[str, Any]]:
    t = _t(table)
    query = select(t).where(finder(subject)).order_by(*t.primary_key.columns)
    rows = [dict(r) for r in (await session.execute(query)).mappings()]
    if table == "telegram_updates":
        rows = [r for r in rows if mentions(r["raw"], subject)]
    return rows


async def gather(session: AsyncSession, subject: Subject) -> dict[str, list[dict[str, Any]]]:
    """Every row held about the person, by table (tables holding nothing are left out)."""
    data: dict[str, list[dict[str, Any]]] = {}
    for table, _how, finder in HOLDINGS:
        rows = await rows_of(session, table, finder, subject)
        if rows:
            data[table] = rows
    return data


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value


def _cell(value: Any) -> Any:
    value = _plain(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return "" if value is None else value


def document(data: dict[str, list[dict[str, Any]]], *, at: datetime) -> dict[str, Any]:
    """The JSON document: when it was made, the person's marks (young, erased), the tables."""
    person = (data.get("people") or [{}])[0]
    marks = {
        "young": bool(person.get("under_16")) or person.get("born_on") is not None,
        "adult_consent": person.get("adult_consent_at") is not None,
        "erased": person.get("erased_at") is not None,
    }
    tables = {
        table: [{k: _plain(v) for k, v in row.items()} for row in rows]
        for table, rows in data.items()
    }
    return {"exported_at": at.isoformat(), "marks": marks, "tables": tables}


def write_zip(data: dict[str, list[dict[str, Any]]], out: BinaryIO, *, at: datetime) -> None:
    """One zip: ``person.json`` and ``<table>.csv`` for each table (storage/export.py's
    formula-safe writer)."""
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        text = json.dumps(document(data, at=at), ensure_ascii=False, indent=2, default=str)
        archive.writestr("person.json", text)
        for table, rows in data.items():
            buffer = io.StringIO(newline="")
            export = CsvExport(buffer, list(rows[0]))
            for row in rows:
                export.row([_cell(v) for v in row.values()])
            archive.writestr(f"{table}.csv", buffer.getvalue())


def read_csv(archive: zipfile.ZipFile, table: str) -> list[list[str]]:
    """A table's CSV back out of an export (tests, and anyone checking a file)."""
    return list(csv.reader(io.StringIO(archive.read(f"{table}.csv").decode())))
