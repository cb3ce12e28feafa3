"""Who was invited to an action and how they replied: the console's attendee list and its CSV
export, filterable by reply state, limited to a leader's institutions when ``scope`` is given
(their people only, and only those institutions' names beside them).

Reply states: ``yes``, ``no``, ``maybe``, ``none`` (not replied), ``attended`` (checked in).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.expression import Exists

from storage.models import Attendance, Institution, Invitation, Membership, Person

REPLY_STATES = ("yes", "maybe", "no", "none", "attended")


@dataclass
class Attendee:
    person_id: int
    name: str
    phone: str | None
    response: str | None
    guests: int
    responded_at: datetime | None
    channel: str | None
    attended: bool
    institutions: list[str] = field(default_factory=list)


def _conditions(
    action_id: int, reply: str | None, scope: Collection[int] | None
) -> list[ColumnElement[bool]]:
    """The invitations of ``action_id`` with this reply, of these institutions' people."""
    conditions: list[ColumnElement[bool]] = [Invitation.action_id == action_id]
    if reply in ("yes", "no", "maybe"):
        conditions.append(Invitation.response == reply)
    elif reply == "none":
        conditions.append(Invitation.response.is_(None))
    elif reply == "attended":
        conditions.append(_came(action_id))
    elif reply is not None:
        raise ValueError(f"unknown reply state {reply!r}")
    if scope is not None:
        theirs = select(Membership.person_id).where(Membership.institution_id.in_(sorted(scope)))
        conditions.append(Invitation.person_id.in_(theirs))
    return conditions


def _came(action_id: int) -> Exists:
    return (
        exists()
        .where(Attendance.action_id == action_id)
        .where(Attendance.person_id == Invitation.person_id)
    )


async def count_attendees(
    session: AsyncSession, action_id: int, *, reply: str | None, scope: Collection[int] | None
) -> int:
    query = select(func.count(Invitation.id)).where(*_conditions(action_id, reply, scope))
    return int(await session.scalar(query) or 0)


async def attendees(
    session: AsyncSession,
    action_id: int,
    *,
    reply: str | None = None,
    scope: Collection[int] | None = None,
    limit: int | None = None,
) -> list[Attendee]:
    """The invited people (by name), with their reply, guests, check-in and institutions."""
    query = (
        select(
            Person.id,
            Person.name,
            Person.phone,
            Invitation.response,
            Invitation.guests,
            Invitation.responded_at,
            Invitation.channel,
        )
        .join(Person, Person.id == Invitation.person_id)
        .where(*_conditions(action_id, reply, scope))
        .order_by(Person.name, Person.id)
    )
    if limit is not None:
        query = query.limit(limit)
    rows = [
        Attendee(
            person_id=person_id,
            name=name.strip() or f"person #{person_id}",
            phone=phone,
            response=response,
            guests=guests,
            responded_at=responded_at,
            channel=channel,
            attended=False,
        )
        for person_id, name, phone, response, guests, responded_at, channel in (
            await session.execute(query)
        )
    ]
    if not rows:
        return rows
    names: dict[int, list[str]] = defaultdict(list)
    ids = [row.person_id for row in rows]
    member_query = (
        select(Membership.person_id, Institution.name)
        .join(Institution, Institution.id == Membership.institution_id)
        .order_by(Institution.name)
    )
    if scope is not None:
        member_query = member_query.where(Membership.institution_id.in_(sorted(scope)))
    came: set[int] = set()
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        for person_id, name in await session.execute(
            member_query.where(Membership.person_id.in_(chunk))
        ):
            names[person_id].append(name)
        came.update(
            await session.scalars(
                select(Attendance.person_id)
                .where(Attendance.action_id == action_id)
                .where(Attendance.person_id.in_(chunk))
            )
        )
    for row in rows:
        row.institutions = names.get(row.person_id, [])
        row.attended = row.person_id in came
    return rows
