"""Invitation rows in bulk: what scheduler/actions.py ``invite`` writes for a whole segment."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Select, Table, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.bulk import insert_new
from storage.models import Invitation, Person

_INVITATIONS = cast(Table, Invitation.__table__)
# What inviting reads of a person: who they are, whether and how they may be reached
# (storage/young.py, storage.outbox.address_for), their language and time zone, and whether
# they have been introduced. Nothing else of theirs is read.
_READ = (
    Person.id,
    Person.consent,
    Person.phone,
    Person.phone_status,
    Person.telegram_user_id,
    Person.telegram_status,
    Person.under_16,
    Person.born_on,
    Person.adult_consent_at,
    Person.language,
    Person.timezone,
    Person.introduced_at,
)
_NAMES = tuple(column.key for column in _READ)


async def invitees(session: AsyncSession, ids: Select[int]) -> list[Person]:
    """The people of ``ids`` (a query of person ids), by id, as inviting reads them: the columns
    of ``_READ`` only, as plain rows (several times cheaper than 10,000 ORM objects), each put
    in a transient ``Person`` that is never added to the session (nothing of it is flushed;
    storage.outbox.enqueue_many writes ``introduced_at`` itself). A person the session already
    holds is read from the database too, after the session's pending changes are flushed."""
    rows = await session.execute(select(*_READ).where(Person.id.in_(ids)).order_by(Person.id))
    new_instance = inspect(Person).class_manager.new_instance
    people = []
    for row in rows:
        person = new_instance()
        person.__dict__.update(zip(_NAMES, row, strict=True))
        people.append(person)
    return people


async def add_invitations(
    session: AsyncSession, action_id: int, person_ids: Sequence[int], now: datetime
) -> list[int]:
    """Invite these people to the action (no reply yet); returns those newly invited, in
    ascending order. Rows are written in ascending person order, so two transactions inviting
    overlapping people wait on each other in one order, never in a cycle."""
    if not person_ids:
        return []
    rows = [
        {"action_id": action_id, "person_id": pid, "invited_at": now, "guests": 0}
        for pid in sorted(set(person_ids))
    ]
    written = await insert_new(
        await session.connection(),
        _INVITATIONS,
        rows,
        unique=("action_id", "person_id"),
        returning=("person_id",),
    )
    return sorted(pid for (pid,) in written)
