"""CSV exports of the tables organisers work from: people, an action's rollup, its attendance
and its commitments. Every one goes through storage/export.py (the one formula-safe writer,
shared with the listening exports); the CLI (``turnout export ...``) records each in the audit
log.

    n = await export_people(session, out, now=now)
    n = await export_rollup(session, action, out)
"""

from __future__ import annotations

from datetime import datetime
from typing import TextIO

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.export import CsvExport
from storage.models import (
    Action,
    Attendance,
    Commitment,
    CommitmentEvent,
    Institution,
    Membership,
    Person,
)
from storage.rollup import RollupRow, action_rollup
from storage.young import is_young

PEOPLE_COLUMNS = (
    "id",
    "name",
    "phone",
    "language",
    "consent",
    "consent_source",
    "consent_at",
    "young",
    "adult_consent",
    "institutions",
    "created_at",
)


def _iso(moment: datetime | None) -> str:
    return "" if moment is None else moment.isoformat(timespec="seconds")


async def _institutions_by_person(session: AsyncSession) -> dict[int, str]:
    rows = await session.execute(
        select(Membership.person_id, Institution.name, Membership.role)
        .join(Institution, Institution.id == Membership.institution_id)
        .order_by(Membership.person_id, Institution.name)
    )
    found: dict[int, list[str]] = {}
    for person_id, name, role in rows:
        found.setdefault(person_id, []).append(f"{name}:{role}")
    return {pid: "; ".join(names) for pid, names in found.items()}


async def export_people(session: AsyncSession, out: TextIO, *, now: datetime) -> int:
    """Everyone not erased, with consent and the young-person mark."""
    institutions = await _institutions_by_person(session)
    export = CsvExport(out, PEOPLE_COLUMNS)
    people = await session.scalars(
        select(Person).where(Person.erased_at.is_(None)).order_by(Person.id)
    )
    for p in people:
        export.row(
            [
                p.id,
                p.name,
                p.phone or "",
                p.language,
                p.consent,
                p.consent_source,
                _iso(p.consent_at),
                "yes" if is_young(p, now) else "",
                f"{p.adult_relation} {p.adult_name}" if p.adult_consent_at else "",
                institutions.get(p.id, ""),
                _iso(p.created_at),
            ]
        )
    return export.rows


ROLLUP_COLUMNS = (
    "institution",
    "committed",
    "yes",
    "guests",
    "confirmed",
    "maybe",
    "no",
    "not_replied",
    "attended",
    "headcount",
    "gap",
)


async def export_rollup(session: AsyncSession, action: Action, out: TextIO) -> int:
    """storage/rollup.py's numbers, one row per institution, then no institution, the totals
    and the unique people."""
    rollup = await action_rollup(session, action)
    export = CsvExport(out, ROLLUP_COLUMNS)

    def cells(row: RollupRow) -> list[object]:
        return [
            row.institution,
            "" if row.committed is None else row.committed,
            row.yes,
            row.guests,
            row.confirmed,
            row.maybe,
            row.no,
            row.not_replied,
            row.attended,
            "" if row.headcount is None else row.headcount,
            "" if row.gap is None else row.gap,
        ]

    for row in [*rollup.rows, rollup.no_institution, rollup.totals, rollup.unique]:
        export.row(cells(row))
    return export.rows


async def export_attendance(session: AsyncSession, action: Action, out: TextIO) -> int:
    """Who was there (an erased person: an anonymous row, still counted)."""
    institutions = await _institutions_by_person(session)
    export = CsvExport(out, ("person_id", "name", "institutions", "source", "at"))
    rows = await session.execute(
        select(Attendance, Person)
        .join(Person, Person.id == Attendance.person_id)
        .where(Attendance.action_id == action.id)
        .order_by(Attendance.at, Attendance.id)
    )
    for attendance, person in rows:
        export.row(
            [
                person.id,
                "(erased)" if person.erased_at else person.name,
                institutions.get(person.id, ""),
                attendance.source,
                _iso(attendance.at),
            ]
        )
    return export.rows


async def export_commitments(session: AsyncSession, action: Action, out: TextIO) -> int:
    """Each institution's current pledge, then every change (who set it, by which channel)."""
    export = CsvExport(out, ("institution", "number", "set_by", "channel", "at", "current"))
    setter = func.coalesce(Person.name, "")
    current = await session.execute(
        select(Institution.name, Commitment.number, setter, Commitment.set_at)
        .join(Institution, Institution.id == Commitment.institution_id)
        .outerjoin(Person, Person.id == Commitment.set_by_id)
        .where(Commitment.action_id == action.id)
        .order_by(Institution.name)
    )
    for name, number, by, at in current:
        export.row([name, number, by, "", _iso(at), "yes"])
    history = await session.execute(
        select(
            Institution.name,
            CommitmentEvent.number,
            setter,
            CommitmentEvent.channel,
            CommitmentEvent.at,
        )
        .join(Institution, Institution.id == CommitmentEvent.institution_id)
        .outerjoin(Person, Person.id == CommitmentEvent.set_by_id)
        .where(CommitmentEvent.action_id == action.id)
        .order_by(CommitmentEvent.at, CommitmentEvent.id)
    )
    for name, number, by, channel, at in history:
        export.row([name, number, by, channel, _iso(at), ""])
    return export.rows
