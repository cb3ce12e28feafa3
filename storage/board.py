"""An action's roll-call board: the institution the roll call has reached (a steward moves it
with next and previous), and the cheap "has anything changed?" a board's live poll asks.

The order is the board's: the institutions as the rollup lists them (storage.rollup), then the
people in no institution (bucket 0, storage/counters.py)."""

from __future__ import annotations

from collections.abc import Hashable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage import counters
from storage.models import BoardState, CapabilityLink
from storage.rollup import listed_institutions

STEPS = ("next", "previous", "clear")


async def roll_call_order(session: AsyncSession, action_id: int) -> list[int]:
    listed = [
        iid for iid, _name, _committed in await session.execute(listed_institutions(action_id))
    ]
    return [*listed, counters.NONE]


async def highlight(session: AsyncSession, action_id: int) -> int | None:
    """The bucket the roll call is on (an institution's id, 0 for no institution), or None."""
    state = await session.get(BoardState, action_id, populate_existing=True)
    return None if state is None else state.highlight


async def move(session: AsyncSession, action_id: int, step: str, now: datetime) -> int | None:
    """Move the roll call one institution on (``next``), back (``previous``), or off
    (``clear``); it stops at either end. Returns where it is now."""
    if step not in STEPS:
        raise ValueError(f"unknown step {step!r}")
    state = await session.get(BoardState, action_id, with_for_update=True)
    if state is None:
        state = BoardState(action_id=action_id, highlight=None, seq=0, updated_at=now)
        session.add(state)
    order = await roll_call_order(session, action_id)
    if step == "clear":
        place = None
    elif state.highlight not in order:
        place = order[0] if step == "next" else order[-1]
    else:
        i = order.index(state.highlight) + (1 if step == "next" else -1)
        place = order[min(max(i, 0), len(order) - 1)]
    state.highlight = place
    state.seq += 1
    state.updated_at = now
    await session.flush()
    return place


async def board_version(session: AsyncSession, link_id: int) -> Hashable:
    """Changes whenever what a link's board shows can have: a counter, a commitment, the roll
    call, the link itself (revoked)."""
    link = await session.get(CapabilityLink, link_id, populate_existing=True)
    if link is None:
        return None
    state = await session.scalar(
        select(BoardState.seq).where(BoardState.action_id == link.action_id)
    )
    return (
        await counters.version(session, link.action_id),
        state,
        link.revoked_at,
        link.expires_at,
    )
