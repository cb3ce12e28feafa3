"""Door check-in reads: find people by name for a steward at the door (with their
institutions and whether they are already checked in), and the institutions to choose from
for a walk-in. Names only: never a phone number."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Attendance, Institution, Membership, Person

MAX_FOUND = 20


@dataclass
class DoorPerson:
    id: int
    name: str
    here: bool
    institutions: list[str] = field(default_factory=list)


async def find_people(
    session: AsyncSession, action_id: int, query: str, *, limit: int = MAX_FOUND
) -> list[DoorPerson]:
    """People whose name contains ``query`` (any case), by name; at most ``limit``."""
    words = " ".join(query.split())
    if not words:
        return []
    here = (
        select(Attendance.id)
        .where(Attendance.action_id == action_id)
        .where(Attendance.person_id == Person.id)
        .exists()
    )
    rows = (
        await session.execute(
            select(Person.id, Person.name, here)
            .where(func.lower(Person.name).contains(words.lower(), autoescape=True))
            .order_by(Person.name, Person.id)
            .limit(limit)
        )
    ).all()
    found = {pid: DoorPerson(pid, name, bool(is_here)) for pid, name, is_here in rows}
    if found:
        for pid, name in await session.execute(
            select(Membership.person_id, Institution.name)
            .join(Institution, Institution.id == Membership.institution_id)
            .where(Membership.person_id.in_(list(found)))
            .order_by(Institution.name)
        ):
            found[pid].institutions.append(name)
    return list(found.values())


async def door_institutions(session: AsyncSession) -> list[tuple[int, str]]:
    """The institutions a walk-in may say they are with (not former ones), by name."""
    rows = await session.execute(
        select(Institution.id, Institution.name)
        .where(Institution.status != "former")
        .order_by(Institution.name)
    )
    return [(iid, name) for iid, name in rows]
