"""Invitation rows in bulk: what scheduler/actions.py ``invite`` writes for a whole segment."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Invitation

_INVITATIONS = cast(Table, Invitation.__table__)
# One statement, built once; the rows go as parameters (multi-row INSERTs, a page at a time).
# A person already invited (by this transaction's rival a moment ago, too) writes nothing.
_INSERT_NEW: dict[str, Any] = {
    name: insert(_INVITATIONS)
    .on_conflict_do_nothing(index_elements=["action_id", "person_id"])
    .returning(_INVITATIONS.c.person_id)
    for name, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}


async def add_invitations(
    session: AsyncSession, action_id: int, person_ids: Sequence[int], now: datetime
) -> list[int]:
    """Invite these people to the action (no reply yet); returns those newly invited, in
    ascending order. Rows are written in ascending person order, so two transactions inviting
    overlapping people wait on each other in one order, never in a cycle."""
    if not person_ids:
        return []
    connection = await session.connection()
    insert = _INSERT_NEW["postgresql" if connection.dialect.name == "postgresql" else "sqlite"]
    rows = [
        {"action_id": action_id, "person_id": pid, "invited_at": now, "guests": 0}
        for pid in sorted(set(person_ids))
    ]
    return sorted(pid for (pid,) in await connection.execute(insert, rows))
