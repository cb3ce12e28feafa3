"""Invitation rows in bulk: what scheduler/actions.py ``invite`` writes for a whole segment."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import cast

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from storage.bulk import insert_new
from storage.models import Invitation

_INVITATIONS = cast(Table, Invitation.__table__)


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
